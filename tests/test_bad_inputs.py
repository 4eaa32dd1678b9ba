"""Fault injection: every bad input of issue 11 is rejected with the file, the field and the fix, and
nothing already computed under results/ changes (byte hashes before and after).

Data faults run the prepare_dataset job's two steps (``load_source`` then ``save``) against a results
folder that already holds a good dataset; config faults run the checks Snakemake runs at parse time;
the workflow cases (typos before any job, an interrupted forced rerun, deleted run files) run the real
workflow on the tiny dataset.
"""

from __future__ import annotations

import copy
import json
import logging
import signal
import time
import types
from pathlib import Path

import openai
import pandas as pd
import pytest
import yaml
from conftest import (
    ROOT,
    TINY_DATASET_ENTRY,
    interrupt_job,
    load_config,
    snakemake,
    start_snakemake,
    tiny_config,
    tree_hashes,
    write_tiny_gems,
)

from gemsflow.config_checks import check_config
from gemsflow.data.datasets import load_source
from gemsflow.data.splits import SplitSpec, make_split, require_parts
from gemsflow.errors import InputDataError
from gemsflow.methods.llm.backends import OpenAIBackend
from gemsflow.staging import staged_outputs

SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.fixture
def tiny(tmp_path):
    """A clean tiny dataset and a results/ folder holding its prepared tables."""
    directory = write_tiny_gems(tmp_path / "tiny")
    entry = {**copy.deepcopy(TINY_DATASET_ENTRY), "dir": str(directory)}
    results = tmp_path / "results"
    load_source("tiny", entry).save(results / "data" / "tiny")
    return directory, entry, results


def set_cell(column: str, row: int, value: str):
    def mutate(directory, entry):
        path = directory / "tiny_responses.csv"
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        table.loc[row, column] = value
        table.to_csv(path, index=False)

    return mutate


def edit_json(name: str, edit):
    def mutate(directory, entry):
        path = directory / f"tiny_{name}.json"
        obj = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps(edit(obj)))

    return mutate


def rewrite_responses(transform):
    def mutate(directory, entry):
        path = directory / "tiny_responses.csv"
        path.write_bytes(transform(path.read_text()))

    return mutate


def with_minus_one_refused(mutate):
    """A question whose options include -1 ("Refused"): a bad cell must not become that code."""

    def both(directory, entry):
        edit_json("options_map", lambda m: {**m, "Q1_W1": {**m["Q1_W1"], "-1": "Refused"}})(
            directory, entry
        )
        mutate(directory, entry)

    return both


def duplicate_column(directory, entry):
    path = directory / "tiny_responses.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.insert(len(table.columns), "Q2_W1", table["Q2_W1"], allow_duplicates=True)
    table.to_csv(path, index=False)


def header_only(directory, entry):
    path = directory / "tiny_responses.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")


def entry_change(**changes):
    def mutate(directory, entry):
        entry.update(changes)

    return mutate


def latin1_question_strings(directory, entry):
    path = directory / "tiny_question_strings.json"
    text = path.read_text().replace("topic Q1_W1", "the café Q1_W1")
    path.write_bytes(text.encode("latin-1"))


def cut_row(directory, entry):
    path = directory / "tiny_responses.csv"
    lines = path.read_text().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:3])
    path.write_text("\n".join(lines) + "\n")


def extra_field(directory, entry):
    path = directory / "tiny_responses.csv"
    lines = path.read_text().splitlines()
    lines[4] += ",1"
    path.write_text("\n".join(lines) + "\n")


