"""The system pieces two tests use for real (headless Chromium, a one-node SLURM cluster).

`make test` sets them up with .ci/system.sh where the machine allows (root and apt-get). Where one is
missing, its test skips with the command that enables it; under CI (CI=true) it fails instead, so CI
cannot pass without them.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# The Debian packages behind each piece, and what `.ci/system.sh up` does with them.
PACKAGES = {"chromium": "chromium", "slurm": "slurm-wlm and munge"}
SETUP = {
    "chromium": "installs Debian's chromium",
    "slurm": "installs Debian's slurm-wlm and munge if missing, starts a one-node cluster",
}


def enable_command() -> str:
    return ("" if os.geteuid() == 0 else "sudo ") + "bash .ci/system.sh up"


def require(present: bool, piece: str, missing: str) -> None:
    """Skip (outside CI) or fail (CI=true) with a one-line reason unless `present`."""
    if present:
        return
    if IN_CI:
        pytest.fail(
            f"{missing}: CI must run this test; `make test` as root with apt-get sets it up "
            "(.ci/system.sh)",
            pytrace=False,
        )
    if shutil.which("apt-get"):
        how = f"enable with `{enable_command()}` ({SETUP[piece]})"
    elif piece == "slurm":
        how = (
            f"no apt-get here: install {PACKAGES[piece]} with this system's package manager, "
            f"then start the cluster with `{enable_command()}`"
        )
    else:
        how = f"no apt-get here: install {PACKAGES[piece]} with this system's package manager"
    pytest.skip(f"{missing}; {how}")
