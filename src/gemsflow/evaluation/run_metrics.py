"""Every metric of a run, computed once from its predicted distributions, for every method alike.

Inputs are the shared ``predictions.parquet`` (one row per option of each held-out pair), the canonical
:class:`~gemsflow.data.survey.SurveyData` and the split table. Nothing here knows which method produced the
predictions, so a majority baseline, a GNN and an LLM are scored by the same code.

Metrics (definitions fixed here, cited by the report captions):

* accuracy: the tie-aware credit of :mod:`gemsflow.evaluation.accuracy` (``1/t`` when the answer is one of the ``t``
  options sharing the top probability, so a flat distribution earns ``1/K``, never "option A"; 0 for an
  abstained pair); micro over (individual, question) pairs and macro (mean of per-question accuracies).
* abstentions: a pair the method marked ``abstained`` (it could not answer) scores 0 for accuracy and is
  scored with the uniform distribution over its question's options for every distribution metric
  (log-loss, Brier, calibration, answer distributions); ``abstain_rate`` is the share of such pairs.
* log-loss: mean of ``-log p(answer)``, with ``p`` clipped below at ``LOG_LOSS_EPS`` so a method that puts
  zero mass on the answer (e.g. a one-hot majority vote) scores a large finite value.
* Brier score: mean over pairs of ``sum_k (p_k - 1[k = answer])^2``.
* expected calibration error (ECE): confidence = the top probability, correct = the tie-aware credit;
  pairs fall into ``calibration_bins`` equal-width bins ``(lo, hi]``;
  ``ECE = sum_b n_b / N * |accuracy_b - confidence_b|``.
* answer distributions per question: the predicted distribution is the mean of the predicted probabilities of
  the people who answered the question; the observed one is the share of each answer among them. Ordinal
  questions compare them with the Wasserstein-1 distance on option positions ``0..K-1`` (the earth mover's
  distance between the two histograms); nominal questions with the total variation distance. OpinionQA's
  representativeness is ``1 - distance / max distance``: ``max = K - 1`` for Wasserstein on K ordered
  options (all mass at one end versus the other), ``1`` for total variation (the Wasserstein distance under
  the 0/1 metric on unordered options).
* subgroups: for each trait value, accuracy and mean representativeness over questions of that subgroup's
  pairs; the demographic parity difference (DPD) of a trait is best minus worst subgroup accuracy among
  subgroups with at least ``min_subgroup_individuals`` people.
* survey weights: when the responses carry unequal ``weight`` values, the same metrics with every pair
  weighted by its respondent's weight.
* bootstrap: percentile confidence intervals from resampling individuals with replacement (the unit that was
  sampled), seeded, with all resamples computed as one sparse-times-dense product.
* retest: given a table of re-asked answers (Twin-2K-500 wave 4), the model's accuracy on those pairs divided
  by the people's own agreement with their earlier answer (Park et al., 2024). Without the table the metric is
  reported as unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.contract import (
    PROB_SUM_TOLERANCE,
    PartArrays,
    QuestionInfo,
    align,
    question_info,
)
from gemsflow.evaluation.metrics import (
    LOG_LOSS_EPS,
    EvaluationConfig,
    _f,
    _pair_stats,
    _point_metrics,
    _subgroups,
    calibration_bin,
    distribution_distance,
    expected_calibration_error,
    group_sum,
    part_accuracy,
    part_credit,
    total_variation,
    wasserstein_ordinal,
)
from gemsflow.evaluation.resampling import bootstrap
from gemsflow.evaluation.retest import read_retest_table, retest_metrics

__all__ = [
    "EvaluationConfig",
    "LOG_LOSS_EPS",
    "PROB_SUM_TOLERANCE",
    "PartArrays",
    "QuestionInfo",
    "align",
    "bootstrap",
    "calibration_bin",
    "distribution_distance",
    "expected_calibration_error",
    "group_sum",
    "part_accuracy",
    "part_credit",
    "question_info",
    "read_retest_table",
    "retest_metrics",
    "total_variation",
    "wasserstein_ordinal",
    "evaluate",
]


# --------------------------------------------------------------------------------------------------
# Everything together


def evaluate(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    config: EvaluationConfig | None = None,
    *,
    retest: pd.DataFrame | None = None,
    retest_source: str = "",
    predictions_path: str | Path | None = None,
) -> dict[str, Any]:
    """All metrics of one run as a JSON-ready dict (the metric sections of ``metrics.json``)."""
    cfg = config or EvaluationConfig()
    info = question_info(data)
    parts = align(predictions, data, split, predictions_path=predictions_path)
    weights_vary = bool(
        len(data.responses) and np.ptp(data.responses["weight"].to_numpy(dtype=float)) > 0
    )
    out = _sections(cfg, weights_vary)
    for part, arr in parts.items():
        if arr.n == 0:
            out["parts"][part] = {
                "accuracy": None,
                "macro_accuracy": None,
                "n": 0,
                "n_abstained": 0,
                "abstain_rate": None,
            }
            out["per_question"][part] = {}
            continue
        stats = _pair_stats(arr, cfg.calibration_bins)
        _score_part(out, part, arr, stats, info, cfg)
        if part == "test":
            _score_test_only(out, arr, stats, data, info, cfg, weights_vary)
            out["retest"] = retest_metrics(arr, stats, data, info, retest, retest_source)
    if "retest" not in out:
        out["retest"] = {"available": False, "reason": "no test pairs"}
    return out


def _sections(cfg: EvaluationConfig, weights_vary: bool) -> dict[str, Any]:
    """The metric sections of ``metrics.json``, filled part by part."""
    out: dict[str, Any] = {
        "parts": {},
        "per_question": {},
        "calibration": {},
        "distribution": {},
        "subgroups": {},
        "weighted": {"available": weights_vary},
        "bootstrap": {
            "unit": "individual",
            "n_boot": cfg.n_boot,
            "seed": cfg.bootstrap_seed,
            "level": cfg.ci_level,
        },
    }
    if not weights_vary:
        out["weighted"]["reason"] = (
            "all survey weights are equal: weighted metrics equal unweighted"
        )
    return out


def _score_part(
    out: dict[str, Any],
    part: str,
    arr: PartArrays,
    stats: dict[str, np.ndarray],
    info: QuestionInfo,
    cfg: EvaluationConfig,
) -> None:
    """Unweighted point metrics of a part: summary, per question, distributions, calibration."""
    point = _point_metrics(arr, stats, np.ones(arr.n), info, cfg.calibration_bins)
    qd, bins = point.pop("_q"), point.pop("_bins")
    out["parts"][part] = {
        "accuracy": point["accuracy"],
        "macro_accuracy": point["macro_accuracy"],
        "n": arr.n,
        "n_abstained": int(arr.abstained.sum()),
        "abstain_rate": _f(arr.abstained.mean()),
        "n_individuals": arr.n_individuals,
        "log_loss": point["log_loss"],
        "brier": point["brier"],
        "ece": point["ece"],
    }
    asked = np.flatnonzero(qd["asked"])
    out["per_question"][part] = {
        info.keys[j]: {"accuracy": _f(qd["accuracy"][j]), "n": int(qd["n"][j])} for j in asked
    }
    out["distribution"][part] = _distribution_section(point, qd, info, asked)
    out["calibration"][part] = _calibration_section(point, bins, cfg.calibration_bins)


def _score_test_only(
    out: dict[str, Any],
    arr: PartArrays,
    stats: dict[str, np.ndarray],
    data: SurveyData,
    info: QuestionInfo,
    cfg: EvaluationConfig,
    weights_vary: bool,
) -> None:
    """What only the test part gets: subgroups, survey-weighted metrics and the bootstrap."""
    out["subgroups"]["test"] = _subgroups(
        arr, stats, np.ones(arr.n), data, info, cfg.min_subgroup_individuals
    )
    if weights_vary:
        wpoint = _point_metrics(arr, stats, arr.weight, info, cfg.calibration_bins)
        wpoint.pop("_q"), wpoint.pop("_bins")
        out["weighted"]["test"] = wpoint
        out["weighted"]["subgroups_test"] = _subgroups(
            arr, stats, arr.weight, data, info, cfg.min_subgroup_individuals
        )
    if cfg.n_boot > 0:
        out["bootstrap"]["test"] = bootstrap(arr, stats, info, cfg)


def _distribution_section(
    point: dict[str, Any], qd: dict[str, np.ndarray], info: QuestionInfo, asked: np.ndarray
) -> dict[str, Any]:
    """Distribution metrics of a part: means, and per asked question the predicted and observed
    answer distributions with their distance."""
    return {
        key: point[key]
        for key in (
            "mean_representativeness",
            "mean_wasserstein_ordinal",
            "mean_total_variation_nominal",
        )
    } | {
        "n_ordinal_questions": int((qd["asked"] & info.ordinal).sum()),
        "n_nominal_questions": int((qd["asked"] & ~info.ordinal).sum()),
        "per_question": {
            info.keys[j]: {
                "ordinal": bool(info.ordinal[j]),
                "distance_kind": "wasserstein1" if info.ordinal[j] else "total_variation",
                "distance": _f(qd["distance"][j]),
                "representativeness": _f(qd["representativeness"][j]),
                "log_loss": _f(qd["log_loss"][j]),
                "predicted": [_f(x) for x in qd["predicted"][j, : info.n_options[j]]],
                "observed": [_f(x) for x in qd["observed"][j, : info.n_options[j]]],
            }
            for j in asked
        },
    }


def _calibration_section(
    point: dict[str, Any], bins: dict[str, np.ndarray], n_bins: int
) -> dict[str, Any]:
    """The reliability diagram of a part: per equal-width confidence bin, count, confidence, accuracy."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "n_bins": n_bins,
        "ece": point["ece"],
        "bins": [
            {
                "lower": _f(edges[b]),
                "upper": _f(edges[b + 1]),
                "count": int(bins["count"][b]),
                "confidence": _f(bins["confidence"][b] / bins["count"][b])
                if bins["count"][b]
                else None,
                "accuracy": _f(bins["correct"][b] / bins["count"][b]) if bins["count"][b] else None,
            }
            for b in range(n_bins)
        ],
    }
