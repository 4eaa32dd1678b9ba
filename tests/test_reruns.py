"""What Snakemake plans to rerun after a change, read from its dry-run plan (never from timings).

One tiny synthetic workflow is built once in a temporary copy of the workdir; every test then changes one
thing (a config value or a script), asks for a dry run of the same targets, asserts the exact jobs planned
per rule, and restores the change.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SEEDS = [1, 2]
TARGETS = ["results/setting1/synthetic/", "results/setting3/synthetic/"]


def tiny_config_methods() -> dict[str, list[str]]:
    return {
        "setting1": ["majority", "subgroup_majority", "sage"],
        "setting3": ["majority", "mapping-sage-minilm"],
    }


def tiny_config(config: dict) -> dict:
    config["run"] = {"datasets": ["synthetic"], "settings": ["setting1", "setting3"]}
    config["seeds"] = SEEDS
    config["datasets"]["synthetic"]["generator"].update({"n_individuals": 60, "n_questions": 16})
    config["methods"] = tiny_config_methods()
    config["dataset_methods"] = {}
    return config


def copy_workflow(dest: Path, edit_config) -> Path:
    """The workflow (Snakefile, rules, scripts, config, envs) in ``dest`` with an edited config."""
    for name in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    config_path = dest / "config" / "config.yaml"
    config_path.write_text(yaml.safe_dump(edit_config(yaml.safe_load(config_path.read_text()))))
    return dest


def snakemake(workdir: Path, *args: str, cores: bool = True, cwd: Path | None = None) -> str:
    cmd = [sys.executable, "-m", "snakemake", *(["--cores", "2"] if cores else [])]
    cmd += ["--directory", str(workdir), *args]
    done = subprocess.run(cmd, cwd=cwd or workdir, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        )
    return done.stdout + done.stderr


def planned(workdir: Path) -> dict[str, int]:
    """Jobs per rule that a dry run of the targets plans; {} when there is nothing to do."""
    out = snakemake(workdir, "--dry-run", *TARGETS)
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    total = counts.pop("total")
    assert sum(counts.values()) == total
    return counts


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("reruns"), tiny_config)
    snakemake(work, *TARGETS)
    return work


@contextlib.contextmanager
def edited_config(workdir: Path, edit):
    path = workdir / "config" / "config.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    edit(config)
    path.write_text(yaml.safe_dump(config))
    try:
        yield
    finally:
        path.write_text(original)


@contextlib.contextmanager
def edited_file(path: Path):
    """Append a comment; afterwards restore content and mtime (Snakemake judges scripts by mtime)."""
    original, stat = path.read_text(), path.stat()
    path.write_text(original + "\n# an edit\n")
    try:
        yield
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_finished_build_has_nothing_to_do(workdir):
    assert planned(workdir) == {}
    for target, setting in zip(TARGETS, ("setting1", "setting3"), strict=True):
        summary = pd.read_csv(workdir / target / "summary.tsv", sep="\t")
        methods = tiny_config_methods()[setting]
        # Rows by validation accuracy, what the pick uses; exactly one floor is the reference.
        assert summary["val_accuracy_mean"].is_monotonic_decreasing
        assert summary["best_floor"].sum() == 1
        assert sorted(summary["method"]) == sorted(methods)
        assert (summary["n_seeds"] == len(SEEDS)).all()
        # The deliverable is the leaderboard rule's table, training times from the benchmarks included.
        board = workdir / "results/leaderboards" / setting / "synthetic"
        for name in ("md", "tsv"):
            copy = (workdir / target / f"summary.{name}").read_text()
            assert copy == (board / f"leaderboard.{name}").read_text()
        assert summary["train_wall_s_mean"].gt(0).all()
        copies = sorted(p.relative_to(workdir / target) for p in (workdir / target).rglob("*.json"))
        assert copies == sorted(Path("metrics", m, f"seed{s}.json") for m in methods for s in SEEDS)


def test_test_ratio_change_reruns_only_that_split_and_descendants(workdir):
    def edit(config):
        config["settings"]["setting1"]["test_ratio"] = 0.5

    n = len(SEEDS)
    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "split": n,
            "baseline": 2 * n,
            "build_graph": n,
            "train_gnn": n,
            "score_run": 3 * n,
            "deliver": 1,
            "leaderboard": 1,
        }
    assert planned(workdir) == {}


def test_gnn_hyperparameter_reruns_training_and_dependants_only(workdir):
    def edit(config):
        config["gnn"]["defaults"]["training"]["learning_rate"] *= 2  # any value but the current

    n = len(SEEDS)
    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "train_gnn": n,
            "train_gnn_new_questions": n,
            "map_llm_to_gnn": n,
            "score_run": 2 * n,
            "deliver": 2,
            "leaderboard": 2,
        }


def test_feature_model_change_reruns_features_mapping_and_summary(workdir):
    def edit(config):
        config["llm"]["embedders"]["minilm"]["model"] = "sentence-transformers/all-mpnet-base-v2"

    n = len(SEEDS)
    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "llm_text_embeddings": 1,
            "map_llm_to_gnn": n,
            "score_run": n,
            "deliver": 1,
            "leaderboard": 1,
        }


def test_mapping_alpha_grid_change_reruns_mapping_only(workdir):
    def edit(config):
        config["mapping"]["alphas"] = [10, 100]

    n = len(SEEDS)
    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "map_llm_to_gnn": n,
            "score_run": n,
            "leaderboard": 1,
            "deliver": 1,
        }


def test_adding_a_seed_runs_only_the_new_seed(workdir):
    def edit(config):
        config["seeds"] = [*SEEDS, 3]

    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "split": 2,
            "baseline": 3,
            "build_graph": 2,
            "train_gnn": 1,
            "train_gnn_new_questions": 1,
            "map_llm_to_gnn": 1,
            "score_run": 5,
            "deliver": 2,
            "leaderboard": 2,
        }


def test_editing_a_script_reruns_its_rule_and_what_depends_on_it(workdir):
    n_baseline = len(SEEDS) * 3  # two setting1 baselines + setting3 majority
    with edited_file(workdir / "workflow" / "scripts" / "fit_method.py"):
        assert planned(workdir) == {
            "baseline": n_baseline,
            "score_run": n_baseline,
            "leaderboard": 2,
            "deliver": 2,
        }
    with edited_file(workdir / "workflow" / "scripts" / "map_llm_to_gnn.py"):
        n = len(SEEDS)
        assert planned(workdir) == {
            "map_llm_to_gnn": n,
            "score_run": n,
            "leaderboard": 1,
            "deliver": 1,
        }
    with edited_file(workdir / "workflow" / "scripts" / "deliver.py"):
        assert planned(workdir) == {"deliver": 2}
    assert planned(workdir) == {}
