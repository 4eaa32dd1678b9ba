"""The one scorer every method goes through.

A method writes a probability distribution over the question's real options for each held-out
(individual, question) pair (``predictions.parquet``); this module checks it, takes the argmax (ties go to
the option listed first) and computes accuracy micro-averaged over pairs, macro-averaged over questions,
and per question. Nothing method-specific happens here, so numbers are comparable across methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.survey import SurveyData

SCHEMA = "gemsflow.metrics/1"
PREDICTION_COLUMNS = ("individual", "question", "part", "code", "prob")
EVAL_PARTS = ("val", "test")


def expected_pairs(split: pd.DataFrame) -> pd.DataFrame:
    """The held-out (individual, question, part) pairs a method must predict."""
    held = split[split["part"].isin(EVAL_PARTS)]
    return held[["individual", "question", "part"]].reset_index(drop=True)


def check_predictions(
    predictions: pd.DataFrame, data: SurveyData, split: pd.DataFrame, where: str = "predictions"
) -> pd.DataFrame:
    """Validate a predictions table against the split and the options; return it with positions."""
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise InputDataError(where, missing[0], "column missing", "write all prediction columns")
    preds = predictions.astype({"individual": str, "question": str, "part": str})
    options = data.options[["question", "code", "position"]]
    preds = preds.merge(options, on=["question", "code"], how="left")
    if preds["position"].isna().any():
        row = preds[preds["position"].isna()].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"code {row['code']} is not an option of question {row['question']}",
            "predict only the question's own options",
        )
    probs = preds["prob"].to_numpy(dtype="float64")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise InputDataError(where, "prob", "probabilities must be finite and >= 0", "fix the method")
    totals = preds.groupby(["individual", "question", "part"], sort=False)["prob"].sum()
    if not np.allclose(totals.to_numpy(), 1.0, atol=1e-4):
        raise InputDataError(
            where, "prob", "probabilities of a pair do not sum to 1", "normalise per pair"
        )
    n_opts = preds.groupby(["individual", "question", "part"], sort=False).size()
    want = data.questions.set_index("question")["n_options"]
    got = n_opts.reset_index(name="n").merge(want.reset_index(), on="question")
    if (got["n"] != got["n_options"]).any():
        raise InputDataError(
            where, "code", "a pair does not list every option of its question", "list them all"
        )
    pairs = totals.reset_index()[["individual", "question", "part"]]
    expected = expected_pairs(split).astype({"individual": str, "question": str, "part": str})
    merged = expected.merge(pairs, how="outer", indicator=True)
    if (merged["_merge"] != "both").any():
        row = merged[merged["_merge"] != "both"].iloc[0]
        side = "missing from" if row["_merge"] == "left_only" else "not held out in"
        raise InputDataError(
            where,
            "individual/question",
            f"pair ({row['individual']}, {row['question']}, {row['part']}) is {side} the predictions/split",
            "predict exactly the split's val and test pairs",
        )
    return preds


def predicted_codes(preds: pd.DataFrame) -> pd.DataFrame:
    """Argmax per pair; ties go to the lowest option position."""
    ordered = preds.sort_values(
        ["individual", "question", "part", "prob", "position"],
        ascending=[True, True, True, False, True],
        kind="stable",
    )
    top = ordered.drop_duplicates(["individual", "question", "part"], keep="first")
    return top[["individual", "question", "part", "code", "prob"]].rename(
        columns={"code": "predicted", "prob": "confidence"}
    )


def with_truth(preds: pd.DataFrame, data: SurveyData) -> pd.DataFrame:
    chosen = predicted_codes(preds)
    truth = data.responses[["individual", "question", "code", "weight"]].astype(
        {"individual": str, "question": str}
    )
    scored = chosen.merge(truth, on=["individual", "question"], how="left")
    return scored.assign(correct=(scored["predicted"] == scored["code"]).astype("float64"))


def score(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    *,
    identity: dict[str, Any] | None = None,
    method_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    preds = check_predictions(predictions, data, split)
    scored = with_truth(preds, data)
    parts: dict[str, Any] = {}
    per_question: dict[str, Any] = {}
    for part in EVAL_PARTS:
        rows = scored[scored["part"] == part]
        by_q = rows.groupby("question")["correct"].agg(["mean", "size"])
        parts[part] = {
            "accuracy": float(rows["correct"].mean()) if len(rows) else None,
            "macro_accuracy": float(by_q["mean"].mean()) if len(rows) else None,
            "n": len(rows),
        }
        per_question[part] = {
            q: {"accuracy": float(r["mean"]), "n": int(r["size"])} for q, r in by_q.iterrows()
        }
    return {
        "schema": SCHEMA,
        **(identity or {}),
        "accuracy": parts["test"]["accuracy"],
        "n_test": parts["test"]["n"],
        "parts": parts,
        "per_question": per_question,
        "method_info": method_info or {},
    }
