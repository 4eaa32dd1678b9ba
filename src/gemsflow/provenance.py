"""What produced a report: code version, software versions, configuration and input-data checksums.

Snakemake's report already lists the rules, their code, environments and run times; this page adds what a
reader needs to reproduce or audit the numbers: the exact source files (SHA-256) and the configuration.
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gemsflow.io import write_text

PACKAGES = (
    "gemsflow",
    "snakemake",
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "pyarrow",
    "torch",
    "torch_geometric",
    "transformers",
    "peft",
)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_state(directory: str | Path) -> str:
    """``<commit>`` plus ``(uncommitted changes)`` when the tree is dirty; a note when not a git repo."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not available (not a git checkout, or no commit yet)"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=directory,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return commit + (" (uncommitted changes)" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance_page(
    config: dict[str, Any], input_files: list[str | Path], workflow_dir: str | Path
) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in versions().items()
    )
    files = "".join(
        f"<tr><td>{html.escape(str(p))}</td><td><code>{sha256(p)}</code></td></tr>"
        for p in sorted(map(str, input_files))
    )
    config_text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Provenance</title>
<style>
body {{ font-family: sans-serif; margin: 1em; font-size: 0.9em; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #bbb; padding: 2px 6px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 0.5em; }}
</style></head><body>
<h2>Provenance</h2>
<p>Workflow code: {html.escape(git_state(workflow_dir))}</p>
<h3>Software</h3><table><tr><th>package</th><th>version</th></tr>{rows}</table>
<h3>Input data (SHA-256)</h3><table><tr><th>file</th><th>sha256</th></tr>{files}</table>
<h3>Configuration</h3><pre>{html.escape(config_text)}</pre>
</body></html>
"""


def write_provenance(
    path: str | Path,
    config: dict[str, Any],
    input_files: list[str | Path],
    workflow_dir: str | Path,
) -> None:
    write_text(provenance_page(config, input_files, workflow_dir), path)
