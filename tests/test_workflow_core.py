"""The workflow end to end on a dataset added by config only, its caching, and its refusals."""

from __future__ import annotations

import json

import pandas as pd
import yaml
from conftest import planned_jobs, snakemake, tiny_config


def targets(
    settings=("setting1", "setting2", "setting3"), methods=("majority", "subgroup_majority")
):
    return [f"results/runs/{s}/tiny/{m}/seed42/metrics.json" for s in settings for m in methods]


def test_new_gems_dataset_runs_from_a_config_entry(workdir):
    config = tiny_config(workdir)
    snakemake(workdir, *targets(), "--configfile", str(config))
    for target in targets():
        metrics = json.loads((workdir / target).read_text())
        assert metrics["schema"] == "gemsflow.metrics/1"
        assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["n_test"] > 0
    sizes = json.loads(
        (workdir / "results/splits/setting2/tiny/seed42/split_sizes.json").read_text()
    )
    assert sizes["test"]["individuals"] == int(40 * 0.6)
    # Setting 2: validation/test people reveal nothing.
    split = pd.read_parquet(workdir / "results/splits/setting2/tiny/seed42/split.parquet")
    trained = set(split.loc[split["part"] == "train", "individual"])
    assert trained.isdisjoint(split.loc[split["part"] == "test", "individual"])
    assert (workdir / "logs/prepare_dataset/tiny.log").read_text().strip()


def test_finished_run_is_cached_and_test_ratio_reruns_only_split_descendants(workdir):
    config = tiny_config(workdir)
    wanted = targets(settings=("setting1", "setting2"))
    snakemake(workdir, *wanted, "--configfile", str(config))
    assert planned_jobs(workdir, *wanted, "--configfile", str(config)) == {}

    changed = yaml.safe_load(config.read_text())
    changed["settings"]["setting1"]["test_ratio"] = 0.5
    config.write_text(yaml.safe_dump(changed, sort_keys=False))
    plan = planned_jobs(workdir, *wanted, "--configfile", str(config))
    # One split (setting1), two baselines, two scorings; the dataset and setting2 stay cached.
    assert plan == {"split": 1, "baseline": 2, "score_run": 2}


