"""The predictions contract: check a run's predictions against the split and lay them out per part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.splits import EVAL_PARTS
from gemsflow.data.survey import SurveyData, join_answers
from gemsflow.errors import InputDataError

# A distribution that is off by more than this from summing to 1 is a method bug, not float rounding.
PROB_SUM_TOLERANCE = 1e-3


# --------------------------------------------------------------------------------------------------
# Aligning predictions with the held-out answers


@dataclass
class PartArrays:
    """Held-out pairs of one part with their predicted distributions, as dense arrays."""

    individuals: pd.Series  # individual id per pair
    ind: np.ndarray  # [n] index into the part's unique individuals
    n_individuals: int
    q: np.ndarray  # [n] index into questions
    answer: np.ndarray  # [n] option position of the observed answer
    weight: np.ndarray  # [n] survey weight of the response
    probs: np.ndarray  # [n, K] predicted probabilities by option position, zero-padded
    n_options: np.ndarray  # [n] number of real options of the pair's question
    abstained: np.ndarray  # [n] bool: the method could not answer (probs are then uniform)

    @property
    def n(self) -> int:
        return len(self.q)


@dataclass
class QuestionInfo:
    keys: list[str]
    ordinal: np.ndarray  # [Q] bool
    n_options: np.ndarray  # [Q] int
    max_options: int


def question_info(data: SurveyData) -> QuestionInfo:
    keys = data.questions["question"].astype(str).tolist()
    n_options = (
        data.options.groupby("question").size().reindex(keys).fillna(0).astype(int).to_numpy()
    )
    return QuestionInfo(
        keys=keys,
        ordinal=data.questions["ordinal"].astype(bool).to_numpy(),
        n_options=n_options,
        max_options=int(n_options.max()) if len(n_options) else 0,
    )


def align(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    *,
    predictions_path: str | Path | None = None,
) -> dict[str, PartArrays]:
    """Check the predictions against the contract and lay them out per part as dense arrays."""
    where = predictions_path or "predictions"
    for column in ("individual", "question", "part", "code", "prob"):
        if column not in predictions.columns:
            raise InputDataError(
                where, column, "column missing", "write predictions as docs/ARCHITECTURE.md says"
            )
    info = question_info(data)
    q_of = pd.Series(np.arange(len(info.keys)), index=info.keys)
    positions = data.options[["question", "code", "position"]].astype(
        {"question": str, "code": "int64", "position": "int64"}
    )

    held = split.loc[split["part"].isin(EVAL_PARTS), ["individual", "question", "part"]].astype(str)
    held = join_answers(held, data.responses, source="split", columns=("code", "weight"))
    held = held.merge(positions.rename(columns={"position": "answer"}), on=["question", "code"])
    held = held.reset_index(drop=True)
    held["row"] = np.arange(len(held))

    columns = ["individual", "question", "part", "code", "prob"]
    if "abstained" in predictions.columns:
        columns.append("abstained")
    pred = predictions[columns].astype({"individual": str, "question": str, "part": str})
    pred = pred.merge(
        held[["individual", "question", "part", "row"]],
        on=["individual", "question", "part"],
        how="left",
    )
    if pred["row"].isna().any():
        row = pred.loc[pred["row"].isna()].iloc[0]
        raise InputDataError(
            where,
            "individual/question",
            f"prediction for ({row['individual']}, {row['question']}, part {row['part']}) is not a "
            "held-out pair of the split",
            "predict exactly the val/test pairs of split.parquet",
        )
    pred = pred.astype({"code": "int64"}).merge(positions, on=["question", "code"], how="left")
    if pred["position"].isna().any():
        row = pred.loc[pred["position"].isna()].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"code {row['code']} is not an option of question {row['question']}",
            "write one row per real option of the question",
        )
    if pred.duplicated(["row", "position"]).any():
        row = pred.loc[pred.duplicated(["row", "position"])].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"option {row['code']} of ({row['individual']}, {row['question']}) appears twice",
            "write each option of a pair once",
        )
    prob = pred["prob"].to_numpy(dtype=np.float64)
    if not np.isfinite(prob).all() or (prob < 0).any():
        raise InputDataError(
            where, "prob", "probabilities must be finite and >= 0", "fix the method's output"
        )
    rows = pred["row"].to_numpy(dtype=np.int64)
    probs = np.zeros((len(held), info.max_options))
    probs[rows, pred["position"].to_numpy(dtype=np.int64)] = prob
    n_options = info.n_options[q_of.loc[held["question"]].to_numpy()]
    totals = _check_pair_rows(probs, rows, held, n_options, where)
    probs /= totals[:, None]
    abstained = _abstained(pred, rows, held, where)
    # An abstention carries no information: score it as the uniform distribution, whatever was written.
    uniform = (np.arange(info.max_options) < n_options[:, None]) / n_options[:, None]
    probs[abstained] = uniform[abstained]

    return _per_part(held, q_of, probs, n_options, abstained)


def _check_pair_rows(
    probs: np.ndarray, rows: np.ndarray, held: pd.DataFrame, n_options: np.ndarray, where: Any
) -> np.ndarray:
    """Every held-out pair is predicted, over all its options, with probabilities summing to 1
    (within ``PROB_SUM_TOLERANCE``); returns each pair's total."""
    covered = np.bincount(rows, minlength=len(held)) > 0
    if not covered.all():
        row = held.loc[~covered].iloc[0]
        raise InputDataError(
            where,
            "individual/question",
            f"{int((~covered).sum())} held-out pairs have no prediction, e.g. "
            f"({row['individual']}, {row['question']}, part {row['part']})",
            "predict every val/test pair of split.parquet (uniform if the method has no answer)",
        )
    listed = np.bincount(rows, minlength=len(held))
    short = listed != n_options
    if short.any():
        row = held.loc[short].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"({row['individual']}, {row['question']}) lists {listed[np.argmax(short)]} options, "
            "not every option of the question",
            "write one row per option of the question (probability 0 where the method gives none)",
        )
    totals = probs.sum(axis=1)
    off = np.abs(totals - 1.0) > PROB_SUM_TOLERANCE
    if off.any():
        row = held.loc[off].iloc[0]
        raise InputDataError(
            where,
            "prob",
            f"probabilities of ({row['individual']}, {row['question']}) sum to "
            f"{totals[np.argmax(off)]:.6f}, not 1",
            "normalise each pair's distribution over the question's options",
        )
    return totals


