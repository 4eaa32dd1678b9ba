"""The deliverable of one (setting, dataset): the leaderboard over methods and seeds, and every run's metrics.

``results/<setting>/<dataset>/`` holds

``summary.tsv`` / ``summary.md``
    copies of the leaderboard that rule ``leaderboard`` built once with :mod:`gemsflow.evaluation.leaderboard`
    (``results/leaderboards/<setting>/<dataset>/leaderboard.{tsv,md}``): one row per configured method
    (rows by validation accuracy, floors labelled), each metric as mean and sample std over the seeds, the abstain rate,
    the training time and memory from the jobs' benchmark files, and the method picked on validation;
    with ``evaluation.panel`` set, summary.md also holds the panel table, where methods that predicted
    the panel only (LLMs on a CPU) have their rows. Copied, not rebuilt, so the deliverable and the
    report show the same tables.
``metrics/<method>/seed<k>.json``
    a copy of each run's ``metrics.json``.

The directory is assembled beside its destination and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.io import read_json


def write_deliverable(
    leaderboard_tsv: str | Path,
    leaderboard_md: str | Path,
    metrics_paths: Sequence[str | Path],
    out_dir: str | Path,
    methods: Sequence[str],
) -> pd.DataFrame:
    """Assemble ``out_dir`` from the built leaderboard and the runs' metrics.json files.

    Every method in ``methods`` must have a row in the leaderboard; returns the leaderboard table.
    """
    out_dir = Path(out_dir)
    board = pd.read_csv(leaderboard_tsv, sep="\t")
    # Methods that predicted the evaluation panel only have their rows in the panel table (summary.md).
    panel_only = {
        metrics["method"]
        for metrics in map(read_json, metrics_paths)
        if metrics.get("scope") == "panel"
    }
    missing = sorted(set(methods) - set(board["method"]) - panel_only)
    if missing:
        raise InputDataError(
            str(leaderboard_tsv),
            "method",
            f"configured method {missing[0]!r} has no row",
            "rebuild the leaderboard (rule leaderboard) from the runs of every configured method",
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the deliverable is for everyone
        shutil.copyfile(leaderboard_tsv, staging / "summary.tsv")
        shutil.copyfile(leaderboard_md, staging / "summary.md")
        for path in metrics_paths:
            metrics = read_json(path)
            target = staging / "metrics" / metrics["method"] / f"seed{metrics['seed']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return board
