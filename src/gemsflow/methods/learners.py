"""Non-graph learners for settings 1 and 2 (method ``logreg``), and the ``ensemble`` of other runs.

``logreg``: one multinomial logistic regression per question (scikit-learn, L2, lbfgs). Feature sets:

* ``traits``: the person's one-hot traits (plus the standardised category rank of traits with more than
  two categories);
* ``traits+answers``: also the person's revealed answers, one-hot per (question, option), missing = zeros,
  the target question's own block always left out;
* ``traits+answers+summary``: also a few summaries of those answers (see :class:`Design`);
* ``+ordinal`` (after ``answers`` or ``summary``): also one number per ordinal question (the config's
  ``ordinal`` flags), the answer's position scaled to [0, 1] and centred on the shown answers' mean, so
  an unshown answer is 0 = the mean; the one-hot block already says whether it was shown;
* ``+neighbours`` (last): also the answer shares of the target question among the person's nearest
  people by agreement on the other shown answers (see :meth:`Design.neighbours`).

Answer sets are tried only where the split reveals part of the evaluation people's answers (setting 1).
Training people reveal every answer while evaluation people reveal only a fraction, so training people's
answer features are thinned at random to that fraction (a fixed, seeded mask): a model fitted on dense
features would misjudge sparse ones. Revealed answers of evaluation people are training targets too (with
their other revealed answers as features). The feature set and ``C`` are chosen on validation accuracy.

``ensemble``: a weighted average of other runs' predicted distributions on the same split (prediction files
only), members and weights chosen by greedy forward selection on validation log-loss (or accuracy),
cross-fitted over folds of validation people so that its own validation figure is out-of-fold (see
:func:`ensemble`).

Every candidate is scored on the validation pairs only (logreg's with :func:`gemsflow.evaluation.accuracy.accuracy`,
the ensemble's with the metric it selects on); test pairs are predicted once, by the selected candidate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from gemsflow.data.splits import PART_CODE, PARTS, TRAIN, VAL
from gemsflow.data.survey import SurveyData, join_answers
from gemsflow.errors import InputDataError
from gemsflow.evaluation.accuracy import accuracy, pair_credit
from gemsflow.evaluation.metrics import pair_log_loss
from gemsflow.evaluation.run_metrics import PartArrays, align, question_info
from gemsflow.evaluation.selection import (
    DEFAULT_FOLDS,
    n_folds_of,
    out_of_fold_predictions,
    validation_folds,
)

log = logging.getLogger(__name__)

# A (person, question) cell of the answer grid with no pair in the split; others hold PART_CODE.
NO_PAIR = -1


@dataclass
class Problem:
    """A split survey as dense arrays: people x questions, answers by option position."""

    people: np.ndarray  # [N] individual ids (str)
    questions: list[str]  # [Q]
    codes: list[np.ndarray]  # per question: option codes in position order
    answer: np.ndarray  # [N, Q] option position of the answer, -1 = unanswered
    part: np.ndarray  # [N, Q] 0 = not in the split, 1 train, 2 val, 3 test
    traits: np.ndarray  # [N, T] one-hot traits (missing value = all zeros)
    ordinal: np.ndarray | None = None  # [Q] bool: options on an ordered scale (None = none)

    @property
    def n_options(self) -> np.ndarray:
        return np.array([len(c) for c in self.codes])

    @property
    def offsets(self) -> np.ndarray:
        """[Q + 1] column offsets of each question's block in the one-hot answer matrix."""
        return np.concatenate([[0], np.cumsum(self.n_options)])

    @cached_property
    def evaluation_people(self) -> np.ndarray:
        """[N] bool: people with a val or test pair (read once per question: cached)."""
        return (self.part >= VAL).any(axis=1)


def trait_one_hot(data: SurveyData, people: np.ndarray) -> np.ndarray:
    """[N, sum of categories] one-hot of every trait; a missing value is a row of zeros."""
    frame = data.individuals.astype({"individual": str}).set_index("individual").reindex(people)
    blocks = []
    for trait in data.traits:
        values = frame[trait.name].astype("string")
        categories = pd.Index(trait.categories, dtype="string")
        index = categories.get_indexer(values.fillna("\x00"))
        block = np.zeros((len(people), len(categories)))
        known = index >= 0
        block[np.flatnonzero(known), index[known]] = 1.0
        blocks.append(block)
        if len(categories) > 2:
            # Categories are stored in order (counts, ratings, age bands): the standardised rank lets a
            # monotone effect take one weight rather than one per category. Harmless for a nominal trait
            # (its weight is shrunk like any other).
            rank = np.where(known, index, np.nan).astype(np.float64)
            mean, std = np.nanmean(rank), np.nanstd(rank)
            blocks.append(np.where(known, (rank - mean) / (std if std > 0 else 1.0), 0.0)[:, None])
    return np.hstack(blocks) if blocks else np.zeros((len(people), 0))


