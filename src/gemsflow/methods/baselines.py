"""Baselines that need no model: the floors every method must clear.

* ``majority``: each question's answer distribution among training answers (argmax = the majority option).
  A question without training answers (every question of setting 3) gets the uniform distribution, which
  the tie-aware scorer credits with ``1/K``: in setting 3 it scores the same as ``uniform``.
* ``subgroup_majority``: the same distribution within the person's subgroup of one trait (the trait is
  chosen on validation accuracy; validation pairs cross-fitted over folds of people, see
  :mod:`gemsflow.evaluation.selection`), shrunk towards the question's overall distribution where the subgroup has
  few answers.
* ``uniform``: ``1/K`` on every option; expected accuracy = the mean of ``1/K`` over held-out pairs.
* ``position_prior``: for a question with ``K`` options, each option position's share among the training
  answers of the training questions that also have ``K`` options (Laplace-smoothed). It captures people's
  pull towards first or middle options and needs no word of the question, so it is the honest floor for
  new questions (setting 3). A ``K`` that no training question has falls back to the uniform distribution
  (positions of scales of another length do not line up); ``run_info.json`` lists those ``K``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData, join_answers
from gemsflow.evaluation.run_metrics import part_credit
from gemsflow.evaluation.scoring import expected_pairs
from gemsflow.evaluation.selection import DEFAULT_FOLDS, out_of_fold_frame, validation_folds

log = logging.getLogger(__name__)


def _train_answers(data: SurveyData, split: pd.DataFrame) -> pd.DataFrame:
    train = split.loc[split["part"] == "train", ["individual", "question"]]
    extra = tuple(c for c in data.responses.columns if c not in ("individual", "question"))
    return join_answers(train, data.responses, source="split.parquet", columns=extra)


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


def uniform(data: SurveyData, split: pd.DataFrame) -> pd.DataFrame:
    preds = _pairs_with_options(data, split)
    size = preds.groupby(["individual", "question", "part"])["code"].transform("size")
    return preds.assign(prob=1.0 / size)[["individual", "question", "part", "code", "prob"]]


def position_prior(
    data: SurveyData, split: pd.DataFrame, smoothing: float = 1.0
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Share of each option position among training answers of training questions with as many options."""
    n_options = data.options.groupby("question").size().rename("n_options")
    positions = data.options[["question", "code", "position"]]
    train_questions = split.loc[split["part"] == "train", "question"].astype(str).unique()
    answers = _train_answers(data, split)
    answers = answers[answers["question"].isin(train_questions)]
    answers = answers.merge(positions, on=["question", "code"]).join(n_options, on="question")
    counts = answers.groupby(["n_options", "position"]).size().rename("count")
    # Every (K, position) of the held-out questions, so unseen positions get the smoothing count.
    pairs = _pairs_with_options(data, split).merge(positions, on=["question", "code"])
    pairs = pairs.join(n_options, on="question")
    grid = pairs[["n_options", "position"]].drop_duplicates()
    grid = grid.join(counts, on=["n_options", "position"]).fillna({"count": 0.0})
    seen = grid.groupby("n_options")["count"].transform("sum") > 0
    grid["prob"] = np.where(
        seen,
        (grid["count"] + smoothing)
        / (grid.groupby("n_options")["count"].transform("sum") + smoothing * grid["n_options"]),
        1.0 / grid["n_options"],
    )
    preds = pairs.merge(grid[["n_options", "position", "prob"]], on=["n_options", "position"])
    preds = preds.sort_values(["part", "individual", "question", "position"], kind="stable")
    unseen = sorted(int(k) for k in grid.loc[~seen, "n_options"].unique())
    info = {
        "smoothing": smoothing,
        "n_train_answers": len(answers),
        "by_n_options": {
            str(int(k)): [float(p) for p in g.sort_values("position")["prob"]]
            for k, g in grid.groupby("n_options")
        },
        "fallback_uniform_n_options": unseen,
    }
    if unseen:
        log.info("position_prior: no training question with %s options: uniform for those", unseen)
    return preds[["individual", "question", "part", "code", "prob"]].reset_index(drop=True), info


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
    seed: int = 0,
    folds: int = DEFAULT_FOLDS,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Test pairs: the trait best on validation; validation pairs of each fold of people: the trait best
    on the other folds, so the validation figure is out-of-fold."""
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

    frames = [predict(name) for name in candidates]
    if not (frames[0]["part"] == "val").any():
        return frames[0], {"trait": candidates[0], "note": "no validation pairs: first trait kept"}
    scored = [part_credit(preds, data, split, "val") for preds in frames]
    credit = np.stack([c for _, c in scored])
    val_accuracy = dict(zip(candidates, credit.mean(axis=1).tolist(), strict=True))
    people = scored[0][0]
    # Every candidate's frame has the same rows in the same order (one left merge on the same pairs).
    out, best, chosen = out_of_fold_frame(
        frames, credit, people, validation_folds(people, folds, seed), "individual"
    )
    log.info(
        "subgroup_majority: trait %s chosen (validation accuracy %.4f)",
        candidates[best],
        val_accuracy[candidates[best]],
    )
    return out, {
        "trait": candidates[best],
        "selected_on": (
            f"val accuracy (tie-aware); validation predictions cross-fitted over {folds} folds "
            "of individuals"
        ),
        "val_accuracy": val_accuracy[candidates[best]],
        "val_accuracy_by_trait": val_accuracy,
        "fold_selected": [
            {"predicts_fold": j, "trait": candidates[c]} for j, c in enumerate(chosen)
        ],
    }


# The registry's entry points (gemsflow.methods.registry): one signature for every method the generic
# rule `baseline` fits, so the rule's script needs no per-method code. ``options`` is config["baselines"].
def run_majority(data, split, options, *, seed, folds):
    return majority(data, split, smoothing=options["smoothing"]), {
        "smoothing": options["smoothing"]
    }


def run_uniform(data, split, options, *, seed, folds):
    return uniform(data, split), {}


def run_position_prior(data, split, options, *, seed, folds):
    return position_prior(data, split, smoothing=options["smoothing"])


def run_subgroup_majority(data, split, options, *, seed, folds):
    return subgroup_majority(
        data,
        split,
        trait=options["subgroup_trait"],
        smoothing=options["smoothing"],
        prior_strength=options["prior_strength"],
        seed=seed,
        folds=folds,
    )
