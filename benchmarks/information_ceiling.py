"""How much per-question accuracy a dataset's information allows: references for the accuracy targets.

A setting-1 method sees a test person's traits and 40 % of their answers; a setting-2 method sees traits
only. This script scores per-question multinomial logistic regressions (scikit-learn) that see **as much or
more**, with people split into cross-validation folds instead of the pipeline's split:

- ``majority``: the training folds' most common answer (the floor);
- ``traits``: one-hot traits (setting 2's information);
- ``traits+reveal40``: traits plus one-hot of a seeded 40 % of the person's other answers (setting 1's
  information about the person, every other person fully known to training);
- ``traits+all_answers``: traits plus one-hot of **every** other answer of the person, more than any
  setting reveals about a new person.

For new questions (setting 3), ``--splits`` adds per split the test questions' ``known_distribution``
reference: each test question answered with its own most common answer among the test pairs, as if its
answer distribution were known in advance (in-sample, so an upper reference for any method that gives
one answer per question), beside ``uniform`` (the mean of 1/K over the same pairs).

``--learner boosting`` fits scikit-learn's histogram gradient boosting instead, one fixed configuration
(:func:`boosting`), so that the references are not one learner class only.

Each row gives tie-aware accuracy (:func:`gemsflow.evaluation.accuracy.pair_credit`) over every answered pair, for
the inverse L2 strength best on the same folds: a reference that, if anything, flatters the learner (the
strength is chosen on the pairs it is scored on). It reads ``results/data/<dataset>/`` (rule
``prepare_dataset``) and no split: the figures are not test figures of any method and choose nothing.

Usage: ``python benchmarks/information_ceiling.py results/data/twin results/data/dunning_kruger
[--folds 5] [--seed 0] [--cs 0.003 0.01 0.03 0.1 0.3] [--features traits ...] [--learner boosting]
[--splits results/splits/setting3/twin/seed41/split.parquet ...]`` (a split's dataset is read from
``results/data/<dataset>/`` beside its ``results/splits/``). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from gemsflow.data.splits import TEST
from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.accuracy import pair_credit
from gemsflow.methods.learners import build_problem

FEATURE_SETS = ("majority", "traits", "traits+reveal40", "traits+all_answers")
REVEAL = 0.4


def answer_one_hot(answer: np.ndarray, offsets: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """[N, C] one-hot of the shown answers (a question's block is all zeros where it is not shown)."""
    out = np.zeros((answer.shape[0], offsets[-1]))
    i, q = np.nonzero(shown & (answer >= 0))
    out[i, offsets[q] + answer[i, q]] = 1.0
    return out


def boosting() -> HistGradientBoostingClassifier:
    """One fixed gradient-boosting configuration; its number of trees stops early on 15 % of the fit rows."""
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=0,
    )


def cross_validated_probs(
    x: np.ndarray, y: np.ndarray, fold: np.ndarray, n_options: int, c: float | None
) -> np.ndarray:
    """[n, n_options] held-out probabilities, each fold predicted by a fit on the others (logistic
    regression with inverse L2 strength ``c``, or :func:`boosting` where ``c`` is None)."""
    probs = np.zeros((len(y), n_options))
    for k in np.unique(fold):
        fit_rows, held = fold != k, fold == k
        classes = np.unique(y[fit_rows])
        if len(classes) == 1:
            probs[np.ix_(held, classes)] = 1.0
            continue
        model = boosting() if c is None else LogisticRegression(C=c, max_iter=500)
        model.fit(x[fit_rows], y[fit_rows])
        probs[np.ix_(held, model.classes_)] = model.predict_proba(x[held])
    return probs


def majority_probs(y: np.ndarray, fold: np.ndarray, n_options: int) -> np.ndarray:
    probs = np.zeros((len(y), n_options))
    for k in np.unique(fold):
        counts = np.bincount(y[fold != k], minlength=n_options).astype(np.float64)
        probs[fold == k] = counts / counts.sum()
    return probs


