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

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SEEDS = [1, 2]
TARGETS = ["results/setting1/synthetic/", "results/setting3/synthetic/"]


def tiny_config(config: dict) -> dict:
    config["run"] = {"datasets": ["synthetic"], "settings": ["setting1", "setting3"]}
    config["seeds"] = SEEDS
    config["datasets"]["synthetic"]["generator"].update({"n_individuals": 60, "n_questions": 16})
    config["methods"] = {
        "setting1": ["majority", "subgroup_majority"],
        "setting3": ["majority"],
    }
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
    done = subprocess.run(cmd, cwd=cwd or workdir, capture_output=True, text=True, timeout=900)
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
    for target in TARGETS:
        summary = (workdir / target / "summary.tsv").read_text().splitlines()
        assert summary[1].startswith("majority\t2\t")


def test_test_ratio_change_reruns_only_that_split_and_descendants(workdir):
    def edit(config):
        config["settings"]["setting1"]["test_ratio"] = 0.5

    n_runs = len(SEEDS) * 2  # setting1 methods x seeds
    with edited_config(workdir, edit):
        assert planned(workdir) == {
            "split": len(SEEDS),
            "baseline": n_runs,
            "score_run": n_runs,
            "deliver": 1,
        }
    assert planned(workdir) == {}


def test_adding_a_seed_runs_only_the_new_seed(workdir):
    def edit(config):
        config["seeds"] = [*SEEDS, 3]

    with edited_config(workdir, edit):
        assert planned(workdir) == {"split": 2, "baseline": 3, "score_run": 3, "deliver": 2}


def test_editing_a_script_reruns_its_rule_and_what_depends_on_it(workdir):
    n_baseline = len(SEEDS) * 3  # two setting1 methods + setting3 majority
    with edited_file(workdir / "workflow" / "scripts" / "run_baseline.py"):
        assert planned(workdir) == {"baseline": n_baseline, "score_run": n_baseline, "deliver": 2}
    with edited_file(workdir / "workflow" / "scripts" / "deliver.py"):
        assert planned(workdir) == {"deliver": 2}
    assert planned(workdir) == {}