def build_problem(data: SurveyData, split: pd.DataFrame) -> Problem:
    people = data.individuals["individual"].astype(str).to_numpy()
    questions = data.questions["question"].astype(str).tolist()
    options = data.options.astype({"question": str})
    codes_of = {q: g["code"].to_numpy(np.int64) for q, g in options.groupby("question", sort=False)}
    person_index = pd.Index(people)
    question_index = pd.Index(questions)

    rows = split[["individual", "question", "part"]].astype(str)
    if not rows["part"].isin(PARTS).all():
        bad = rows.loc[~rows["part"].isin(PARTS), "part"].iloc[0]
        raise InputDataError(
            "split.parquet", "part", f"unknown part {bad!r}", "use train, val or test"
        )
    rows = join_answers(rows, data.responses, source="split.parquet")
    positions = options[["question", "code", "position"]]
    rows = rows.astype({"code": "int64"}).merge(positions, on=["question", "code"], how="left")
    i = person_index.get_indexer(rows["individual"])
    q = question_index.get_indexer(rows["question"])
    if (i < 0).any() or (q < 0).any():
        raise InputDataError(
            "split.parquet",
            "individual/question",
            "the split names people or questions the dataset does not have",
            "rebuild the split from the same canonical dataset",
        )
    answer = np.full((len(people), len(questions)), -1, dtype=np.int64)
    part = np.full((len(people), len(questions)), NO_PAIR, dtype=np.int8)
    answer[i, q] = rows["position"].to_numpy(np.int64)
    part[i, q] = rows["part"].map(PART_CODE).to_numpy(np.int8)
    return Problem(
        people=people,
        questions=questions,
        codes=[codes_of[k] for k in questions],
        answer=answer,
        part=part,
        traits=trait_one_hot(data, people),
        ordinal=data.questions["ordinal"].to_numpy(bool),
    )


def reveal_rate(problem: Problem) -> float:
    """Fraction of the evaluation people's answers revealed to training (0 in setting 2)."""
    evaluation = problem.evaluation_people
    answered = (problem.part[evaluation] != NO_PAIR).sum()
    return float((problem.part[evaluation] == TRAIN).sum() / answered) if answered else 0.0


def answer_features(
    problem: Problem, seed: int, mask: int = 0
) -> tuple[sparse.csr_array, np.ndarray]:
    """[N, C] one-hot revealed answers (training people's thinned to the evaluation reveal rate), sparse
    (a person shows a few dozen of C options), and the [N, Q] mask of the answers shown; ``mask`` > 0
    draws another seeded thinning of training people."""
    revealed = problem.part == TRAIN
    rate = reveal_rate(problem)
    rng = np.random.default_rng(seed if mask == 0 else [seed, mask])
    # One draw per (person, question), used only for people with nothing held out.
    keep = rng.random(revealed.shape) < rate
    keep[problem.evaluation_people] = True
    shown = revealed & keep
    offsets = problem.offsets
    i, q = np.nonzero(shown)
    out = sparse.csr_array(
        (np.ones(len(i)), (i, offsets[q] + problem.answer[i, q])),
        shape=(len(problem.people), offsets[-1]),
    )
    return out, shown


@dataclass
class EvalPairs:
    """The val/test pairs in a fixed order: per question, evaluation people in person order."""

    person: np.ndarray  # [n]
    question: np.ndarray  # [n]
    part: np.ndarray  # [n] VAL or TEST
    answer: np.ndarray  # [n] option position

    @classmethod
    def of(cls, problem: Problem) -> EvalPairs:
        q, i = np.nonzero(problem.part.T >= VAL)
        return cls(i, q, problem.part[i, q], problem.answer[i, q])


def padded(probs_by_question: list[np.ndarray], max_options: int) -> np.ndarray:
    """Stack per-question [n_q, K_q] blocks into one zero-padded [n, max_options] array."""
    rows = sum(len(p) for p in probs_by_question)
    out = np.zeros((rows, max_options))
    start = 0
    for p in probs_by_question:
        out[start : start + len(p), : p.shape[1]] = p
        start += len(p)
    return out


def predictions_frame(problem: Problem, pairs: EvalPairs, probs: np.ndarray) -> pd.DataFrame:
    """Long predictions (one row per real option of every pair) from [n, max_options] probabilities."""
    n_options = problem.n_options[pairs.question]
    pair = np.repeat(np.arange(len(pairs.question)), n_options)
    position = np.arange(len(pair)) - np.repeat(np.cumsum(n_options) - n_options, n_options)
    codes = np.concatenate(problem.codes)
    prob = probs[pair, position]
    prob = prob / np.bincount(pair, weights=prob)[pair]
    return pd.DataFrame(
        {
            "individual": problem.people[pairs.person[pair]],
            "question": np.asarray(problem.questions, dtype=object)[pairs.question[pair]],
            "part": np.asarray(PARTS)[pairs.part[pair]],
            "code": codes[problem.offsets[pairs.question[pair]] + position],
            "prob": prob.astype(np.float64),
        }
    )


