"""benchmarks/gpu_check.py runs on CPU with the tiny config, says so, and prints its one table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_with_the_tiny_config():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("device: CPU -- no CUDA: tiny config")
    table = {line.split("  ")[0]: line for line in lines[2:-1]}
    assert set(table) == {"letter scoring", "hidden states", "LoRA epoch", "GNN deterministic"}
    assert (
        "tokens/s" in table["letter scoring"]
        and "(100, 3, 64), finite: True" in table["hidden states"]
    )
    assert "32 prompts, 1 epoch" in table["LoRA epoch"] and "4 steps" in table["LoRA epoch"]
    assert table["GNN deterministic"].endswith("bit-identical: True")
    assert lines[-1].endswith("on cpu")