# (id, mutation, file the message names, field, substrings of the message)
DATA_CASES = [
    ("row_cut_short", cut_row, "responses.csv", None, ["line 4 has 3 fields", "fewer"]),
    ("row_with_extra_field", extra_field, "responses.csv", None, ["line 5", "more than"]),
    (
        "utf16_without_bom",
        rewrite_responses(lambda text: text.encode("utf-16-le")),
        "responses.csv",
        None,
        ["UTF-16 without a byte-order mark", "iconv"],
    ),
    (
        "answer_out_of_range",
        set_cell("Q1_W1", 2, "1e300"),
        "responses.csv",
        "Q1_W1",
        ["'1e300'", "individual 1002"],
    ),
    (
        "weight_overflows",
        set_cell("WEIGHT_W1", 1, "1e308"),
        "responses.csv",
        "WEIGHT_W1",
        ["'1e308'", "at most 1e+15"],
    ),
    (
        "weight_column_is_a_trait",
        entry_change(weight_column="AGE"),
        "responses.csv",
        "AGE",
        ["trait 'age'", "not a survey weight"],
    ),
    (
        "weight_column_is_a_question",
        entry_change(weight_column="Q1_W1"),
        "responses.csv",
        "Q1_W1",
        ["a question"],
    ),
    (
        "trait_float",
        set_cell("AGE", 5, "2.5"),
        "responses.csv",
        "AGE",
        ["'2.5'", "individual 1005"],
    ),
    ("trait_text", set_cell("PARTY", 3, "abc"), "responses.csv", "PARTY", ["'abc'", "row 5"]),
    (
        "answer_float_with_minus1_option",
        with_minus_one_refused(set_cell("Q1_W1", 2, "2.5")),
        "responses.csv",
        "Q1_W1",
        ["'2.5'", "not an integer code"],
    ),
    (
        "answer_text_with_minus1_option",
        with_minus_one_refused(set_cell("Q1_W1", 2, "yes")),
        "responses.csv",
        "Q1_W1",
        ["'yes'", "individual 1002"],
    ),
    ("weight_negative", set_cell("WEIGHT_W1", 1, "-1"), "responses.csv", "WEIGHT_W1", ["'-1'"]),
    ("weight_zero", set_cell("WEIGHT_W1", 1, "0"), "responses.csv", "WEIGHT_W1", ["'0'"]),
    ("weight_blank", set_cell("WEIGHT_W1", 1, ""), "responses.csv", "WEIGHT_W1", ["blank"]),
    ("weight_text", set_cell("WEIGHT_W1", 1, "abc"), "responses.csv", "WEIGHT_W1", ["'abc'"]),
    ("weight_inf", set_cell("WEIGHT_W1", 1, "inf"), "responses.csv", "WEIGHT_W1", ["'inf'"]),
    (
        "option_code_twice",
        edit_json("options_map", lambda m: {**m, "Q3_W1": {**m["Q3_W1"], "1": "again"}}),
        "options_map.json",
        "Q3_W1",
        ["'1.0' and '1'"],
    ),
    (
        "options_entry_is_list",
        edit_json("options_map", lambda m: {**m, "Q1_W1": ["a", "b"]}),
        "options_map.json",
        "Q1_W1",
        ["list"],
    ),
    (
        "trait_is_a_question",
        entry_change(traits={"party": {"column": "Q1_W1", "description": "leak"}}),
        "responses.csv",
        "Q1_W1",
        ["trait 'party'", "reveal the answer"],
    ),
    ("duplicate_question_column", duplicate_column, "responses.csv", "Q2_W1", ["twice"]),
    (
        "duplicate_question_key",
        edit_json("question_keys", lambda keys: [*keys, "Q1_W1"]),
        "question_keys.json",
        "Q1_W1",
        ["twice"],
    ),
    (
        "utf16_csv",
        rewrite_responses(lambda text: text.encode("utf-16")),
        "responses.csv",
        None,
        ["UTF-16LE", "iconv"],
    ),
    (
        "latin1_json",
        latin1_question_strings,
        "question_strings.json",
        None,
        ["not UTF-8", "WINDOWS-1252"],
    ),
    (
        "semicolon_csv",
        rewrite_responses(lambda text: text.replace(",", ";").encode()),
        "responses.csv",
        None,
        ["semicolon"],
    ),
    (
        "tab_csv",
        rewrite_responses(lambda text: text.replace(",", "\t").encode()),
        "responses.csv",
        None,
        ["tab"],
    ),
    (
        "question_meta_entry_not_mapping",
        edit_json("question_meta", lambda m: {"Q1_W1": True}),
        "question_meta.json",
        "Q1_W1",
        ["bool"],
    ),
    (
        "option_strings_is_list",
        edit_json("option_strings", lambda m: ["Question: ..."]),
        "option_strings.json",
        None,
        ["list"],
    ),
    ("header_only_csv", header_only, "responses.csv", None, ["no people"]),
    (
        "nobody_left_after_min_answers",
        entry_change(min_answers=99),
        "responses.csv",
        "min_answers",
        ["no individual has 99"],
    ),
    (
        "ordinal_names_not_questions",
        entry_change(ordinal=["Q1_W1", "Q9_W9"]),
        "question_keys.json",
        "ordinal",
        ["Q9_W9"],
    ),
]


