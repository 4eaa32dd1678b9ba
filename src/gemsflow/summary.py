"""The deliverable of one (setting, dataset): the leaderboard over methods and seeds, and every run's metrics.

``results/<setting>/<dataset>/`` holds

``summary.tsv`` / ``summary.md``
    the leaderboard of :mod:`gemsflow.leaderboard`: one row per configured method (the model-free floors
    first), each metric as mean and sample std over the seeds, with the abstain rate and the method
    picked on validation.
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
from gemsflow.leaderboard import build_leaderboard, to_markdown


def write_deliverable(
    metrics_paths: Sequence[str | Path], out_dir: str | Path, methods: Sequence[str]
) -> pd.DataFrame:
    """Build ``out_dir`` from the runs' metrics.json files; every method in ``methods`` must have runs."""
    out_dir = Path(out_dir)
    board = build_leaderboard(metrics_paths)
    missing = sorted(set(methods) - set(board["method"]))
    if missing:
        raise InputDataError(
            "config.yaml",
            "methods",
            f"method {missing[0]!r} has no run among the metrics given",
            "build its runs (score_run) before the deliverable",
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the deliverable is for everyone
        board.to_csv(
            staging / "summary.tsv", sep="\t", index=False, float_format="%.6g", na_rep="NA"
        )
        (staging / "summary.md").write_text(to_markdown(board))
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
