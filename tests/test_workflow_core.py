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