@pytest.mark.parametrize(
    "mutate,file,field,parts", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_bad_data_is_rejected_and_results_unchanged(tiny, mutate, file, field, parts):
    directory, entry, results = tiny
    before = tree_hashes(results)
    mutate(directory, entry)
    with pytest.raises(InputDataError) as err:
        # What the prepare_dataset job does: read, then write the canonical tables.
        load_source("tiny", entry).save(results / "data" / "tiny")
    message = str(err.value)
    assert err.value.path.endswith(f"tiny_{file}"), message
    assert err.value.field == field, message
    assert "Fix: " in message and len(err.value.fix) > 10
    for part in parts:
        assert part in message, message
    assert tree_hashes(results) == before


def test_utf8_bom_is_read_like_plain_utf8(tiny):
    directory, entry, _ = tiny
    clean = load_source("tiny", entry)
    path = directory / "tiny_responses.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with_bom = load_source("tiny", entry)
    pd.testing.assert_frame_equal(clean.responses, with_bom.responses)
    pd.testing.assert_frame_equal(clean.individuals, with_bom.individuals)


def test_degenerate_questions_and_case_labels_are_reported(tiny, caplog):
    directory, entry, _ = tiny
    edit_json(
        "options_map",
        lambda m: {**m, "Q1_W1": {"1.0": "only"}, "PARTY": {"1.0": "Left", "2.0": "left"}},
    )(directory, entry)
    path = directory / "tiny_responses.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table["Q1_W1"] = "1"
    table["Q2_W1"] = ""
    table.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        data = load_source("tiny", entry)
    # A single-option question is left out of everything (it would be trivially right).
    assert "Q1_W1" not in set(data.questions["question"]) | set(data.responses["question"])
    assert data.filter_log["excluded_questions"] == ["Q1_W1"]
    assert data.filter_log["unanswered_questions"] == ["Q2_W1"]
    text = caplog.text
    assert "Q1_W1 has a single option" in text and "Q2_W1 has no answers" in text
    assert "differ only in case" in text and "['Left', 'left']" in text


def test_one_person_dataset_fails_at_split_time(tiny):
    directory, entry, _ = tiny
    path = directory / "tiny_responses.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")
    data = load_source("tiny", {**entry, "min_answers": 1})
    table = make_split(data, SplitSpec("individual", 0.05, 0.6, 0.4), 42)
    with pytest.raises(InputDataError) as err:
        require_parts(table, "tiny setting1 seed 42")
    assert err.value.field in ("train", "test") and "Fix:" in str(err.value)


# ---------------------------------------------------------------- config: checked at parse time


def set_path(*keys, value):
    def mutate(config):
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return mutate


