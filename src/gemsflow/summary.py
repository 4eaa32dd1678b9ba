"""The deliverable of one (setting, dataset): a summary over methods and seeds, plus every run's metrics.

``results/<setting>/<dataset>/`` holds

``summary.tsv`` / ``summary.md``
    one row per configured method (the per-question majority floor first, then config order):
    seeds counted, test and validation accuracy as mean and sample standard deviation over seeds
    (std is empty with a single seed), and the gap to the majority floor's mean test accuracy.
``metrics/<method>/seed<k>.json``
    a copy of each run's ``metrics.json``.

The directory is assembled beside its destination and renamed into place, so it is complete or absent.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.io import read_json

FLOOR = "majority"
COLUMNS = (
    "method",
    "n_seeds",
    "test_accuracy_mean",
    "test_accuracy_std",
    "val_accuracy_mean",
    "val_accuracy_std",
    "test_macro_accuracy_mean",
    "delta_vs_majority",
)


def method_order(methods: Sequence[str]) -> list[str]:
    """Configured methods with the majority floor first and duplicates dropped."""
    unique = list(dict.fromkeys(methods))
    return ([FLOOR] if FLOOR in unique else []) + [m for m in unique if m != FLOOR]


def _part(metrics: Mapping[str, Any], part: str, key: str) -> float:
    value = metrics.get("parts", {}).get(part, {}).get(key)
    return math.nan if value is None else float(value)


def _mean_std(values: list[float]) -> tuple[float, float]:
    series = pd.Series(values, dtype="float64")
    return float(series.mean()), float(series.std(ddof=1)) if len(series) > 1 else math.nan


def summarize(
    runs: Mapping[tuple[str, int], Mapping[str, Any]], methods: Sequence[str]
) -> pd.DataFrame:
    """Summary table from ``{(method, seed): metrics}``."""
    rows = []
    for method in method_order(methods):
        per_seed = [runs[key] for key in sorted(runs) if key[0] == method]
        if not per_seed:
            raise InputDataError(
                "config.yaml",
                "methods",
                f"method {method!r} has no finished run to summarise",
                "build its runs first or remove it from methods",
            )
        test_mean, test_std = _mean_std([_part(m, "test", "accuracy") for m in per_seed])
        val_mean, val_std = _mean_std([_part(m, "val", "accuracy") for m in per_seed])
        macro_mean, _ = _mean_std([_part(m, "test", "macro_accuracy") for m in per_seed])
        rows.append((method, len(per_seed), test_mean, test_std, val_mean, val_std, macro_mean))
    table = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    floor = table.loc[table["method"] == FLOOR, "test_accuracy_mean"]
    table["delta_vs_majority"] = (
        table["test_accuracy_mean"] - floor.iloc[0] if len(floor) else math.nan
    )
    return table


def _fmt(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def to_markdown(table: pd.DataFrame, setting: str, dataset: str, seeds: Sequence[int]) -> str:
    lines = [
        f"# {dataset}, {setting}",
        "",
        f"Accuracy over seeds {', '.join(str(s) for s in seeds)} (mean ± sample std; "
        "a single seed shows no std). Test accuracy is micro-averaged over (individual, question) pairs.",
        "",
        "| method | seeds | test accuracy | val accuracy | test macro accuracy | vs majority |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples(index=False):
        delta = "" if math.isnan(row.delta_vs_majority) else f"{row.delta_vs_majority:+.4f}"
        macro = (
            "n/a"
            if math.isnan(row.test_macro_accuracy_mean)
            else f"{row.test_macro_accuracy_mean:.4f}"
        )
        lines.append(
            f"| {row.method} | {row.n_seeds} | {_fmt(row.test_accuracy_mean, row.test_accuracy_std)} "
            f"| {_fmt(row.val_accuracy_mean, row.val_accuracy_std)} | {macro} | {delta} |"
        )
    return "\n".join(lines) + "\n"


def write_deliverable(
    metrics_paths: Mapping[tuple[str, int], str | Path],
    out_dir: str | Path,
    *,
    setting: str,
    dataset: str,
    methods: Sequence[str],
    seeds: Sequence[int],
) -> pd.DataFrame:
    """Build ``out_dir`` (summary + metrics copies) from ``{(method, seed): metrics.json path}``."""
    out_dir = Path(out_dir)
    runs = {key: read_json(path) for key, path in metrics_paths.items()}
    for (method, seed), metrics in runs.items():
        if metrics.get("method", method) != method or int(metrics.get("seed", seed)) != seed:
            raise InputDataError(
                metrics_paths[(method, seed)],
                "method/seed",
                f"file says {metrics.get('method')}/seed{metrics.get('seed')}, expected {method}/seed{seed}",
                "rescore the run (rule score_run)",
            )
    table = summarize(runs, methods)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        staging.chmod(0o755)  # mkdtemp makes it owner-only; the deliverable is for everyone
        table.to_csv(staging / "summary.tsv", sep="\t", index=False, float_format="%.6f", na_rep="")
        (staging / "summary.md").write_text(to_markdown(table, setting, dataset, seeds))
        for (method, seed), metrics in sorted(runs.items()):
            target = staging / "metrics" / method / f"seed{seed}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(metrics, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return table
