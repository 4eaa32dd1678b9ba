"""Time and memory per workflow rule, from the files Snakemake's ``benchmark:`` directive writes.

Each compute rule writes ``results/benchmarks/<rule>/<wildcards...>.tsv`` (one row: wall seconds ``s``,
peak resident memory ``max_rss`` in MB, ``cpu_time`` in seconds, ...). Torch-free: pandas only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.io import atomic_path

COLUMNS = ["rule", "jobs", "wall_s_total", "wall_s_max", "max_rss_mb", "cpu_s_total"]
# Snakemake samples a job's memory when it starts (the interpreter barely loaded), then every half
# second: a job under a second has at most one sample taken while it was still starting (0.13 MB for a
# 0.41 s split job), so its peak memory is unmeasured, not tiny.
FIRST_FULL_SAMPLE_S = 1.0


def read_benchmarks(paths: Iterable[str | Path], root: str | Path) -> pd.DataFrame:
    """One row per benchmark file: its rule (first folder under ``root``), wall s, max RSS MB, CPU s.
    The memory of a job shorter than ``FIRST_FULL_SAMPLE_S`` is NaN (unmeasured)."""
    root = Path(root)
    rows = []
    for path in sorted(Path(p) for p in paths):
        table = pd.read_csv(path, sep="\t")
        if table.empty or "s" not in table.columns or "max_rss" not in table.columns:
            raise InputDataError(
                path, "s/max_rss", "not a Snakemake benchmark table", "delete it and rerun its rule"
            )
        # Snakemake writes "NA" (or "-") where the OS gave no measurement (e.g. a job under a second).
        numbers = table.apply(pd.to_numeric, errors="coerce")
        numbers.loc[~(numbers["s"] >= FIRST_FULL_SAMPLE_S), "max_rss"] = float("nan")
        rows.append(
            {
                "rule": path.relative_to(root).parts[0],
                "wall_s": float(numbers["s"].mean()),
                "max_rss_mb": float(numbers["max_rss"].max()),
                "cpu_s": float(numbers["cpu_time"].mean())
                if "cpu_time" in numbers
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "wall_s", "max_rss_mb", "cpu_s"])


def benchmark_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: job count, total and longest wall time (s), peak RSS (MB), total CPU time (s).

    Sorted by total wall time, longest first, so the rule worth optimising or sizing is on top.
    """
    table = (
        jobs.groupby("rule", sort=True)
        .agg(
            jobs=("wall_s", "size"),
            wall_s_total=("wall_s", "sum"),
            wall_s_max=("wall_s", "max"),
            max_rss_mb=("max_rss_mb", "max"),
            cpu_s_total=("cpu_s", "sum"),
        )
        .reset_index()
        .sort_values(["wall_s_total", "rule"], ascending=[False, True], kind="stable")
    )
    return table[COLUMNS].round(2).reset_index(drop=True)


def write_benchmark_report(table: pd.DataFrame, tsv: str | Path, html: str | Path) -> None:
    with atomic_path(tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Time and memory per rule</title>"
        "</head><body><h1>Time and memory per rule</h1>\n"
        "<p>From Snakemake's benchmark files (results/benchmarks/&lt;rule&gt;/...): wall and CPU seconds "
        "summed over a rule's jobs, the longest job, and the peak resident memory of any job.</p>\n"
        + table.to_html(index=False, na_rep="n/a", border=0)
        + "\n</body></html>\n"
    )
    with atomic_path(html) as tmp:
        Path(tmp).write_text(page)
