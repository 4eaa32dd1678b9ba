"""Named GNN hyperparameter variants (gnn.variants): a method of their own, resolved in a documented
order, checked before any job, trained in their own run directory."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, load_config, planned_jobs, snakemake, tiny_config

from gemsflow.config import base_arch, gnn_methods, resolve_config
from gemsflow.config_checks import check_config
from gemsflow.errors import InputDataError

SCHEMA = ROOT / "config" / "schema.yaml"


def test_variant_resolves_after_the_dataset_blocks():
    gnn = {
        "defaults": {"model": {"dropout": 0.1, "layers": 2}, "training": {"max_epochs": 100}},
        "archs": {"sage": {"model": {"dropout": 0.2}}},
        "datasets": {
            "tiny": {
                "training": {"max_epochs": 15},
                "archs": {"sage": {"model": {"layers": 3}}},
                "variants": {"sage-long": {"model": {"dropout": 0.5}}},
            }
        },
        "variants": {"sage-long": {"arch": "sage", "training": {"max_epochs": 300}}},
    }
    assert gnn_methods(gnn) == ("mf", "rgcn", "gat", "sage", "sage-long")
    assert base_arch(gnn, "sage-long") == "sage"
    # The variant's own value beats the dataset's general one; the dataset's variant block comes last.
    tiny = resolve_config(gnn, "sage-long", "tiny")
    assert tiny["training"] == {"max_epochs": 300}
    assert tiny["model"] == {"dropout": 0.5, "layers": 3}
    assert "arch" not in tiny
    assert resolve_config(gnn, "sage-long", "other")["model"] == {"dropout": 0.2, "layers": 2}
    # The arch itself is untouched by its variants.
    assert resolve_config(gnn, "sage", "tiny")["training"] == {"max_epochs": 15}
    assert resolve_config(gnn, "sage", "tiny")["model"] == {"dropout": 0.2, "layers": 3}
    with pytest.raises(InputDataError, match="neither a GNN arch nor a configured variant"):
        resolve_config(gnn, "sage-short", "tiny")


def with_variants(variants: dict, dataset_variants: dict | None = None, methods=()) -> dict:
    config = load_config()
    config["gnn"]["variants"] = {**config["gnn"]["variants"], **variants}
    if dataset_variants is not None:
        config["gnn"]["datasets"]["synthetic"]["variants"] = dataset_variants
    config["methods"]["setting1"] = [*config["methods"]["setting1"], *methods]
    return config


GOOD = {"sage-long": {"arch": "sage", "training": {"max_epochs": 300, "patience": 60}}}

VARIANT_FAULTS = [
    (
        "unknown_arch",
        with_variants({"sage-long": {"arch": "sagee"}}),
        "gnn.variants.sage-long.arch",
        "did you mean 'sage'",
    ),
    (
        "clashes_with_builtin",
        with_variants({"majority": {"arch": "sage"}}),
        "gnn.variants.majority",
        "rename the variant",
    ),
    (
        "clashes_with_llm_kind",
        with_variants({"zeroshot-sage": {"arch": "sage"}}),
        "gnn.variants.zeroshot-sage",
        "rename the variant",
    ),
    (
        "graph_key",
        with_variants({"sage-flat": {"arch": "sage", "graph": {"subgroups": False}}}),
        "gnn.variants.sage-flat.graph",
        "set graph options in gnn.defaults",
    ),
    (
        "dataset_block_of_undeclared_variant",
        with_variants(GOOD, {"sage-lon": {"training": {"max_epochs": 5}}}),
        "gnn.datasets.synthetic.variants.sage-lon",
        "'sage-long'",
    ),
    (
        "no_arch",
        with_variants({"sage-long": {"training": {"max_epochs": 5}}}),
        "gnn.variants.sage-long",
        "'arch' is a required property",
    ),
    (
        "unknown_key_in_variant",
        with_variants({"sage-long": {"arch": "sage", "trainig": {}}}),
        "gnn.variants.sage-long.trainig",
        "did you mean 'training'",
    ),
    (
        "method_names_undeclared_variant",
        with_variants(GOOD, methods=["sage-lng"]),
        # The misspelt variant is appended after the default list.
        f"methods.setting1[{len(load_config()['methods']['setting1'])}]",
        "sage-long",
    ),
]


@pytest.mark.parametrize(
    "config,field,hint", [c[1:] for c in VARIANT_FAULTS], ids=[c[0] for c in VARIANT_FAULTS]
)
def test_bad_variant_is_rejected_naming_file_field_and_fix(tmp_path, config, field, hint):
    path = tmp_path / "my_sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(InputDataError) as err:
        check_config(
            copy.deepcopy(config),
            SCHEMA,
            [str(ROOT / "config/config.yaml"), str(path)],
            [str(path)],
        )
    message = str(err.value)
    assert err.value.path == str(path), message
    assert err.value.field == field, message
    assert hint in message and "Fix: " in message


def test_variant_methods_and_the_example_config_pass_the_checks():
    config = with_variants(GOOD, {"sage-long": {"training": {"max_epochs": 5}}}, ["sage-long"])
    config["methods"]["setting3"].append("mapping-sage-long-minilm")
    check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])
    example = yaml.safe_load((ROOT / "config/examples/tuned_gems.yaml").read_text())
    merged = load_config()
    merged["gnn"]["variants"].update(example["gnn"]["variants"])
    merged["dataset_methods"].update(example["dataset_methods"])
    merged["learners"]["logreg"].update(example["learners"]["logreg"])
    check_config(merged, SCHEMA, [str(ROOT / "config/config.yaml")])


def test_variant_trains_in_its_own_run_dir_with_its_merged_config(workdir):
    gnn = load_config()["gnn"]
    gnn["datasets"] = {"tiny": {"training": {"max_epochs": 50, "patience": 50}}}
    gnn["variants"] = {
        "sage-quick": {
            "arch": "sage",
            "model": {"hidden_dim": 16, "output_dim": 16},
            "training": {"max_epochs": 3, "patience": 3, "steps_per_epoch": 2},
        }
    }
    config = tiny_config(
        workdir,
        gnn=gnn,
        methods={
            "setting1": ["sage-quick"],
            "setting2": [],
            "setting3": ["mapping-sage-quick-minilm"],
        },
    )
    # A mapping over a variant plans that variant's new-question training, not the arch's.
    jobs = planned_jobs(workdir, "--configfile", str(config), "--", "results/setting3/tiny/")
    assert jobs["train_gnn_new_questions"] == 1 and jobs["map_llm_to_gnn"] == 1
    target = "results/runs/setting1/tiny/sage-quick/seed42/metrics.json"
    snakemake(workdir, "--configfile", str(config), "--", target)
    run = workdir / "results/runs/setting1/tiny/sage-quick/seed42"
    info = json.loads((run / "run_info.json").read_text())
    assert info["arch"] == "sage"
    assert info["config"]["model"]["hidden_dim"] == 16
    assert info["config"]["training"]["max_epochs"] == 3  # the variant beats the dataset's 50
    assert info["config"]["model"]["layers"] == gnn["defaults"]["model"]["layers"]
    assert info["epochs_run"] <= 3
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["method"] == "sage-quick" and 0.0 <= metrics["parts"]["val"]["accuracy"] <= 1.0
    assert not (workdir / "results/runs/setting1/tiny/sage").exists()
    assert (workdir / "results/benchmarks/train_gnn/setting1/tiny/sage-quick/seed42.tsv").exists()
    # benchmarks/patience_replay.py reads finished runs like this one; at the patience the run was made
    # with (3), the replay keeps its selected epoch.
    replay = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/patience_replay.py"), str(workdir / "results")]
        + ["--datasets", "tiny", "--patience", "1", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert replay.stdout.startswith("1 GNN runs")
    rows = {r.split("|")[1].strip(): r.split("|")[2:4] for r in replay.stdout.splitlines()[3:]}
    assert [c.strip() for c in rows["3"]] == ["1", "1"], replay.stdout


def test_the_paper_config_validates_and_resolves_to_the_reference_schedule(capsys):
    from gemsflow.config_checks import main

    path = ROOT / "config/examples/gems_paper.yaml"
    assert main([str(path), "--root", str(ROOT)]) == 0, capsys.readouterr()
    gnn = load_config()["gnn"]
    gnn["variants"] = yaml.safe_load(path.read_text())["gnn"]["variants"]
    reference = {"gat-paper": "gat", "rgcn-paper": "rgcn", "sage-paper": "sage"}
    assert {name: base_arch(gnn, name) for name in gnn["variants"]} == reference
    for name in reference:
        for dataset in ("twin", "dunning_kruger"):
            resolved = resolve_config(gnn, name, dataset)
            training = resolved["training"]
            # 1,000 epochs of 50 steps at 5e-4 with no early stop, dropout 0.5, 2 layers of 64.
            assert (training["learning_rate"], training["steps_per_epoch"]) == (0.0005, 50)
            assert training["max_epochs"] == 1000 <= training["patience"]
            model = resolved["model"]
            assert (model["dropout"], model["layers"], model["hidden_dim"]) == (0.5, 2, 64)
            # Self relations for GAT only, with the reference's attention dropout and heads.
            assert model["self_loops"] == (name == "gat-paper")
    gat = resolve_config(gnn, "gat-paper", "twin")["model"]
    assert (gat["heads"], gat["attention_dropout"]) == ([4, 1], 0.4)