CONFIG_CASES = [
    ("seed_typo", set_path("seed", value=[43]), "seed", "did you mean 'seeds'"),
    (
        "gnn_trainig_typo",
        set_path("gnn", "defaults", "trainig", value={"max_epochs": 3}),
        "gnn.defaults.trainig",
        "did you mean 'training'",
    ),
    (
        "gnn_arch_block_typo",
        set_path("gnn", "archs", "gat", "modle", value={}),
        "gnn.archs.gat.modle",
        "did you mean 'model'",
    ),
    (
        "gnn_datasets_typo",
        set_path("gnn", "datasets", "synthtic", value={"training": {"max_epochs": 3}}),
        "gnn.datasets.synthtic",
        "'synthetic'",
    ),
    (
        "dataset_methods_typo",
        set_path("dataset_methods", "twn", value={"setting1": ["majority"]}),
        "dataset_methods.twn",
        "'twin'",
    ),
    (
        "method_typo",
        set_path("methods", "setting1", value=["majorty"]),
        "methods.setting1[0]",
        "majority, subgroup_majority",
    ),
    (
        "method_unknown_model",
        set_path("methods", "setting1", value=["zeroshot-gpt5"]),
        "methods.setting1[0]",
        "zeroshot",
    ),
    (
        "dataset_entry_typo",
        set_path("datasets", "synthetic", "min_answer", value=3),
        "datasets.synthetic.min_answer",
        "did you mean 'min_answers'",
    ),
    (
        "atp_generator_typo",
        set_path("datasets", "opinionqa", "generator", value={"respondets": 300}),
        "datasets.opinionqa.generator.respondets",
        "did you mean 'respondents'",
    ),
    (
        # Each format's generator takes its own parameters.
        "atp_parameter_in_the_synthetic_generator",
        set_path("datasets", "synthetic", "generator", "panel_size", value=300),
        "datasets.synthetic.generator.panel_size",
        "n_individuals",
    ),
    (
        "ratios_leave_no_training",
        set_path("settings", "setting1", "test_ratio", value=0.95),
        "settings.setting1.val_ratio+test_ratio",
        "smaller than 1",
    ),
    (
        "subgroup_trait_unknown",
        set_path("baselines", "subgroup_trait", value="party"),
        "baselines.subgroup_trait",
        "'polparty'",
    ),
    (
        "run_dataset_unknown",
        set_path("run", "datasets", value=["twinn"]),
        "run.datasets[0]",
        "'twin'",
    ),
    ("wrong_type", set_path("seeds", value="forty-two"), "seeds", "is not of type 'array'"),
    ("seed_too_large", set_path("seeds", value=[2**32]), "seeds[0]", "maximum of 4294967295"),
    (
        "trait_key_typo",
        set_path("datasets", "twin", "traits", value={"age": {"colum": "AGE"}}),
        "datasets.twin.traits.age.colum",
        "did you mean 'column'",
    ),
    (
        "weight_column_is_a_trait",
        set_path("datasets", "dunning_kruger", "weight_column", value="pre_accuracy"),
        "datasets.dunning_kruger.weight_column",
        "trait 'pre_accuracy'",
    ),
    (
        "subgroup_trait_missing_from_a_dataset_not_in_run",
        set_path("baselines", "subgroup_trait", value="age"),
        "baselines.subgroup_trait",
        "'age' is not a trait of dataset 'dunning_kruger'",
    ),
]


@pytest.mark.parametrize(
    "mutate,field,hint", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_config_faults_name_the_file_the_value_came_from(tmp_path, mutate, field, hint):
    config = load_config()
    mutate(config)
    path = tmp_path / "my_run.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(InputDataError) as err:
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml"), str(path)], [str(path)])
    message = str(err.value)
    assert err.value.path == str(path), message
    assert err.value.field == field, message
    assert hint in message and "Fix: " in message


def test_a_key_given_twice_in_a_config_file_is_an_error(tmp_path):
    path = tmp_path / "my_run.yaml"
    path.write_text("seeds: [41]\nrun:\n  datasets: [synthetic]\nseeds: [42]\n")
    config = load_config()
    with pytest.raises(InputDataError) as err:
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml"), str(path)], [str(path)])
    assert err.value.path == str(path) and err.value.field == "seeds"
    assert "lines 1 and 4" in str(err.value)


def test_a_key_given_twice_in_a_study_is_an_error(tmp_path):
    from gemsflow.simulation.studies import load_study

    path = tmp_path / "study.yaml"
    path.write_text("title: one\nquestions: []\ntitle: two\n")
    with pytest.raises(InputDataError, match="lines 1 and 3") as err:
        load_study(path)
    assert err.value.field == "title"


def test_cuda_asked_for_on_a_machine_without_a_gpu_is_rejected_before_any_job(
    tmp_path, monkeypatch
):
    import gemsflow.config_checks as checks

    monkeypatch.setattr(checks, "gpu_visible", lambda: False)
    config = load_config()
    config["gnn"]["archs"]["sage"] = {**config["gnn"]["archs"].get("sage", {}), "device": "cuda"}
    path = tmp_path / "my_run.yaml"
    path.write_text(yaml.safe_dump(config))
    files = [str(ROOT / "config/config.yaml"), str(path)]
    check_config(
        copy.deepcopy(config), SCHEMA, files, [str(path)]
    )  # a cluster run: its nodes decide
    with pytest.raises(InputDataError) as err:
        check_config(config, SCHEMA, files, [str(path)], local=True)
    assert err.value.field == "gnn.archs.sage.device" and "no NVIDIA GPU" in str(err.value)


def test_config_checks_read_cheap_dataset_files(tmp_path):
    """ordinal names and min_answers are checked against the files when they exist."""
    directory = write_tiny_gems(tmp_path / "tiny")
    config = load_config()
    config["datasets"]["tiny"] = {**copy.deepcopy(TINY_DATASET_ENTRY), "dir": str(directory)}
    config["run"]["datasets"] = ["tiny"]
    config["dataset_methods"] = {}
    check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])
    config["datasets"]["tiny"]["ordinal"] = ["Q1_W1", "nope"]
    with pytest.raises(InputDataError, match="'nope'") as err:
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])
    assert err.value.field == "datasets.tiny.ordinal"
    config["datasets"]["tiny"]["ordinal"] = "auto"
    config["datasets"]["tiny"]["min_answers"] = 7
    with pytest.raises(InputDataError, match="no person") as err:
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])
    assert err.value.field == "datasets.tiny.min_answers"


