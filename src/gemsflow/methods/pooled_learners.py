"""Pooled learners for settings 1 and 2: one model over every (person, question) pair of a survey.

The per-question learners (:mod:`gemsflow.methods.learners`) fit one model per question, so a question with few
training answers learns from those alone. A pooled model shares what it learns across questions: the
question and the option enter as features, and one fit sees every training pair.

* ``gbt_pooled``: histogram gradient boosting (scikit-learn) on one row per (person, question, option),
  labelled 1 where the option is the person's answer; a pair's option scores are normalised into its
  distribution. Row features: the person's traits, the question (categorical), the option's position,
  the question's option count and the option's log training share, plus the person blocks below.
* ``mlp_pooled``: a small torch network over pairs. The person's features and a learned embedding of the
  question go through one hidden layer to a vector that is scored against a learned embedding (and bias)
  of each of the question's options; a softmax over the question's real options gives the distribution.
  The epochs in ``epochs`` are checkpoints, each a candidate.

Feature sets (tried on validation; answer blocks only where evaluation people reveal answers, setting 1):
``traits``; ``traits+summary`` (typicality and low-rank projections of the person's other revealed
answers, :class:`gemsflow.methods.learners.Design`); ``+neighbours`` (the option's answer share among the 40
people agreeing most with the person on the other revealed answers, as a log share). The raw one-hot
answers are left out: one column per option of every question on every option row would not fit in
memory on Twin, and the summary carries their main directions.

Every candidate (feature set x settings x checkpoint) is scored on validation accuracy; validation pairs
are predicted out of fold (:mod:`gemsflow.evaluation.selection`), test pairs by the candidate best on all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.splits import TRAIN, VAL
from gemsflow.errors import InputDataError
from gemsflow.evaluation.accuracy import accuracy, pair_credit
from gemsflow.evaluation.selection import DEFAULT_FOLDS, out_of_fold_predictions, validation_folds
from gemsflow.methods.learners import (
    NO_PAIR,
    Design,
    EvalPairs,
    Problem,
    build_problem,
    predictions_frame,
    reveal_rate,
)

log = logging.getLogger(__name__)

POOLED_METHODS = ("gbt_pooled", "mlp_pooled")
ANSWER_BLOCKS = ("summary", "neighbours")
# HistGradientBoosting's categorical features take codes below its bin count (255).
MAX_CATEGORIES = 255


def parse_pooled_features(name: str) -> set[str]:
    """The person blocks of a pooled feature set name: ``traits[+summary][+neighbours]``."""
    parts = name.split("+")
    extras = parts[1:]
    if parts[0] != "traits" or extras != [b for b in ANSWER_BLOCKS if b in extras]:
        raise InputDataError(
            "config/config.yaml",
            "learners.<gbt_pooled|mlp_pooled>.features",
            f"unknown pooled feature set {name!r}",
            "use traits, optionally followed by +summary and/or +neighbours in that order",
        )
    return set(extras)


class PooledRows:
    """Every answered pair of the split (train, val, test) and the features of its person for one
    feature set, gathered from the per-question :class:`Design` blocks."""

    def __init__(self, problem: Problem, seed: int, blocks: set[str]):
        q, i = np.nonzero(problem.part.T != NO_PAIR)  # per question, people in order (as EvalPairs)
        self.person, self.question = i, q
        self.part = problem.part[i, q]
        self.answer = problem.answer[i, q]
        n_opt = problem.n_options
        max_k = int(n_opt.max())
        person_cols = [problem.traits[i]]
        # [pairs, max_k] log answer share among the person's neighbours (0 on padding).
        self.neighbour_share = None
        if blocks:
            design = Design(
                problem,
                seed,
                "traits+answers+summary" + ("+neighbours" if "neighbours" in blocks else ""),
            )
            summary = np.zeros((len(i), 2 + design.components.shape[1]))
            share = np.zeros((len(i), max_k))
            for question in range(len(problem.questions)):
                rows = q == question
                if "summary" in blocks:
                    summary[rows] = design.summary(question)[i[rows]]
                if "neighbours" in blocks:
                    share[rows, : n_opt[question]] = np.log(design.neighbours(question)[i[rows]])
            if "summary" in blocks:
                person_cols.append(summary)
            if "neighbours" in blocks:
                self.neighbour_share = share
        self.person_features = np.hstack(person_cols).astype(np.float32)


def option_log_share(problem: Problem) -> np.ndarray:
    """[total options] log training share of each option, one pseudo-answer per option."""
    offsets = problem.offsets
    counts = np.ones(offsets[-1])
    q_idx = np.nonzero(problem.part == TRAIN)
    np.add.at(counts, offsets[q_idx[1]] + problem.answer[q_idx], 1.0)
    totals = np.add.reduceat(counts, offsets[:-1])
    return np.log(counts / np.repeat(totals, problem.n_options))


def _option_rows(problem: Problem, rows: PooledRows, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """(pair index, option position) of each option row of the pairs in ``mask``."""
    pairs = np.flatnonzero(mask)
    n_opt = problem.n_options[rows.question[pairs]]
    pair = np.repeat(pairs, n_opt)
    position = np.arange(len(pair)) - np.repeat(np.cumsum(n_opt) - n_opt, n_opt)
    return pair, position


def _tree_matrix(problem: Problem, rows: PooledRows, pair: np.ndarray, position: np.ndarray):
    """[option rows, F] features of the pooled tree model and the column mask of categorical ones."""
    q = rows.question[pair]
    n_opt = problem.n_options[q]
    prior = option_log_share(problem)[problem.offsets[q] + position]
    cols = [
        rows.person_features[pair],
        q[:, None],
        position[:, None],
        n_opt[:, None],
        (position / np.maximum(n_opt - 1, 1))[:, None],
        prior[:, None],
    ]
    if rows.neighbour_share is not None:
        cols.append(rows.neighbour_share[pair, position][:, None])
    x = np.hstack(cols).astype(np.float32)
    categorical = np.zeros(x.shape[1], bool)
    # Too many questions for a categorical code: the question then enters as a plain number.
    categorical[rows.person_features.shape[1]] = len(problem.questions) <= MAX_CATEGORIES
    return x, categorical


def _normalised(problem: Problem, rows: PooledRows, pair: np.ndarray, position: np.ndarray,
                score: np.ndarray, eval_index: np.ndarray) -> np.ndarray:  # fmt: skip
    """[eval pairs, max options] per-pair normalised scores of the option rows of eval pairs."""
    out = np.zeros((len(rows.part), problem.n_options.max()))
    out[pair, position] = score
    out = out[eval_index]
    return out / out.sum(axis=1, keepdims=True)


def _fit_trees(problem, rows, seed, options, eval_index) -> list[tuple[dict, np.ndarray]]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    train_pair, train_pos = _option_rows(problem, rows, rows.part == TRAIN)
    x, categorical = _tree_matrix(problem, rows, train_pair, train_pos)
    y = (rows.answer[train_pair] == train_pos).astype(np.int64)
    eval_pair, eval_pos = _option_rows(problem, rows, rows.part >= VAL)
    x_eval, _ = _tree_matrix(problem, rows, eval_pair, eval_pos)
    out = []
    for lr in options["learning_rates"]:
        for leaves in options["max_leaf_nodes"]:
            model = HistGradientBoostingClassifier(
                learning_rate=lr, max_leaf_nodes=leaves, max_iter=options["max_iter"],
                l2_regularization=options["l2_regularization"], categorical_features=categorical,
                early_stopping=False, random_state=seed,
            )  # fmt: skip
            model.fit(x, y)
            score = model.predict_proba(x_eval)[:, 1]
            probs = _normalised(problem, rows, eval_pair, eval_pos, score, eval_index)
            out.append(({"learning_rate": lr, "max_leaf_nodes": leaves}, probs))
    return out


def _network(n_questions: int, n_ids: int, n_person: int, hidden: int, dim: int, dropout: float,
             share: bool):  # fmt: skip
    """The pooled network: person features and a question embedding -> a vector scored against each
    option's embedding and bias (+ a learned weight on the neighbour log share)."""
    import torch

    class PooledNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.question = torch.nn.Embedding(n_questions, dim)
            self.body = torch.nn.Sequential(
                torch.nn.Linear(n_person + dim, hidden),
                torch.nn.ReLU(),
                torch.nn.Dropout(dropout),
                torch.nn.Linear(hidden, dim),
            )
            # One extra id: the padding slot of questions with fewer options (always masked).
            self.option = torch.nn.Embedding(n_ids + 1, dim)
            self.bias = torch.nn.Embedding(n_ids + 1, 1)
            self.share = torch.nn.Parameter(torch.ones(())) if share else None

        def forward(self, person, question, ids, real, neighbour_share):
            h = self.body(torch.cat([person, self.question(question)], dim=1))
            out = (h[:, None, :] * self.option(ids)).sum(-1) + self.bias(ids).squeeze(-1)
            if self.share is not None:
                out = out + self.share * neighbour_share
            return out.masked_fill(~real, float("-inf"))

    return PooledNet()


