"""The one scorer every method goes through.

A method writes a probability distribution over the question's real options for each held-out
(individual, question) pair (``predictions.parquet``); this module checks it against the split and the
options (and the optional per-pair ``abstained`` flag) and computes every metric with
:mod:`gemsflow.evaluation.run_metrics`: tie-aware accuracy (:mod:`gemsflow.evaluation.accuracy`; micro over pairs, macro over
questions, per question), the abstain rate, log-loss,
calibration, answer-distribution distances, subgroups, survey-weighted variants, bootstrap intervals and
test-retest normalisation. Nothing method-specific happens here, so numbers are comparable across methods.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gemsflow.data.splits import EVAL_PARTS
from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.run_metrics import EvaluationConfig, evaluate

METRICS_FORMAT = "gemsflow.metrics/1"
PREDICTION_COLUMNS = ("individual", "question", "part", "code", "prob")
# Plus the optional per-pair boolean ``abstained`` (docs/ARCHITECTURE.md): the method could not answer.


def expected_pairs(split: pd.DataFrame) -> pd.DataFrame:
    """The held-out (individual, question, part) pairs a method must predict."""
    held = split[split["part"].isin(EVAL_PARTS)]
    return held[["individual", "question", "part"]].reset_index(drop=True)


def score(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    *,
    identity: dict[str, Any] | None = None,
    method_info: dict[str, Any] | None = None,
    evaluation: EvaluationConfig | None = None,
    retest: pd.DataFrame | None = None,
    retest_source: str = "",
    where: str = "predictions",
) -> dict[str, Any]:
    """metrics.json of a run. Without ``evaluation`` no bootstrap runs (quick checks during training)."""
    config = evaluation or EvaluationConfig(n_boot=0)
    metrics = evaluate(
        predictions,
        data,
        split,
        config,
        retest=retest,
        retest_source=retest_source,
        predictions_path=where,
    )
    return {
        "schema": METRICS_FORMAT,
        **(identity or {}),
        "accuracy": metrics["parts"]["test"]["accuracy"],
        "n_test": metrics["parts"]["test"]["n"],
        "abstain_rate": metrics["parts"]["test"]["abstain_rate"],
        **metrics,
        "method_info": method_info or {},
    }


def panel_summary(metrics: dict[str, Any], panel: dict[str, Any]) -> dict[str, Any]:
    """The leaderboard's figures of a run on the evaluation panel (``gemsflow.data.splits.Panel``)."""
    test, val = metrics["parts"]["test"], metrics["parts"]["val"]
    boot = (metrics.get("bootstrap") or {}).get("test", {}).get("accuracy") or {}
    return {
        **panel,
        "accuracy": test["accuracy"],
        "val_accuracy": val["accuracy"],
        "log_loss": test["log_loss"],
        "abstain_rate": test["abstain_rate"],
        "n_test": test["n"],
        "n_val": val["n"],
        "accuracy_ci_low": boot.get("low"),
        "accuracy_ci_high": boot.get("high"),
    }