# ---------------------------------------------------------------- API errors


class _Failing:
    def __init__(self, status: int, times: int = 100):
        self.status, self.times, self.calls = status, times, 0
        self.chat = self
        self.completions = self

    def create(self, **kwargs):
        self.calls += 1
        if self.calls <= self.times:
            # The attributes openai.APIStatusError reads from an HTTP response.
            response = types.SimpleNamespace(status_code=self.status, request=None, headers={})
            error = {
                401: openai.AuthenticationError,
                403: openai.PermissionDeniedError,
                429: openai.RateLimitError,
                400: openai.BadRequestError,
                503: openai.InternalServerError,
            }[self.status]
            raise error(f"HTTP {self.status}", response=response, body=None)
        raise RuntimeError("reached the model")


@pytest.mark.parametrize("status", [401, 403])
def test_api_auth_error_fails_at_once_naming_the_key_variable(status):
    client, waits = _Failing(status), []
    backend = OpenAIBackend("gpt-x", client=client, sleep=waits.append)
    with pytest.raises(InputDataError) as err:
        backend.letter_scores(["Q"], [["A", "B"]])
    assert client.calls == 1 and waits == []
    assert err.value.field == "OPENAI_API_KEY" and "export OPENAI_API_KEY" in str(err.value)


def test_api_bad_request_is_not_retried():
    client, waits = _Failing(400), []
    with pytest.raises(openai.BadRequestError):
        OpenAIBackend("gpt-x", client=client, sleep=waits.append).letter_scores(["Q"], [["A"]])
    assert client.calls == 1 and waits == []


@pytest.mark.parametrize("status", [429, 503])
def test_api_rate_limit_and_server_errors_back_off_bounded_and_logged(status, caplog):
    client, waits = _Failing(status, times=100), []
    backend = OpenAIBackend("gpt-x", client=client, sleep=waits.append, max_retries=8)
    with caplog.at_level(logging.WARNING), pytest.raises(openai.APIStatusError):
        backend.letter_scores(["Q"], [["A"]])
    assert client.calls == 9 and waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert f"HTTP {status}" in caplog.text and "retry 8 of 8" in caplog.text


def test_unreachable_endpoint_fails_at_once_naming_it(monkeypatch):
    """Offline: a connection that cannot be made is not retried like a rate limit (the client's own
    retries are off too); the error names the endpoint and the fix. Loopback port 9 (discard) has no
    listener, so the connection is refused without leaving the machine."""

    monkeypatch.setenv("GEMSFLOW_TEST_KEY", "sk-test-not-a-key")
    waits = []
    backend = OpenAIBackend(
        "gpt-x",
        base_url="http://127.0.0.1:9/v1",
        api_key_env="GEMSFLOW_TEST_KEY",
        sleep=waits.append,
    )
    started = time.monotonic()
    with pytest.raises(InputDataError) as err:
        backend.letter_scores(["Q"], [["A", "B"]])
    assert time.monotonic() - started < 15 and waits == []
    message = str(err.value)
    assert err.value.field == "base_url" and "http://127.0.0.1:9/v1" in message
    assert "no network path" in message and "HTTPS_PROXY" in message
    assert "sk-test-not-a-key" not in message


