"""Baselines that need no model: the floors every method must clear.

* ``majority``: each question's answer distribution among training answers (argmax = the majority option).
* ``subgroup_majority``: the same distribution within the person's subgroup of one trait (the trait is
  chosen on validation accuracy), shrunk towards the question's overall distribution where the subgroup
  has few answers.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gemsflow.scoring import expected_pairs
from gemsflow.survey import SurveyData

log = logging.getLogger(__name__)


def _train_answers(data: SurveyData, split: pd.DataFrame) -> pd.DataFrame:
    train = split.loc[split["part"] == "train", ["individual", "question"]].astype(str)
    return train.merge(data.responses.astype({"individual": str}), on=["individual", "question"])


def _question_distribution(
    data: SurveyData, answers: pd.DataFrame, smoothing: float
) -> pd.DataFrame:
    """Rows (question, code, prob) for every option, Laplace-smoothed train frequencies."""
    counts = answers.groupby(["question", "code"]).size().rename("count")
    table = data.options[["question", "code"]].merge(
        counts.reset_index(), on=["question", "code"], how="left"
    )
    table["count"] = table["count"].fillna(0.0) + smoothing
    table["prob"] = table["count"] / table.groupby("question")["count"].transform("sum")
    return table[["question", "code", "prob"]]


def _pairs_with_options(data: SurveyData, split: pd.DataFrame) -> pd.DataFrame:
    pairs = expected_pairs(split).astype({"individual": str, "question": str, "part": str})
    return pairs.merge(data.options[["question", "code"]], on="question")


def majority(data: SurveyData, split: pd.DataFrame, smoothing: float = 1.0) -> pd.DataFrame:
    dist = _question_distribution(data, _train_answers(data, split), smoothing)
    preds = _pairs_with_options(data, split).merge(dist, on=["question", "code"], how="left")
    # A question with no training answer (setting 3) gets the uniform distribution.
    preds["prob"] = preds["prob"].fillna(
        1.0 / preds.groupby(["individual", "question", "part"])["code"].transform("size")
    )
    return preds[["individual", "question", "part", "code", "prob"]]


def _subgroup_distribution(
    data: SurveyData,
    answers: pd.DataFrame,
    trait: str,
    prior: pd.DataFrame,
    prior_strength: float,
) -> pd.DataFrame:
    """Rows (value, question, code, prob): subgroup counts shrunk towards the question prior."""
    members = data.individuals[["individual", trait]].astype({"individual": str})
    counts = (
        answers.merge(members, on="individual")
        .dropna(subset=[trait])
        .groupby([trait, "question", "code"])
        .size()
        .rename("count")
        .reset_index()
    )
    values = pd.DataFrame({trait: pd.Series(members[trait].dropna().unique(), dtype="string")})
    grid = values.merge(prior, how="cross").merge(
        counts, on=[trait, "question", "code"], how="left"
    )
    grid["count"] = grid["count"].fillna(0.0)
    total = grid.groupby([trait, "question"])["count"].transform("sum")
    grid["prob"] = (grid["count"] + prior_strength * grid["prob"]) / (total + prior_strength)
    return grid[[trait, "question", "code", "prob"]]


def subgroup_majority(
    data: SurveyData,
    split: pd.DataFrame,
    trait: str = "auto",
    smoothing: float = 1.0,
    prior_strength: float = 5.0,
) -> tuple[pd.DataFrame, dict[str, object]]:
    answers = _train_answers(data, split)
    prior = _question_distribution(data, answers, smoothing)
    pairs = _pairs_with_options(data, split)
    fallback = majority(data, split, smoothing)
    candidates = data.trait_names if trait == "auto" else [trait]
    if not candidates:
        return fallback, {"trait": None, "note": "dataset has no traits: same as majority"}

    def predict(name: str) -> pd.DataFrame:
        dist = _subgroup_distribution(data, answers, name, prior, prior_strength)
        members = data.individuals[["individual", name]].astype({"individual": str})
        preds = pairs.merge(members, on="individual", how="left").merge(
            dist, on=[name, "question", "code"], how="left"
        )
        base = fallback.set_index(["individual", "question", "part", "code"])["prob"]
        key = pd.MultiIndex.from_frame(preds[["individual", "question", "part", "code"]])
        preds["prob"] = preds["prob"].fillna(
            pd.Series(base.reindex(key).to_numpy(), index=preds.index)
        )
        return preds[["individual", "question", "part", "code", "prob"]]

    val_accuracy = {}
    best_name, best_preds, best_acc = None, None, -1.0
    truth = data.responses.astype({"individual": str}).set_index(["individual", "question"])["code"]
    for name in candidates:
        preds = predict(name)
        val = preds[preds["part"] == "val"]
        if len(val):
            top = val.sort_values("prob", ascending=False, kind="stable").drop_duplicates(
                ["individual", "question"]
            )
            key = pd.MultiIndex.from_frame(top[["individual", "question"]])
            acc = float(np.mean(top["code"].to_numpy() == truth.reindex(key).to_numpy()))
        else:
            acc = 0.0
        val_accuracy[name] = acc
        if acc > best_acc:
            best_name, best_preds, best_acc = name, preds, acc
    log.info("subgroup_majority: trait %s chosen (validation accuracy %.4f)", best_name, best_acc)
    return best_preds, {"trait": best_name, "val_accuracy_by_trait": val_accuracy}