def ceiling(
    data: SurveyData, folds: int, seed: int, cs: list[float | None], feature_sets: list[str]
) -> pd.DataFrame:
    """One row per feature set; ``cs`` = [None] fits :func:`boosting` instead of logistic regressions."""
    every_pair = data.responses[["individual", "question"]].assign(part="train")
    problem = build_problem(data, every_pair)
    rng = np.random.default_rng(seed)
    fold_of_person = rng.permutation(np.arange(len(problem.people)) % folds)
    answered = problem.answer >= 0
    offsets = problem.offsets
    one_hot = {
        "traits+reveal40": answer_one_hot(
            problem.answer, offsets, rng.random(answered.shape) < REVEAL
        ),
        "traits+all_answers": answer_one_hot(problem.answer, offsets, answered),
    }
    # The target's own answer is never a feature: each question drops its own block of columns.
    strengths = {name: [None] if name == "majority" else cs for name in feature_sets}
    credit = {(name, c): [] for name in feature_sets for c in strengths[name]}
    for q, n_options in enumerate(problem.n_options):
        rows = np.flatnonzero(answered[:, q])
        y, fold = problem.answer[rows, q], fold_of_person[rows]
        others = np.ones(offsets[-1], bool)
        others[offsets[q] : offsets[q + 1]] = False
        for name in feature_sets:
            if name == "majority":
                credit[name, None].append(pair_credit(majority_probs(y, fold, n_options), y))
                continue
            x = problem.traits[rows]
            if name in one_hot:
                x = np.hstack([x, one_hot[name][rows][:, others]])
            for c in cs:
                probs = cross_validated_probs(x, y, fold, n_options, c)
                credit[name, c].append(pair_credit(probs, y))
    table = []
    for name in feature_sets:
        by_c = {c: float(np.concatenate(credit[name, c]).mean()) for c in strengths[name]}
        best = max(by_c, key=by_c.get)
        table.append(
            {
                "dataset": data.name,
                "features": name,
                "accuracy": by_c[best],
                "C": "-" if best is None else best,
                "learner": "majority"
                if name == "majority"
                else "logreg"
                if cs != [None]
                else "boosting",
                "by_C": " ".join(f"{c:g}:{a:.4f}" for c, a in by_c.items() if c is not None),
            }
        )
    return pd.DataFrame(table)


def known_distribution(data: SurveyData, split: pd.DataFrame) -> dict[str, float]:
    """Setting-3 references on a split's test pairs: uniform and each question's own modal answer."""
    test = split.loc[split["part"].astype(str) == "test", ["individual", "question"]]
    problem = build_problem(data, test.assign(part="test"))
    credit_known, credit_uniform = [], []
    for q, n_options in enumerate(problem.n_options):
        y = problem.answer[problem.part[:, q] == TEST, q]
        if len(y) == 0:
            continue
        counts = np.bincount(y, minlength=n_options).astype(np.float64)
        credit_known.append(pair_credit(np.tile(counts, (len(y), 1)), y))
        credit_uniform.append(np.full(len(y), 1.0 / n_options))
    return {
        "test_questions": len(credit_known),
        "uniform": float(np.concatenate(credit_uniform).mean()),
        "known_distribution": float(np.concatenate(credit_known).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", type=Path, help="results/data/<dataset> directories")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cs", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--features", nargs="+", choices=FEATURE_SETS, default=list(FEATURE_SETS))
    parser.add_argument(
        "--learner",
        choices=["logreg", "boosting"],
        default="logreg",
        help="boosting: scikit-learn's HistGradientBoostingClassifier, one fixed configuration",
    )
    parser.add_argument(
        "--splits", nargs="*", type=Path, default=[], help="question-axis split.parquet files"
    )
    args = parser.parse_args()
    rows = []
    for path in args.splits:
        data = SurveyData.load(path.parents[4] / "data" / path.parts[-3])
        rows.append({"split": str(path), **known_distribution(data, pd.read_parquet(path))})
    if rows:
        print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))
    tables = []
    for directory in args.datasets:
        started = time.perf_counter()
        with threadpool_limits(1):
            tables.append(
                ceiling(
                    SurveyData.load(directory),
                    args.folds,
                    args.seed,
                    args.cs if args.learner == "logreg" else [None],
                    args.features,
                )
            )
        print(f"{directory}: {time.perf_counter() - started:.0f} s", flush=True)
    if tables:
        table = pd.concat(tables, ignore_index=True)
        print(table.to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
