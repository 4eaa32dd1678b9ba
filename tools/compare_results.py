"""Compare two results/ trees file by file: what differs, and in which JSON keys or table columns.

Usage: python tools/compare_results.py OLD_RESULTS NEW_RESULTS

Timing is expected to differ; everything else should be byte-identical after a refactor. For each file
that differs, JSON files list the differing key paths, TSV/CSV files and parquet tables the differing
columns, and other files just say so. The exit status is 0 whatever the diff: this reports, a person judges.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from flatten(value, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


def differences(old: Path, new: Path) -> str:
    if old.suffix == ".json":
        a, b = (
            dict(flatten(json.loads(old.read_text()))),
            dict(flatten(json.loads(new.read_text()))),
        )
        keys = sorted(
            k for k in a.keys() | b.keys() if a.get(k, "<absent>") != b.get(k, "<absent>")
        )
        return "keys " + ", ".join(keys[:12]) + (f" (+{len(keys) - 12})" if len(keys) > 12 else "")
    if old.suffix in {".tsv", ".csv", ".parquet"}:
        a, b = table(old), table(new)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            return (
                f"shape/columns {a.shape} {list(a.columns)[:6]} vs {b.shape} {list(b.columns)[:6]}"
            )
        cols = [c for c in a.columns if not a[c].equals(b[c])]
        return "columns " + ", ".join(map(str, cols))
    return "bytes"


def main(old_root: Path, new_root: Path) -> None:
    old = {p.relative_to(old_root) for p in old_root.rglob("*") if p.is_file()}
    new = {p.relative_to(new_root) for p in new_root.rglob("*") if p.is_file()}
    for rel in sorted(old - new):
        print(f"only old: {rel}")
    for rel in sorted(new - old):
        print(f"only new: {rel}")
    same = 0
    for rel in sorted(old & new):
        a, b = old_root / rel, new_root / rel
        if a.read_bytes() == b.read_bytes():
            same += 1
            continue
        print(f"differs: {rel}: {differences(a, b)}")
    print(f"{same} of {len(old & new)} files in both trees are byte-identical")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
