"""Torch settings that make a run's numbers depend on its config and seed only.

* Threads: on CPU, matrix products and scatter reductions split their work by the intra-op thread count,
  and a different split sums floats in a different order. The count is therefore fixed by the config
  (``threads``), never taken from the scheduler's core count, so ``--cores 1`` and ``--cores 8`` give the
  same bits.
* ``deterministic: true`` turns on ``torch.use_deterministic_algorithms`` (an op without a deterministic
  CUDA kernel then raises instead of silently varying) and sets ``CUBLAS_WORKSPACE_CONFIG``, which cuBLAS
  needs for reproducible matrix products on CUDA >= 10.2. On CPU it changes nothing measurable.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

DEFAULT_THREADS = 1


def configure_torch(threads: int | None = DEFAULT_THREADS, deterministic: bool = False) -> None:
    if threads:
        torch.set_num_threads(int(threads))
    if deterministic:
        # Read by cuBLAS when its handle is created, so it must be set before the first CUDA matmul.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        log.info(
            "deterministic algorithms on (CUBLAS_WORKSPACE_CONFIG=%s)",
            os.environ["CUBLAS_WORKSPACE_CONFIG"],
        )