def _fit_question(x: np.ndarray, y: np.ndarray, cs: list[float]) -> list[tuple | None]:
    """Per C: (classes, coef, intercept) of a multinomial logistic regression (one thread, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(y)
    if len(classes) < 2:
        return [None for _ in cs]
    fits = []
    model = LogisticRegression(C=cs[0], max_iter=300, tol=1e-3, warm_start=True)
    for c in cs:
        model.set_params(C=c)
        model.fit(x, y)
        fits.append((model.classes_.copy(), model.coef_.copy(), model.intercept_.copy()))
    return fits


SVD_COMPONENTS = 8
NEIGHBOURS = 40  # people whose answers vote in the +neighbours block
# traits, then optionally answers with extra blocks in this order (config/schema.yaml lists the same).
EXTRAS = ("summary", "ordinal", "neighbours")


def parse_feature_set(name: str) -> set[str]:
    """The blocks of a feature set name (``traits``, ``traits+answers[+summary][+ordinal][+neighbours]``)."""
    parts = name.split("+")
    extras = parts[2:]
    if (
        parts[0] != "traits"
        or parts[1:2] not in ([], ["answers"])
        or extras != [e for e in EXTRAS if e in extras]
    ):
        raise InputDataError(
            "config/config.yaml",
            "learners.logreg.features",
            f"unknown feature set {name!r}",
            "use traits or traits+answers followed by any of +summary, +ordinal, +neighbours in "
            "that order",
        )
    return set(parts)


class Design:
    """Feature rows per target question for one feature set (the question's own answer left out).

    ``summary`` adds, per person, how typical their other shown answers are (share matching each
    question's training mode, mean log training frequency) and their projection on the top singular
    vectors of the shown-answer matrix: a few strong, low-noise columns that L2 shrinks less than the
    hundreds of one-hot columns carrying the same signal. ``ordinal`` and ``neighbours``: see the
    module docstring.

    Answer sets are sparse (CSR): a person shows a few dozen of the survey's options, and a question's
    rows are built only for the people who answer it, so a survey of many waves with their own
    respondents (OpinionQA) costs its answers, not people x options per question. Whatever a block
    standardises (``summary``) is still computed over every person.
    """

    def __init__(
        self, problem: Problem, seed: int, name: str, mask: int = 0, basis: Design | None = None
    ):
        self.blocks = parse_feature_set(name)
        self.problem, self.name = problem, name
        self.answers = None
        if "answers" in self.blocks:
            self.answers, self.shown = answer_features(problem, seed, mask)
            # Column slices (a question's own block) read a CSC copy: O(its answers), not O(all).
            self.answer_columns = self.answers.tocsc()
            self.n_shown = self.shown.sum(axis=1)
        if "summary" in self.blocks:
            self._prepare_summary(basis)
        if "ordinal" in self.blocks:
            self._prepare_ordinal()
        if "neighbours" in self.blocks:
            self._prepare_neighbours()

    def _prepare_summary(self, basis: Design | None) -> None:
        """``basis``: the design whose singular vectors to project on (the first mask's), so that every
        mask's summary columns mean the same."""
        p, shown = self.problem, self.shown
        train = p.part == TRAIN
        freq = np.zeros((len(p.questions), p.n_options.max()))
        q_idx = np.nonzero(train)[1]
        np.add.at(freq, (q_idx, p.answer[train]), 1.0)
        freq += 1.0
        freq[np.arange(p.n_options.max())[None, :] >= p.n_options[:, None]] = 0.0
        freq /= freq.sum(axis=1, keepdims=True)
        safe = np.where(shown, p.answer, 0)
        q_grid = np.broadcast_to(np.arange(len(p.questions)), shown.shape)
        self.match = (shown & (safe == freq.argmax(axis=1)[None, :])).astype(np.float64)
        self.logf = np.where(shown, np.log(freq[q_grid, safe]), 0.0)
        # Row totals once; each question subtracts its own column (was a full row sum per question).
        self.match_total, self.logf_total = self.match.sum(axis=1), self.logf.sum(axis=1)
        if basis is not None:
            self.components = basis.components
        else:
            # The top right singular vectors of the scaled shown-answer matrix A, as the top
            # eigenvectors of the small [C, C] matrix A'A, which the sparse A gives without the dense
            # [N, C] copy a direct SVD needs. Their signs are arbitrary either way; L2 logistic
            # regression does not see a column's sign.
            counts = np.maximum(self.n_shown, 1)
            scaled = sparse.diags_array(1.0 / np.sqrt(counts)) @ self.answers
            gram = (scaled.T @ scaled).toarray()
            values, vectors = np.linalg.eigh(gram)
            self.components = vectors[:, np.argsort(values)[::-1][:SVD_COMPONENTS]]  # [C, k]
        self.projection = self.answers @ self.components  # [N, k]

    def _prepare_ordinal(self) -> None:
        p = self.problem
        flags = p.ordinal if p.ordinal is not None else np.zeros(len(p.questions), bool)
        self.ordinal_questions = np.flatnonzero(flags)
        cols = self.ordinal_questions
        shown = self.shown[:, cols]
        position = p.answer[:, cols] / (p.n_options[cols] - 1)[None, :]
        count = np.maximum(shown.sum(axis=0), 1)
        mean = np.where(shown, position, 0.0).sum(axis=0) / count
        self.ordinal_values = np.where(shown, position - mean[None, :], 0.0)  # [N, Q_ordinal]

    def _ordinal(self, q: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.ordinal_values[rows][:, self.ordinal_questions != q]

    def _prepare_neighbours(self) -> None:
        # People x people (dense): quadratic in the number of people, hence not a default block.
        shown = self.shown.astype(np.float64)
        self.agree = (
            self.answers @ self.answers.T
        ).toarray()  # [N, N] questions both show with the same answer
        self.co_shown = shown @ shown.T  # [N, N] questions both show

    def neighbours(self, q: int) -> np.ndarray:
        """[N, K_q] answer shares of question ``q`` among the person's NEIGHBOURS nearest people.

        Nearness is the shrunk agreement rate (agree + 1) / (both shown + 2) on the shown answers of the
        OTHER questions, so a person's own answer to ``q`` never makes anyone near. Voters are people
        whose answer to ``q`` is a training answer, never the person themselves; shares get one
        pseudo-vote spread evenly over the options.
        """
        p = self.problem
        block = self.answer_columns[:, p.offsets[q] : p.offsets[q + 1]]
        own = self.shown[:, q].astype(np.float64)
        near = (self.agree - (block @ block.T).toarray() + 1.0) / (
            self.co_shown - np.outer(own, own) + 2.0
        )
        voters = p.part[:, q] == TRAIN
        near[:, ~voters] = -np.inf
        np.fill_diagonal(near, -np.inf)
        k = min(NEIGHBOURS, int(voters.sum()) - 1)
        top = (
            np.argpartition(-near, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((len(near), 0), int)
        )
        n_opt = p.n_options[q]
        votes = np.zeros((len(near), n_opt))
        rows = np.repeat(np.arange(len(near)), top.shape[1])
        np.add.at(votes, (rows, p.answer[top.ravel(), q]), 1.0)
        return (votes + 1.0 / n_opt) / (top.shape[1] + 1.0)

    def summary(self, q: int) -> np.ndarray:
        """[N, 2 + k] for every person: standardised over all people, so a row does not depend on which
        other rows a question asks for."""
        p, shown = self.problem, self.shown
        block = slice(p.offsets[q], p.offsets[q + 1])
        n = np.maximum(self.n_shown - shown[:, q], 1)[:, None]
        typical = (self.match_total - self.match[:, q])[:, None] / n
        logf = (self.logf_total - self.logf[:, q])[:, None] / n
        proj = self.projection - self.answer_columns[:, block] @ self.components[block]
        cols = np.hstack([typical, logf, proj / np.sqrt(n)])
        std = cols.std(axis=0)
        return (cols - cols.mean(axis=0)) / np.where(std > 0, std, 1.0)

    def __call__(
        self, q: int, rows: np.ndarray | slice = slice(None)
    ) -> np.ndarray | sparse.csr_array:
        """The feature rows ``rows`` (a bool mask or indices over people; default all) for target
        question ``q``: dense for ``traits``, CSR for answer sets."""
        p = self.problem
        if self.answers is None:
            return p.traits[rows]
        keep = np.ones(self.answers.shape[1], bool)
        keep[p.offsets[q] : p.offsets[q + 1]] = False
        parts = [sparse.csr_array(p.traits[rows]), self.answers[rows][:, keep]]
        if "summary" in self.blocks:
            parts.append(sparse.csr_array(self.summary(q)[rows]))
        if "ordinal" in self.blocks:
            parts.append(sparse.csr_array(self._ordinal(q, rows)))
        if "neighbours" in self.blocks:
            parts.append(sparse.csr_array(self.neighbours(q)[rows]))
        return sparse.hstack(parts, format="csr")


def usable_feature_sets(problem: Problem, names: list[str]) -> list[str]:
    """Answer features only when evaluation people reveal answers (setting 1): in setting 2 they would
    be all zeros at prediction time and dense in training."""
    return [n for n in names if n == "traits" or reveal_rate(problem) > 0]


@dataclass(frozen=True)
class Estimator:
    """A per-question model family: the settings tried on validation and how each is fitted and used.

    ``fit(x, y, seed)`` returns one fitted model per entry of ``grid`` (or ``None`` entries where the
    question has fewer than two training answers: its answer, or uniform, is predicted);
    ``predict(fitted, x)`` returns probabilities over ``fitted``'s classes.
    """

    name: str
    grid: list[dict[str, Any]]
    fit: Callable[[np.ndarray, np.ndarray, int], list[Any]]
    predict: Callable[[Any, np.ndarray], np.ndarray]
    label: Callable[[dict[str, Any]], str]


def logistic_regression(cs: list[float]) -> Estimator:
    cs = sorted(cs)

    def fit(x: np.ndarray, y: np.ndarray, seed: int) -> list[Any]:
        return _fit_question(x, y, cs)

    def predict(fitted: tuple, x: np.ndarray) -> np.ndarray:
        _, coef, intercept = fitted
        logits = x @ coef.T + intercept
        if logits.shape[1] == 1:  # binary: sklearn keeps one logit for the second class
            logits = np.hstack([np.zeros_like(logits), logits])
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    return Estimator("logreg", [{"C": c} for c in cs], fit, predict, lambda g: repr(g["C"]))


def _settings_label(settings: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in settings.items())


def _sklearn_estimator(
    name: str, grid: list[dict[str, Any]], make, dense: bool = False
) -> Estimator:
    """An estimator family from a scikit-learn classifier factory ``make(settings, seed)``; ``dense``:
    the classifier refuses sparse features (answer sets are CSR), so they are densified per question."""

    def prepared(x):
        return x.toarray() if dense and sparse.issparse(x) else x

    def fit(x, y: np.ndarray, seed: int) -> list[Any]:
        if len(np.unique(y)) < 2:
            return [None for _ in grid]
        return [make(settings, seed).fit(prepared(x), y) for settings in grid]

    def predict(model: Any, x) -> np.ndarray:
        return model.predict_proba(prepared(x))

    return Estimator(name, grid, fit, predict, _settings_label)


def boosted_trees(
    learning_rates: list[float], max_leaf_nodes: list[int], max_iter: int, l2: float
) -> Estimator:
    """Histogram gradient boosting (scikit-learn), one model per question, no early stopping (its
    internal validation split would be a second, unseeded selection)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    grid = [
        {"learning_rate": lr, "max_leaf_nodes": leaves}
        for lr in learning_rates
        for leaves in max_leaf_nodes
    ]

    def make(settings: dict[str, Any], seed: int):
        return HistGradientBoostingClassifier(
            **settings, max_iter=max_iter, l2_regularization=l2, early_stopping=False,
            random_state=seed,
        )  # fmt: skip

    return _sklearn_estimator("gbt", grid, make, dense=True)


def multilayer_perceptron(hidden: list[list[int]], alphas: list[float], max_iter: int) -> Estimator:
    """A plain MLP (scikit-learn, adam), one model per question, L2 strength ``alpha``."""
    from sklearn.neural_network import MLPClassifier

    grid = [{"hidden": list(h), "alpha": a} for h in hidden for a in alphas]

    def make(settings: dict[str, Any], seed: int):
        return MLPClassifier(
            hidden_layer_sizes=tuple(settings["hidden"]), alpha=settings["alpha"],
            max_iter=max_iter, random_state=seed,
        )  # fmt: skip

    return _sklearn_estimator("mlp", grid, make)


def _run_learner(estimator: Estimator, data, split, options, *, seed, folds):
    return per_question(
        estimator,
        data,
        split,
        seed=seed,
        features=options["features"],
        masks=options["masks"],
        folds=folds,
    )


# The registry's entry points (gemsflow.methods.registry): one signature for every method the generic
# rule `learner` fits. ``options`` is the method's block, config["learners"][method].
def run_logreg(data, split, options, *, seed, folds):
    return _run_learner(
        logistic_regression(options["cs"]), data, split, options, seed=seed, folds=folds
    )


def run_gbt(data, split, options, *, seed, folds):
    estimator = boosted_trees(
        options["learning_rates"],
        options["max_leaf_nodes"],
        options["max_iter"],
        options["l2_regularization"],
    )
    return _run_learner(estimator, data, split, options, seed=seed, folds=folds)


def run_mlp(data, split, options, *, seed, folds):
    estimator = multilayer_perceptron(options["hidden"], options["alphas"], options["max_iter"])
    return _run_learner(estimator, data, split, options, seed=seed, folds=folds)


def logreg(
    data: SurveyData,
    split: pd.DataFrame,
    *,
    seed: int,
    cs: list[float],
    features: list[str],
    masks: int = 1,
    folds: int = DEFAULT_FOLDS,
) -> tuple[pd.DataFrame, dict]:
    """Per-question multinomial logistic regression (see :func:`per_question`)."""
    return per_question(
        logistic_regression(cs), data, split, seed=seed, features=features, masks=masks, folds=folds
    )


def per_question(
    estimator: Estimator,
    data: SurveyData,
    split: pd.DataFrame,
    *,
    seed: int,
    features: list[str],
    masks: int = 1,
    folds: int = DEFAULT_FOLDS,
) -> tuple[pd.DataFrame, dict]:
    """One model per question; feature set and the estimator's settings chosen on validation accuracy.

    Test pairs are predicted by the candidate best on all validation pairs; the validation pairs of each
    fold of validation people by the candidate best on the other folds (:mod:`gemsflow.evaluation.selection`), so
    the validation figure the scorer reads is out-of-fold.

    ``masks`` > 1: training people enter the fit that many times, each with another seeded thinning of
    their answers (answer sets only), so the model sees the many ways a sparse reveal can look;
    evaluation people's rows (their real reveal) enter once and are predicted from the first mask.
    """
    start = time.perf_counter()
    problem = build_problem(data, split)
    untrained = (
        (problem.part >= VAL).any(axis=0) & ~(problem.part == TRAIN).any(axis=0)
    ).nonzero()[0]
    if len(untrained):
        raise InputDataError(
            "split.parquet",
            "part",
            f"question {problem.questions[untrained[0]]!r} is held out with no training answer "
            "(a new-question split)",
            f"run {estimator.name} in settings with axis: individual only",
        )
    pairs = EvalPairs.of(problem)
    is_val = pairs.part == VAL
    n_options = problem.n_options
    grid = estimator.grid
    val_accuracy: dict[str, dict[str, float]] = {}
    candidates, candidate_probs, candidate_credit = [], [], []
    fitted_by_set, designs = {}, {}
    for name in usable_feature_sets(problem, features):
        design = designs[name] = Design(problem, seed, name)
        extra = [
            Design(problem, seed, name, mask=m, basis=design)
            for m in range(1, masks if name != "traits" else 1)
        ]
        fits, val_probs = [], [[] for _ in grid]
        for q in range(len(problem.questions)):
            part = problem.part[:, q]
            rows = np.flatnonzero((part == TRAIN) | (part == VAL))
            x = design(q, rows)
            train = part[rows] == TRAIN
            again = (part == TRAIN) & ~problem.evaluation_people
            x_fit = _stack([x[train], *(d(q, again) for d in extra)])
            y_fit = np.concatenate(
                [problem.answer[rows[train], q]] + [problem.answer[again, q]] * len(extra)
            )
            fits.append((np.unique(y_fit), estimator.fit(x_fit, y_fit, seed)))
            x_val = x[part[rows] == VAL]
            for k in range(len(grid)):
                val_probs[k].append(_question_probs(estimator, fits[q], k, x_val, n_options[q]))
        fitted_by_set[name] = fits
        val_accuracy[name] = {}
        for k, settings in enumerate(grid):
            probs = padded(val_probs[k], n_options.max())
            credit = pair_credit(probs, pairs.answer[is_val])
            val_accuracy[name][estimator.label(settings)] = float(credit.mean())
            log.info(
                "%s %s %s: validation accuracy %.4f",
                estimator.name, name, estimator.label(settings), credit.mean(),
            )  # fmt: skip
            candidates.append((name, k))
            candidate_probs.append(probs)
            candidate_credit.append(credit)
    credit = np.stack(candidate_credit)
    name, k = candidates[int(credit.mean(axis=1).argmax())]
    acc = val_accuracy[name][estimator.label(grid[k])]
    design = designs[name]
    blocks = []
    for q in range(len(problem.questions)):
        rows = problem.part[:, q] >= VAL
        blocks.append(
            _question_probs(estimator, fitted_by_set[name][q], k, design(q, rows), n_options[q])
        )
    probs = padded(blocks, n_options.max())
    fold = validation_folds(pd.Series(problem.people[pairs.person[is_val]]), folds, seed)
    probs[is_val], chosen = out_of_fold_predictions(np.stack(candidate_probs), credit, fold)
    preds = predictions_frame(problem, pairs, probs)
    info = {
        "selected": {"features": name, **grid[k]},
        "selected_on": (
            f"validation accuracy; validation predictions cross-fitted over {folds} folds of individuals"
        ),
        "best_val_accuracy": acc,
        "val_accuracy": val_accuracy,
        "fold_selected": [
            {"predicts_fold": j, "features": candidates[c][0], **grid[candidates[c][1]]}
            for j, c in enumerate(chosen)
        ],
        "out_of_fold_val_accuracy": accuracy(probs[is_val], pairs.answer[is_val]),
        "reveal_rate": reveal_rate(problem),
        "masks": masks,
        "seed": seed,
        "train_seconds": time.perf_counter() - start,
    }
    return preds, info


def _stack(blocks: list[np.ndarray | sparse.csr_array]) -> np.ndarray | sparse.csr_array:
    """Rows of one question's fit, from the first mask's design and the extra masks' (if any)."""
    if len(blocks) == 1:
        return blocks[0]
    return sparse.vstack(blocks, format="csr") if sparse.issparse(blocks[0]) else np.vstack(blocks)


def _question_probs(
    estimator: Estimator, fitted: tuple, k: int, x: np.ndarray | sparse.csr_array, n_options: int
) -> np.ndarray:
    """[rows, n_options] probabilities of one question's setting ``k``; a question with fewer than two
    training answers predicts its one answer (or uniform)."""
    classes, models = fitted
    probs = np.zeros((x.shape[0], n_options))
    if models[k] is None:
        probs[:, classes] = 1.0
        return probs / probs.sum(axis=1, keepdims=True) if len(classes) else probs + 1 / n_options
    probs[:, classes] = estimator.predict(models[k], x)
    return probs


def _average(probs: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Weighted average of member distributions, renormalised per pair."""
    total = sum(weight * probs[name] for name, weight in weights.items())
    return total / total.sum(axis=1, keepdims=True)


SELECTION_METRICS = ("log_loss", "accuracy")


def _selection_score(metric: str, p: np.ndarray, answer: np.ndarray, valid: np.ndarray) -> float:
    """Higher is better: accuracy, or minus the mean log-loss."""
    if metric == "accuracy":
        return accuracy(p, answer, valid=valid)
    return -float(pair_log_loss(p, answer).mean())


def _forward_select(
    probs: dict[str, np.ndarray],
    answer: np.ndarray,
    valid: np.ndarray,
    max_steps: int,
    metric: str,
) -> dict:
    """Greedy forward selection with replacement (Caruana et al. 2004) on the given pairs.

    Start from the best single member, then repeatedly add the member (again, if it helps most) whose
    inclusion in the running average improves ``metric`` most; stop when nothing improves it. Weights
    are how often each member was picked. Ties between candidates go to the earlier one in ``probs``
    order. Log-loss reads every pair's whole distribution, so it moves with smaller samples than
    accuracy, which only sees which option is on top.
    """
    names = list(probs)

    def score(p: np.ndarray) -> float:
        return _selection_score(metric, p, answer, valid)

    single = {name: score(probs[name]) for name in names}
    first = max(names, key=lambda n: single[n])
    picks, total, best = [first], probs[first].copy(), single[first]
    trace = [{"add": first, "score": best}]
    for _ in range(max_steps - 1):
        scores = {n: score((total + probs[n]) / (len(picks) + 1)) for n in names}
        candidate = max(names, key=lambda n: scores[n])
        if scores[candidate] <= best:
            break
        picks.append(candidate)
        total += probs[candidate]
        best = scores[candidate]
        trace.append({"add": candidate, "score": best})
    weights = {n: picks.count(n) / len(picks) for n in names if n in picks}
    return {
        "weights": weights,
        "val_accuracy": accuracy(total / len(picks), answer, valid=valid),
        "member_val_accuracy": {n: accuracy(probs[n], answer, valid=valid) for n in names},
        "member_val_score": single,
        "trace": trace,
    }


def _cross_fit(
    probs: dict[str, np.ndarray],
    arr: PartArrays,
    valid: np.ndarray,
    fold: np.ndarray,
    max_steps: int,
    metric: str,
) -> tuple[list[dict], np.ndarray]:
    """One selection per fold, made on the other folds, and the out-of-fold averages it predicts."""
    folds = int(fold.max()) + 1
    per_fold, out_of_fold = [], np.zeros_like(arr.probs)
    for j in range(folds):
        fit = fold != j
        chosen = _forward_select(
            {n: p[fit] for n, p in probs.items()}, arr.answer[fit], valid[fit], max_steps, metric
        )
        out_of_fold[~fit] = _average({n: p[~fit] for n, p in probs.items()}, chosen["weights"])
        per_fold.append(
            {
                "predicts_fold": j,
                "selected_on_folds": [k for k in range(folds) if k != j],
                "n_people": int(arr.individuals[~fit].nunique()),
                **chosen,
            }
        )
    return per_fold, out_of_fold


def ensemble(
    data: SurveyData,
    split: pd.DataFrame,
    members: dict[str, pd.DataFrame],
    *,
    seed: int,
    folds: int = DEFAULT_FOLDS,
    max_steps: int = 10,
    axis: str = "individual",
    metric: str = "log_loss",
) -> tuple[pd.DataFrame, dict]:
    """Weighted average of member runs' distributions, cross-fitted on validation people or questions.

    Members and weights are chosen by :func:`_forward_select`. Selecting them on the very validation
    pairs the leaderboard then reads would bias the ensemble's validation figure upward (and let it win
    the validation pick on luck), so the validation people are split into ``folds`` folds
    (:func:`validation_folds`): a fold's validation predictions use the selection made on the other
    folds only, so the scorer's validation accuracy of the ensemble is an out-of-fold estimate,
    comparable with any other method's. Test predictions use the selection made on all validation people.

    ``metric`` (``log_loss`` or ``accuracy``) is what the selection optimises; the trace records it as
    ``score`` (minus the log-loss for ``log_loss``: higher is better either way).

    ``info`` records the final selection (``weights``, ``selection_trace``, its in-sample validation
    accuracy), one selection per fold (``folds``: the weights that predict that fold, chosen on the others)
    and ``out_of_fold_val_accuracy``, the figure the scorer reproduces.
    """
    if not members:
        raise InputDataError(
            "config/config.yaml",
            "learners.ensemble.members",
            "the ensemble has no member runs",
            "list at least one other method of the setting",
        )
    if folds < 2:
        raise InputDataError(
            "config/config.yaml", "learners.ensemble.folds", f"{folds} folds", "use 2 or more"
        )
    if metric not in SELECTION_METRICS:
        raise InputDataError(
            "config/config.yaml",
            "learners.ensemble.metric",
            f"unknown selection metric {metric!r}",
            f"use one of {', '.join(SELECTION_METRICS)}",
        )
    val = {
        name: align(frame, data, split, predictions_path=name)["val"]
        for name, frame in members.items()
    }
    arr = next(iter(val.values()))
    valid = np.arange(arr.probs.shape[1]) < arr.n_options[:, None]
    probs = {name: part.probs for name, part in val.items()}
    # Cross-fit over the unit the split holds out: new people (individual axis) or new questions
    # (question axis), so the out-of-fold figure measures what the setting asks.
    if axis == "question":
        units = pd.Series(np.asarray(question_info(data).keys)[arr.q])
        fold = validation_folds(units, folds, seed, kind="questions")
        unit_column = "question"
    else:
        units = arr.individuals
        fold = validation_folds(units, folds, seed)
        unit_column = "individual"
    if n_folds_of(fold) < 2:
        raise InputDataError(
            "split.parquet",
            "part",
            f"one validation {unit_column}: the ensemble's weights cannot be cross-fitted",
            "use a larger validation share or leave the ensemble out of this setting",
        )
    final = _forward_select(probs, arr.answer, valid, max_steps, metric)
    per_fold, out_of_fold = _cross_fit(probs, arr, valid, fold, max_steps, metric)
    oof_accuracy = accuracy(out_of_fold, arr.answer, valid=valid)
    # Row j of the table weighs validation fold j; the last row weighs the test pairs.
    table = [[s["weights"].get(n, 0.0) for n in members] for s in [*per_fold, final]]
    preds = _weighted_predictions(members, np.array(table), units, fold, unit_column)
    info = {
        "members": list(members),
        "weights": final["weights"],
        "selected_on": (
            f"validation {metric.replace('_', '-')}; validation predictions cross-fitted over {folds} "
            f"folds of {unit_column}s"
        ),
        "metric": metric,
        "member_val_accuracy": final["member_val_accuracy"],
        "member_val_score": final["member_val_score"],
        "in_sample_val_accuracy": final["val_accuracy"],
        "selection_trace": final["trace"],
        "folds": per_fold,
        "out_of_fold_val_accuracy": oof_accuracy,
        "seed": seed,
    }
    log.info(
        "ensemble: weights %s, out-of-fold validation accuracy %.4f (in-sample %.4f)",
        final["weights"],
        oof_accuracy,
        final["val_accuracy"],
    )
    return preds, info


def _weighted_predictions(
    members: dict[str, pd.DataFrame],
    table: np.ndarray,
    val_units: pd.Series,
    fold: np.ndarray,
    unit_column: str = "individual",
) -> pd.DataFrame:
    """Members' rows summed with the weights of their group, renormalised per pair.

    ``table`` is [groups, members]: group j < last = validation units (people or questions, named by
    ``unit_column``) of fold j, last group = test.
    """
    keys = ["individual", "question", "part", "code"]
    fold_of = pd.Series(fold, index=val_units.to_numpy()).groupby(level=0).first()
    frames = []
    for m, frame in enumerate(members.values()):
        frame = frame[[*keys, "prob"]].astype({"individual": str, "question": str, "part": str})
        group = np.full(len(frame), len(table) - 1)
        is_val = frame["part"].to_numpy() == "val"
        group[is_val] = fold_of.loc[frame[unit_column].to_numpy()[is_val]].to_numpy()
        frames.append(frame.assign(prob=frame["prob"].to_numpy() * table[group, m]))
    preds = pd.concat(frames).groupby(keys, sort=False, as_index=False)["prob"].sum()
    preds["prob"] /= preds.groupby(["individual", "question", "part"])["prob"].transform("sum")
    return preds[[*keys, "prob"]]