def _fit_network(problem, rows, seed, options, eval_index) -> list[tuple[dict, np.ndarray]]:
    import torch

    from gemsflow.reproducibility import configure_torch

    configure_torch()
    n_options, max_k = problem.n_options, int(problem.n_options.max())
    n_ids = int(problem.offsets[-1])
    slot = problem.offsets[:-1, None] + np.arange(max_k)[None, :]
    real = np.arange(max_k)[None, :] < n_options[:, None]
    option_id = torch.as_tensor(np.where(real, slot, n_ids))
    real_t = torch.as_tensor(real)
    person = torch.as_tensor(rows.person_features)
    mean, std = person.mean(0), person.std(0)
    person = (person - mean) / torch.where(std > 0, std, torch.ones_like(std))
    has_share = rows.neighbour_share is not None
    share = torch.as_tensor(
        rows.neighbour_share if has_share else np.zeros((len(rows.part), max_k)),
        dtype=torch.float32,
    )
    question = torch.as_tensor(rows.question)
    answer = torch.as_tensor(rows.answer)
    train = torch.as_tensor(np.flatnonzero(rows.part == TRAIN))
    evaluate = torch.as_tensor(eval_index)
    epochs = sorted(options["epochs"])

    def logits(net, idx):
        q = question[idx]
        return net(person[idx], q, option_id[q], real_t[q], share[idx])

    out = []
    for hidden in options["hidden"]:
        for decay in options["weight_decays"]:
            generator = torch.Generator().manual_seed(seed)
            torch.manual_seed(seed)
            net = _network(
                len(problem.questions), n_ids, person.shape[1], hidden,
                options["embedding_dim"], options["dropout"], has_share,
            )  # fmt: skip
            opt = torch.optim.Adam(net.parameters(), lr=options["lr"], weight_decay=decay)
            for epoch in range(1, epochs[-1] + 1):
                net.train()
                order = train[torch.randperm(len(train), generator=generator)]
                for batch in order.split(options["batch_size"]):
                    loss = torch.nn.functional.cross_entropy(logits(net, batch), answer[batch])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if epoch in epochs:
                    net.eval()
                    with torch.no_grad():
                        probs = torch.softmax(logits(net, evaluate), dim=1).double().numpy()
                    out.append(({"hidden": hidden, "weight_decay": decay, "epochs": epoch}, probs))
    return out


