"""A benchmark's work copy of the project: its code and config refreshed from this checkout, its
results (the cache of earlier runs) kept."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("Snakefile", "workflow", "config", "envs", "profiles", "src")


def refresh(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for item in CODE:
        source, copy = ROOT / item, work / item
        if copy.is_dir():
            shutil.rmtree(copy)
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy)