def test_wrong_config_type_fails_before_any_job(workdir):
    config = tiny_config(workdir, seeds="forty-two")
    proc = snakemake(workdir, *targets(), "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert "seeds" in proc.stderr and "is not of type 'array'" in proc.stderr
    assert not (workdir / "results").exists()


def test_unknown_dataset_name_is_named(workdir):
    config = tiny_config(workdir)
    proc = snakemake(
        workdir,
        "results/runs/setting1/nosuch/majority/seed42/metrics.json",
        "--configfile",
        str(config),
        check=False,
    )
    assert proc.returncode != 0
    assert "unknown dataset 'nosuch'" in proc.stderr
    assert "config/config.yaml" in proc.stderr


def test_bad_answer_code_leaves_no_partial_dataset(workdir):
    config = tiny_config(workdir)
    responses = workdir / "data/tiny/tiny_responses.csv"
    table = pd.read_csv(responses)
    table.loc[0, "Q3_W1"] = 7
    table.to_csv(responses, index=False)
    proc = snakemake(workdir, *targets(), "--configfile", str(config), check=False)
    assert proc.returncode != 0
    log = (workdir / "logs/prepare_dataset/tiny.log").read_text()
    assert "tiny_responses.csv: field 'Q3_W1'" in log and "Fix:" in log
    leftovers = [p for p in (workdir / "results").rglob("*") if p.is_file()]
    assert leftovers == []


def synthetic_settings_config(work):
    """The synthetic survey, small, with setting1 copied as `imputation` and setting3 as `setting4`."""
    config = yaml.safe_load((work / "config" / "config.yaml").read_text())
    config["datasets"]["synthetic"]["generator"].update({"n_individuals": 60, "n_questions": 16})
    settings, regimes = config["settings"], config["gnn"]["defaults"]["settings"]
    settings["imputation"], regimes["imputation"] = settings["setting1"], regimes["setting1"]
    settings["setting4"], regimes["setting4"] = settings["setting3"], regimes["setting3"]
    config["methods"] = {
        "setting1": ["majority", "sage"],
        "imputation": ["majority", "sage"],
        "setting4": ["majority", "mapping-sage-minilm"],
    }
    # --configfile merges into config/config.yaml, so the tiny LLM's extra methods are emptied here.
    config["dataset_methods"] = {"synthetic": {"setting1": [], "setting3": []}}
    config["run"] = {"datasets": ["synthetic"], "settings": ["setting1", "imputation", "setting4"]}
    path = work / "config" / "settings.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_setting_does_what_its_config_block_says_whatever_its_name(workdir):
    config = synthetic_settings_config(workdir)
    wanted = [f"results/{s}/synthetic" for s in ("setting1", "imputation", "setting4")]
    plan = planned_jobs(workdir, *wanted, "--configfile", str(config))
    # setting4 (axis: question) takes the new-question path: embeddings, then the mapping.
    assert plan["train_gnn"] == 2 and plan["train_gnn_new_questions"] == 1
    assert plan["map_llm_to_gnn"] == 1 and plan["score_run"] == 6
    snakemake(workdir, *wanted, "--configfile", str(config))

    runs = workdir / "results" / "runs"
    assert (runs / "setting4/synthetic/sage/seed42/embeddings.safetensors").exists()
    assert not (runs / "setting4/synthetic/sage/seed42/predictions.parquet").exists()
    mapped = json.loads(
        (runs / "setting4/synthetic/mapping-sage-minilm/seed42/metrics.json").read_text()
    )
    assert mapped["n_test"] > 0 and 0.0 <= mapped["accuracy"] <= 1.0
    split = pd.read_parquet(workdir / "results/splits/setting4/synthetic/seed42/split.parquet")
    train_questions = set(split.loc[split["part"] == "train", "question"])
    assert train_questions.isdisjoint(split.loc[split["part"] == "test", "question"])
    # A renamed setting is the same experiment: the same split and bit-identical GNN predictions.
    for name in ("split.parquet",):
        pd.testing.assert_frame_equal(
            pd.read_parquet(workdir / f"results/splits/imputation/synthetic/seed42/{name}"),
            pd.read_parquet(workdir / f"results/splits/setting1/synthetic/seed42/{name}"),
        )
    pd.testing.assert_frame_equal(
        pd.read_parquet(runs / "imputation/synthetic/sage/seed42/predictions.parquet"),
        pd.read_parquet(runs / "setting1/synthetic/sage/seed42/predictions.parquet"),
    )
    summary = json.loads((runs / "imputation/synthetic/sage/seed42/metrics.json").read_text())
    assert (
        summary["accuracy"]
        == json.loads((runs / "setting1/synthetic/sage/seed42/metrics.json").read_text())[
            "accuracy"
        ]
    )


def test_setting_names_are_checked_before_any_job(workdir):
    config = tiny_config(workdir)
    changed = yaml.safe_load(config.read_text())
    changed["run"]["settings"] = ["setting9"]
    config.write_text(yaml.safe_dump(changed, sort_keys=False))
    proc = snakemake(workdir, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    assert (
        "'run.settings': ['setting9'] have no block under 'settings'" in proc.stdout + proc.stderr
    )

    changed["run"]["settings"] = ["runs"]
    changed["settings"]["runs"] = changed["settings"]["setting1"]
    config.write_text(yaml.safe_dump(changed, sort_keys=False))
    proc = snakemake(workdir, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0 and "name a results/ folder" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_a_missing_data_directory_says_how_to_point_at_the_data(workdir):
    """The default gems_data_dir (resources/gems) does not exist in a fresh checkout: the first
    real-data command must say where the data comes from, not list missing files."""
    proc = snakemake(
        workdir, "results/runs/setting1/twin/majority/seed42/metrics.json", check=False
    )
    assert proc.returncode != 0
    assert "field 'gems_data_dir'" in proc.stderr and "resources/gems/twin" in proc.stderr
    assert "--config gems_data_dir=" in proc.stderr and "MissingInputException" not in proc.stderr
    assert not (workdir / "results").exists()
