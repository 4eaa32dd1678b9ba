"""Percentile confidence intervals from resampling individuals with replacement."""

from __future__ import annotations

from typing import Any

import numpy as np

from gemsflow.evaluation.contract import PartArrays, QuestionInfo
from gemsflow.evaluation.metrics import (
    EvaluationConfig,
    _f,
    distribution_distance,
    expected_calibration_error,
)

# --------------------------------------------------------------------------------------------------
# Bootstrap over individuals


def bootstrap(
    arr: PartArrays, stats: dict[str, np.ndarray], info: QuestionInfo, cfg: EvaluationConfig
) -> dict[str, Any]:
    """Percentile intervals of the headline metrics, resampling individuals with replacement.

    Each resample is a vector of multiplicities over individuals; the per-individual sums are dense
    (individuals x columns) blocks, so the B resampled totals are one BLAS product ``counts @ sums`` per
    block (a sparse-times-dense product took half of a Twin scoring job). Distances between answer
    distributions are biased upwards under resampling (sampling noise adds distance), so their intervals
    are wide on the pessimistic side when the predicted and observed distributions nearly match.
    """
    n_q, n_bins, k = len(info.keys), cfg.calibration_bins, info.max_options
    rng = np.random.default_rng(cfg.bootstrap_seed)
    counts = rng.multinomial(
        arr.n_individuals, np.full(arr.n_individuals, 1.0 / arr.n_individuals), size=cfg.n_boot
    ).astype(np.float64)

    def per_person(columns: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
        rows = np.repeat(arr.ind, values.size // arr.n)
        sums = np.bincount(
            rows * width + columns, weights=values, minlength=arr.n_individuals * width
        )
        return sums.reshape(arr.n_individuals, width)

    q_cols = arr.q
    blocks = {
        "n": per_person(q_cols, np.ones(arr.n), n_q),
        "correct": per_person(q_cols, stats["correct"], n_q),
        "nll": per_person(q_cols, stats["nll"], n_q),
        "bin_n": per_person(stats["bin"], np.ones(arr.n), n_bins),
        "bin_conf": per_person(stats["bin"], stats["confidence"], n_bins),
        "bin_correct": per_person(stats["bin"], stats["correct"], n_bins),
        "pred": per_person((arr.q[:, None] * k + np.arange(k)).ravel(), arr.probs.ravel(), n_q * k),
        "obs": per_person((arr.q * k + arr.answer), np.ones(arr.n), n_q * k),
    }
    res = {name: counts @ m for name, m in blocks.items()}
    n_total = res["n"].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_acc = res["correct"] / res["n"]
    _, rep = distribution_distance(
        res["pred"].reshape(cfg.n_boot, n_q, k),
        res["obs"].reshape(cfg.n_boot, n_q, k),
        info.ordinal,
        info.n_options,
    )
    samples = {
        "accuracy": res["correct"].sum(axis=1) / n_total,
        "macro_accuracy": np.nanmean(q_acc, axis=1),
        "log_loss": res["nll"].sum(axis=1) / n_total,
        "ece": expected_calibration_error(res["bin_n"], res["bin_conf"], res["bin_correct"]),
        "mean_representativeness": np.nanmean(rep, axis=1),
    }
    alpha = (1.0 - cfg.ci_level) / 2
    return {
        name: {
            "low": _f(np.quantile(values, alpha)),
            "high": _f(np.quantile(values, 1 - alpha)),
            "std": _f(values.std(ddof=1)),
        }
        for name, values in samples.items()
    }