def _per_part(
    held: pd.DataFrame,
    q_of: pd.Series,
    probs: np.ndarray,
    n_options: np.ndarray,
    abstained: np.ndarray,
) -> dict[str, PartArrays]:
    """The aligned pairs as dense arrays, one :class:`PartArrays` per part."""
    out = {}
    for part in EVAL_PARTS:
        mask = (held["part"] == part).to_numpy()
        sub = held.loc[mask]
        ind_codes, uniques = pd.factorize(sub["individual"], sort=False)
        out[part] = PartArrays(
            individuals=sub["individual"].reset_index(drop=True),
            ind=ind_codes.astype(np.int64),
            n_individuals=len(uniques),
            q=q_of.loc[sub["question"]].to_numpy(dtype=np.int64),
            answer=sub["answer"].to_numpy(dtype=np.int64),
            weight=sub["weight"].to_numpy(dtype=np.float64),
            probs=probs[mask],
            n_options=n_options[mask],
            abstained=abstained[mask],
        )
    return out


def _abstained(pred: pd.DataFrame, rows: np.ndarray, held: pd.DataFrame, where: Any) -> np.ndarray:
    """[pairs] bool from the optional per-pair ``abstained`` column (absent: nobody abstained)."""
    if "abstained" not in pred.columns:
        return np.zeros(len(held), dtype=bool)
    flag = pred["abstained"]
    if flag.isna().any() or not (pd.api.types.is_bool_dtype(flag) or flag.isin([0, 1]).all()):
        raise InputDataError(
            where,
            "abstained",
            "must be boolean (true where the method could not answer the pair), without blanks",
            "write True/False for every row, or leave the column out",
        )
    hits = np.bincount(rows, weights=flag.to_numpy(dtype=np.float64), minlength=len(held))
    listed = np.bincount(rows, minlength=len(held))
    mixed = (hits > 0) & (hits < listed)
    if mixed.any():
        row = held.loc[mixed].iloc[0]
        raise InputDataError(
            where,
            "abstained",
            f"the option rows of ({row['individual']}, {row['question']}) disagree on abstained",
            "abstention is per pair: write the same value on every option row of the pair",
        )
    return hits > 0
