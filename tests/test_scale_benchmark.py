"""benchmarks/scale.py's reading of finished runs: every stage's benchmark file per size, the answer count
from dataset.json, and the log-log slope per stage (no workflow runs here)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
spec = importlib.util.spec_from_file_location("scale", ROOT / "benchmarks" / "scale.py")
scale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scale)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def fake_run(work, answers: int, wall_per_answer: float, rss_mb: float) -> None:
    """A work copy as a finished size leaves it: dataset.json, benchmark files, metrics."""
    data = work / "results/data/synthetic/dataset.json"
    data.parent.mkdir(parents=True)
    counts = {"individuals": answers // 100, "questions": 100, "responses": answers}
    data.write_text(json.dumps({"counts": counts}))
    for files in scale.STAGES.values():
        for name in files:
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            wall = wall_per_answer * answers
            path.write_text(HEADER + f"{wall}\t0:00:01\t{rss_mb}\t0\t0\t0\t0\t0\t50\t{wall / 2}\n")
    for method in scale.METHODS:
        metrics = work / f"results/runs/setting1/synthetic/{method}/seed{scale.SEED}/metrics.json"
        metrics.parent.mkdir(parents=True)
        metrics.write_text(json.dumps({"parts": {"val": {"accuracy": 0.6}}}))
        if method in scale.GNNS:
            # The larger the survey, the later the best epoch; the largest runs to the cap.
            best = min(answers // 30_000, 100)
            info = {"best_epoch": best, "epochs_run": min(best + 15, 100)}
            info["config"] = {"training": {"max_epochs": 100}}
            (metrics.parent / "run_info.json").write_text(json.dumps(info))


def test_exponents_and_outputs(tmp_path):
    rows = []
    # Wall and CPU time linear in the answers, memory flat.
    for answers in (300_000, 1_000_000, 3_000_000):
        work = tmp_path / str(answers)
        fake_run(work, answers, wall_per_answer=1e-4, rss_mb=500.0)
        rows += scale.collect(work)
    assert {r["stage"] for r in rows} == set(scale.STAGES)
    assert len(rows) == 3 * len(scale.STAGES)
    scale.report(rows, tmp_path / "out")
    table = (tmp_path / "out/scale.md").read_text()
    sage = next(line for line in table.splitlines() if line.startswith("| sage |"))
    # Columns: three sizes, then the exponents of wall, CPU and peak RSS.
    assert sage.split(" | ")[-3:] == ["1.00", "1.00", "0.00 |"]
    assert "0.6000 at 0.30 M" in table
    epochs = [line for line in table.splitlines() if line.startswith("- sage: ")][-1]
    assert "10 of 25 (cap 100; before its last; patience ended it) at 0.30 M" in epochs
    assert "100 of 100 (cap 100; AT its last; THE CAP ended it) at 3.00 M" in epochs
    assert (tmp_path / "out/scale.png").stat().st_size > 0
    assert len((tmp_path / "out/scale.tsv").read_text().splitlines()) == len(rows) + 1


def test_exponent_is_the_log_log_slope():
    assert scale.exponent([1e5, 1e6, 1e7], [1.0, 10.0**1.5, 10.0**3]) == pytest.approx(1.5)


def test_real_schedule_overrides_the_synthetic_short_one(tmp_path, monkeypatch):
    """Snakemake merges config files key by key: the overlay must overwrite synthetic's training block
    with gnn.defaults' values, not leave it in place."""
    monkeypatch.setattr(scale, "refresh", lambda work: (work / "config").mkdir(parents=True))
    scale.prepare(tmp_path, 3000, 100, real_schedule=True)
    overlay = yaml.safe_load((tmp_path / "config/scale.yaml").read_text())
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())["gnn"]
    merged = {**config["datasets"]["synthetic"]["training"]}
    merged.update(overlay["gnn"]["datasets"]["synthetic"]["training"])
    defaults = config["defaults"]["training"]
    assert merged == {key: defaults[key] for key in merged}
    assert merged["max_epochs"] > config["datasets"]["synthetic"]["training"]["max_epochs"]