FITTERS = {"gbt_pooled": _fit_trees, "mlp_pooled": _fit_network}


def pooled(
    method: str,
    data,
    split: pd.DataFrame,
    *,
    seed: int,
    options: Mapping[str, Any],
    folds: int = DEFAULT_FOLDS,
) -> tuple[pd.DataFrame, dict]:
    """Fit ``method`` (``gbt_pooled`` or ``mlp_pooled``) with every candidate of ``options`` and feature
    set; predict validation pairs out of fold and test pairs with the validation pick."""
    if method not in FITTERS:
        raise ValueError(f"no pooled learner is called {method!r}")
    start = time.perf_counter()
    problem = build_problem(data, split)
    pairs = EvalPairs.of(problem)
    is_val = pairs.part == VAL
    candidates, candidate_probs, candidate_credit = [], [], []
    val_accuracy: dict[str, dict[str, float]] = {}
    for name in options["features"]:
        blocks = parse_pooled_features(name)
        if blocks and reveal_rate(problem) == 0:
            continue  # answer blocks would be empty at prediction time and dense in training
        rows = PooledRows(problem, seed, blocks)
        eval_index = np.flatnonzero(rows.part >= VAL)
        # rows and EvalPairs both list pairs per question, people in order: same order.
        val_accuracy[name] = {}
        for settings, probs in FITTERS[method](problem, rows, seed, options, eval_index):
            credit = pair_credit(probs[is_val], pairs.answer[is_val])
            label = ",".join(f"{k}={v}" for k, v in settings.items())
            val_accuracy[name][label] = float(credit.mean())
            log.info("%s %s %s: validation accuracy %.4f", method, name, label, credit.mean())
            candidates.append({"features": name, **settings})
            candidate_probs.append(probs)
            candidate_credit.append(credit)
    if not candidates:
        raise InputDataError(
            "config/config.yaml",
            f"learners.{method}.features",
            "no feature set is usable here (answer blocks need revealed answers, setting 1)",
            "include traits",
        )
    credit = np.stack(candidate_credit)
    best = int(credit.mean(axis=1).argmax())
    probs = candidate_probs[best].copy()
    fold = validation_folds(pd.Series(problem.people[pairs.person[is_val]]), folds, seed)
    val_probs = np.stack([p[is_val] for p in candidate_probs])
    probs[is_val], chosen = out_of_fold_predictions(val_probs, credit, fold)
    info = {
        "selected": candidates[best],
        "selected_on": (
            f"validation accuracy; validation predictions cross-fitted over {folds} folds of individuals"
        ),
        "best_val_accuracy": float(credit[best].mean()),
        "val_accuracy": val_accuracy,
        "fold_selected": [{"predicts_fold": j, **candidates[c]} for j, c in enumerate(chosen)],
        "out_of_fold_val_accuracy": accuracy(probs[is_val], pairs.answer[is_val]),
        "reveal_rate": reveal_rate(problem),
        "seed": seed,
        "train_seconds": time.perf_counter() - start,
    }
    return predictions_frame(problem, pairs, probs), info


# The registry's entry points (gemsflow.methods.registry), fitted by the generic rule `learner`;
# ``options`` is config["learners"][method].
def run_gbt_pooled(data, split, options, *, seed, folds):
    return pooled("gbt_pooled", data, split, seed=seed, options=options, folds=folds)


def run_mlp_pooled(data, split, options, *, seed, folds):
    return pooled("mlp_pooled", data, split, seed=seed, options=options, folds=folds)
