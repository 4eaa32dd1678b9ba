"""Test-retest normalisation: accuracy relative to how often people repeat their own answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.evaluation.contract import PartArrays, QuestionInfo
from gemsflow.evaluation.metrics import _f

# --------------------------------------------------------------------------------------------------
# Test-retest normalisation


def read_retest_table(path: str | Path) -> pd.DataFrame:
    """A table of re-asked answers: columns ``individual``, ``question``, ``code`` (parquet or csv)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(
            path,
            None,
            "retest table configured but not found",
            "download the re-asked answers or remove evaluation.retest.<dataset> from the config",
        )
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    for column in ("individual", "question", "code"):
        if column not in frame.columns:
            raise InputDataError(
                path,
                column,
                "column missing",
                "write one row per re-asked answer with individual, question, code",
            )
    codes = pd.to_numeric(frame["code"], errors="coerce")
    return pd.DataFrame(
        {
            "individual": frame["individual"].astype(str),
            "question": frame["question"].astype(str),
            "code": codes,
        }
    )


def retest_metrics(
    arr: PartArrays,
    stats: dict[str, np.ndarray],
    data: SurveyData,
    info: QuestionInfo,
    retest: pd.DataFrame | None,
    retest_source: str = "",
) -> dict[str, Any]:
    """Model accuracy normalised by people's agreement with their own earlier answers."""
    if retest is None:
        return {
            "available": False,
            "reason": "no retest table configured for this dataset (evaluation.retest)",
        }
    valid = data.options[["question", "code"]].astype({"question": str, "code": "float64"})
    clean = retest.dropna(subset=["code"]).merge(valid, on=["question", "code"], how="inner")
    n_dropped = len(retest) - len(clean)
    first = data.responses[["individual", "question", "code"]].astype(
        {"individual": str, "question": str, "code": "float64"}
    )
    paired = clean.merge(
        first, on=["individual", "question"], suffixes=("_retest", "_first"), validate="one_to_one"
    )
    test_pairs = pd.DataFrame(
        {
            "individual": arr.individuals,
            "question": np.asarray(info.keys, dtype=object)[arr.q],
            "model_correct": stats["correct"],
        }
    )
    paired = paired.merge(test_pairs, on=["individual", "question"], how="inner")
    if paired.empty:
        return {
            "available": False,
            "reason": f"retest table {retest_source} shares no (individual, question) pair with the "
            "test part",
            "n_dropped_invalid_codes": int(n_dropped),
        }
    paired["human_agree"] = (paired["code_retest"] == paired["code_first"]).astype(float)
    per_person = paired.groupby("individual")[["human_agree", "model_correct"]].mean()
    usable = per_person["human_agree"] > 0
    human = float(paired["human_agree"].mean())
    model = float(paired["model_correct"].mean())
    return {
        "available": True,
        "source": retest_source,
        "n_pairs": len(paired),
        "n_individuals": len(per_person),
        "n_dropped_invalid_codes": int(n_dropped),
        "human_retest_accuracy": _f(human),
        "model_accuracy_on_retest_pairs": _f(model),
        "normalized_accuracy": _f(model / human) if human > 0 else None,
        "normalized_accuracy_mean_over_individuals": _f(
            (per_person.loc[usable, "model_correct"] / per_person.loc[usable, "human_agree"]).mean()
        )
        if usable.any()
        else None,
    }