def test_unwritable_results_folder_fails_before_any_work(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    worked = []
    target = {"model": tmp_path / "run" / "model.safetensors"}
    with pytest.raises(InputDataError, match="not writable"), staged_outputs(target):
        worked.append(True)
    assert worked == []


def test_failed_job_leaves_previous_outputs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "a.json").write_text("old a")
    (run / "b.json").write_text("old b")
    with (
        pytest.raises(RuntimeError),
        staged_outputs({"a": run / "a.json", "b": run / "b.json"}) as staged,
    ):
        Path(staged["a"]).write_text("new a")
        raise RuntimeError("training diverged")
    assert (run / "a.json").read_text() == "old a" and (run / "b.json").read_text() == "old b"
    assert sorted(p.name for p in run.iterdir()) == ["a.json", "b.json"]


# ---------------------------------------------------------------- the real workflow


def test_config_typos_fail_before_any_job_naming_the_configfile(workdir):
    for key, value, expected in (
        ("seed", [43], "unknown key 'seed'"),
        ("methods", {"setting1": ["majorty"]}, "unknown method 'majorty'"),
    ):
        config = tiny_config(workdir, **{key: value})
        proc = snakemake(workdir, "--configfile", str(config), check=False)
        assert proc.returncode != 0
        assert f"{config}: field" in proc.stderr and expected in proc.stderr, proc.stderr
        assert not (workdir / "results").exists()


GNN_RUN = "results/runs/setting1/tiny/mf/seed42"


def gnn_config(workdir: Path, epochs: int) -> Path:
    training = {"max_epochs": epochs, "patience": epochs, "steps_per_epoch": 2}
    return tiny_config(
        workdir,
        methods={"setting1": ["mf"], "setting2": [], "setting3": []},
        gnn={**load_config()["gnn"], "datasets": {"tiny": {"training": training}}},
    )


def interrupt_training(workdir: Path, config: Path) -> None:
    """Start snakemake, wait until the training job is running, then stop it with SIGTERM."""
    proc = start_snakemake(workdir, f"{GNN_RUN}/run_info.json", "--configfile", str(config))
    interrupt_job(proc, workdir / GNN_RUN, signal.SIGTERM, after=2)


def test_interrupted_training_and_forced_rerun_keep_previous_outputs_and_deleted_files_rebuild(
    workdir,
):
    run = workdir / GNN_RUN
    outputs = {"predictions.parquet", "run_info.json", "curve.tsv", "model.safetensors"}
    # 1. The first training is interrupted: no output at all, not a partial one.
    long = gnn_config(workdir, 100_000)
    interrupt_training(workdir, long)
    assert not run.exists() or not {p.name for p in run.iterdir()} & outputs
    # 2. A short run finishes.
    short = gnn_config(workdir, 2)
    snakemake(workdir, f"{GNN_RUN}/metrics.json", "--rerun-incomplete", "--configfile", str(short))
    before = tree_hashes(workdir / "results")
    assert outputs <= {p.name for p in run.iterdir()}
    # 3. A rerun forced by a config change is interrupted: every previous output is intact.
    long = gnn_config(workdir, 100_000)
    interrupt_training(workdir, long)
    assert tree_hashes(workdir / "results") == before
    # 4. Deleting a scored run's predictions and run_info gets them rebuilt by the default target
    # (Snakemake alone would call the run up to date because metrics.json is).
    for name in ("predictions.parquet", "run_info.json"):
        (run / name).unlink()
    short = gnn_config(workdir, 2)
    proc = snakemake(workdir, "--dry-run", "--configfile", str(short))
    plan = proc.stdout + proc.stderr
    assert "rule train_gnn:" in plan and f"Missing output files: {GNN_RUN}/" in plan, plan


def test_config_check_command_names_the_file_and_line_of_a_yaml_error(tmp_path, capsys):
    from gemsflow.config_checks import main

    path = tmp_path / "my_run.yaml"
    path.write_text("seeds: [41, 42\nrun:\n  datasets: [twin]\n")
    assert main([str(path), "--root", str(ROOT)]) == 1
    message = capsys.readouterr().err
    assert str(path) in message and "not valid YAML at line 2" in message and "Fix:" in message
    path.write_text("seeds: [41, 42]\n")
    assert main([str(path), "--root", str(ROOT)]) == 0
