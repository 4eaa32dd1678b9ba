"""New-question learner ``similar-<features>``: answers to the training questions whose options read alike.

A question nobody has answered yet still has option texts. For person ``i`` and option ``o`` (position
``p`` of a question with ``K`` options) the model scores

    logit = c * log prior_K(p) + a * popular(o) + b * personal(i, o) + d * lean(i, K, p) + e * central(o)

and takes the softmax over the question's options:

* ``prior_K(p)``: the position prior (:func:`gemsflow.methods.baselines.position_shares`), the floor itself;
* ``popular(o)``: the answer share of the training options most similar to ``o`` (cosine similarity of
  the choice features, the ``neighbours`` nearest options of *other* questions, weights
  ``softmax(similarity / temperature)``): people pick "Yes, I would buy it" about as often as they
  picked the options that read like it;
* ``personal(i, o)``: the same weighted average over person ``i``'s own answers, as the excess over
  those options' shares: this person buys more readily than others. 0 where ``i`` answered none of them;
* ``lean(i, K, p)``: how much more often than ``prior_K(p)`` person ``i`` picked position ``p`` of
  ``K``-option training questions (shrunk towards the prior by ``shrinkage`` pseudo-answers):
  acquiescence, extreme or first-option responding;
* ``central(o)``: how much more ``o`` reads like its sibling options than they do on average (mean
  cosine similarity to the question's other options, standardised within the question). Where the
  options are rephrasings of one sentence, each wrong one departs from the right one in its own way, so
  the right one is the medoid: on Dunning-Kruger's grammar items (setting 3, seed 41) the most central
  option is the most chosen one on 8 of the 14 training questions, where chance is 1 in 5.

The five weights are fitted by maximum likelihood on the training pairs, with each training question's
features computed as if it were new (its own options are never neighbours, its own answer never counts in
``lean``), so the fit sees features the way a held-out question has them.

The feature variant, the temperature and the neighbour count are chosen on the training questions'
accuracy under those left-out features: about 100 Twin questions instead of about 15 validation
questions, whose pick is mostly noise (Twin seed 42: candidates 0.508 to 0.545). Validation answers then
choose nothing, so their accuracy is an honest figure without cross-fitting. Decided on validation
accuracy, setting 3, seeds 41-43, mean: Twin 0.4790 against 0.4686 for the out-of-fold pick on
validation (Dunning-Kruger, two validation questions per seed: 0.3926 against 0.3722).

Two-option questions get weights of their own (:data:`KINDS`): there a person's position lean weighs a
fifth to a third as much as on longer questions (Twin, seeds 41-43). On top of the choice above this
raised Twin's validation accuracy on every seed (+0.0117, +0.0031, +0.0075; mean 0.4864); all
Dunning-Kruger items have five options. Ordinal questions with more than two options get weights of
their own too, fitted on the ordinal training pairs alone (the other longer questions keep the weights
fitted on all longer ones, ordinal included, which predicted them better on validation than weights
fitted on the nominal ones alone). With one set of weights for every longer question, the fit leaned on
what predicts Twin's cognitive tests and synonym items, and its answer shares on ordinal scales came out
flatter than the position prior's and further from the observed ones (Wasserstein-1 on validation
questions, see docs/results/2026-12-07-contrasts.md). Test pairs are predicted once, by the selected candidate. Only
training pairs (part ``train``) are ever read as answers.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from gemsflow.data.splits import TRAIN, VAL
from gemsflow.errors import InputDataError
from gemsflow.evaluation.accuracy import accuracy
from gemsflow.methods.learners import EvalPairs, Problem, build_problem, padded, predictions_frame

log = logging.getLogger(__name__)

COEFFICIENTS = ("popular", "personal", "prior", "lean", "central")
# Questions whose features get weights of their own (:func:`question_kind`).
KINDS = ("two_options", "more_options", "ordinal")
# Pairs of each kind that its weights are fitted on: ordinal longer questions also count as longer ones.
FIT_KINDS = {0: (0,), 1: (1, 2), 2: (2,)}


def question_kind(n_options: np.ndarray, ordinal: np.ndarray | None = None) -> np.ndarray:
    """0: two options; 1: more, nominal; 2: more, on an ordered scale (``ordinal`` None: none is)."""
    longer = np.asarray(n_options) > 2
    ordered = np.zeros_like(longer) if ordinal is None else np.asarray(ordinal, dtype=bool)
    return np.where(longer, np.where(ordered, 2, 1), 0)


@dataclass(frozen=True)
class Answers:
    """Training answers over the flat option index (question blocks in problem order)."""

    chosen: np.ndarray  # [N, C] 1 where the person's training answer is this option
    asked: np.ndarray  # [N, C] 1 on every option of a question the person answered in training
    share: np.ndarray  # [C] training answer share of each option (0 where nobody answered)
    train_option: np.ndarray  # [C] bool: the option's question has training answers
    question_of: np.ndarray  # [C] question index of each option
    position: np.ndarray  # [C] position of each option within its question
    n_options: np.ndarray  # [C] option count of its question


def training_answers(problem: Problem) -> Answers:
    offsets, n_options = problem.offsets, problem.n_options
    question_of = np.repeat(np.arange(len(n_options)), n_options)
    position = np.arange(offsets[-1]) - offsets[question_of]
    person, question = np.nonzero(problem.part == TRAIN)
    chosen = np.zeros((len(problem.people), offsets[-1]))
    chosen[person, offsets[question] + problem.answer[person, question]] = 1.0
    asked = (problem.part == TRAIN).astype(np.float64)[:, question_of]
    n_asked = asked.sum(axis=0)
    share = np.divide(chosen.sum(axis=0), n_asked, out=np.zeros(offsets[-1]), where=n_asked > 0)
    return Answers(chosen, asked, share, n_asked > 0, question_of, position, n_options[question_of])


def neighbour_weights(
    features: np.ndarray, answers: Answers, temperature: float, neighbours: int
) -> np.ndarray:
    """[C, C] row-normalised weights over each option's nearest training options of other questions."""
    unit = _unit(features)
    usable = answers.train_option[None, :] & (
        answers.question_of[:, None] != answers.question_of[None, :]
    )
    return top_weights(unit @ unit.T, usable, temperature, neighbours)


def _unit(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def top_weights(
    similarity: np.ndarray, usable: np.ndarray, temperature: float, neighbours: int
) -> np.ndarray:
    """Row-normalised ``softmax(similarity / temperature)`` over each row's ``neighbours`` most similar
    usable columns (0 elsewhere; a row with no usable column is all 0)."""
    similarity = np.where(usable, similarity, -np.inf)
    k = min(neighbours, similarity.shape[1])
    # The k-th largest similarity per row; ties with it are kept, so the result does not depend on sort order.
    kth = -np.partition(-similarity, k - 1, axis=1)[:, k - 1 : k]
    keep = usable & (similarity >= kth)
    top = np.where(keep, similarity, -np.inf).max(axis=1, keepdims=True)
    weights = np.where(
        keep, np.exp((similarity - np.where(np.isfinite(top), top, 0)) / temperature), 0
    )
    mass = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, mass, out=np.zeros_like(weights), where=mass > 0)


def slot_rates(
    picked: np.ndarray, asked: np.ndarray, answers: Answers, prior: np.ndarray, strength: float
) -> np.ndarray:
    """Rate of picking each option's (K, position) slot over the *other* training questions with K
    options, pulled towards ``prior`` by ``strength`` pseudo-answers (``prior`` where nothing is left).

    ``picked``/``asked`` [..., C]: answers on each option / answerers of its question (a question has
    one option per slot of its K, so summing ``asked`` over a slot counts its questions' answerers).
    """
    slot = answers.n_options * (answers.n_options.max() + 1) + answers.position
    _, slot_id = np.unique(slot, return_inverse=True)
    same_slot = np.zeros((len(slot), slot_id.max() + 1))
    same_slot[np.arange(len(slot)), slot_id] = 1.0
    # Leave the option's own question out: a training question is then scored as a new one would be.
    picked_elsewhere = (picked @ same_slot) @ same_slot.T - picked
    asked_elsewhere = (asked @ same_slot) @ same_slot.T - asked
    total = asked_elsewhere + strength
    return np.divide(
        picked_elsewhere + strength * prior,
        total,
        out=np.broadcast_to(prior, total.shape).copy(),
        where=total > 0,
    )


def left_out_position_prior(answers: Answers, smoothing: float) -> np.ndarray:
    """[C] the ``position_prior`` baseline's probabilities (Laplace ``smoothing`` per option), with a
    training question's own answers left out of its own options' prior."""
    uniform = 1.0 / answers.n_options
    picked, asked = answers.chosen.sum(axis=0), answers.asked.sum(axis=0)
    # Laplace smoothing is ``smoothing * K`` pseudo-answers spread uniformly over the K slots.
    return slot_rates(picked, asked, answers, uniform, smoothing * answers.n_options)


@dataclass(frozen=True)
class CandidateDesign:
    """Per-option features of one candidate (variant, temperature, neighbours)."""

    popular: np.ndarray  # [C]
    personal: np.ndarray  # [N, C]
    log_prior: np.ndarray  # [C]
    lean: np.ndarray  # [N, C]
    central: np.ndarray  # [C]

    def stack(self, person: np.ndarray, option_index: np.ndarray) -> np.ndarray:
        """[n, K, 5] features of pairs (``option_index`` [n, K], -1 = padding, zero features)."""
        safe = np.maximum(option_index, 0)
        rows = person[:, None]
        out = np.stack(
            [
                self.popular[safe],
                self.personal[rows, safe],
                self.log_prior[safe],
                self.lean[rows, safe],
                np.broadcast_to(self.central[safe], safe.shape),
            ],
            axis=-1,
        )
        return np.where((option_index >= 0)[..., None], out, 0.0)


def centrality(features: np.ndarray, question_of: np.ndarray) -> np.ndarray:
    """[C] each option's mean cosine similarity to the other options of its question, standardised
    within the question (0 where the options are equally alike, e.g. any two-option question)."""
    unit = _unit(features)
    siblings = question_of[:, None] == question_of[None, :]
    np.fill_diagonal(siblings, False)
    alike = np.where(siblings, unit @ unit.T, 0.0).sum(axis=1) / np.maximum(siblings.sum(axis=1), 1)
    n_options = np.bincount(question_of)
    centred = alike - (np.bincount(question_of, alike) / n_options)[question_of]
    spread = np.sqrt(np.bincount(question_of, centred**2) / n_options)[question_of]
    # Below float noise the options are equally alike: no option stands out.
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 1e-6)


def design(
    answers: Answers, weights: np.ndarray, prior: np.ndarray, lean: np.ndarray, central: np.ndarray
) -> CandidateDesign:
    popular = weights @ answers.share
    # In place and freed as soon as used: each people x options array is 0.7 GB at OpinionQA's size
    # (46,170 x 1,876); the out-of-place version held five at once (its setting-3 run peaked at 6.8 GB).
    excess = answers.chosen - answers.share[None, :]
    excess *= answers.asked
    personal = excess @ weights.T
    del excess
    mass = answers.asked @ weights.T
    has_mass = mass > 1e-9
    np.divide(personal, mass, out=personal, where=has_mass)
    del mass
    personal[~has_mass] = 0.0
    return CandidateDesign(popular, personal, np.log(prior), lean, central)


def pair_options(problem: Problem, person: np.ndarray, question: np.ndarray) -> np.ndarray:
    """[n, K_max] flat option index of each pair's options in position order, -1 beyond its K."""
    n_options = problem.n_options[question]
    slots = np.arange(problem.n_options.max())[None, :]
    index = problem.offsets[question][:, None] + slots
    return np.where(slots < n_options[:, None], index, -1)


def _nll(theta: np.ndarray, features: np.ndarray, valid: np.ndarray, answer: np.ndarray):
    logits = np.where(valid, features @ theta, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    total = probs.sum(axis=1, keepdims=True)
    probs /= total
    rows = np.arange(len(answer))
    value = -(logits[rows, answer] - np.log(total[:, 0])).mean()
    gradient = -(features[rows, answer] - (probs[..., None] * features).sum(axis=1)).mean(axis=0)
    return value, gradient


def _fit_one(features: np.ndarray, valid: np.ndarray, answer: np.ndarray) -> np.ndarray:
    start = np.array([1.0 if name == "prior" else 0.0 for name in COEFFICIENTS])
    return minimize(_nll, start, args=(features, valid, answer), jac=True, method="L-BFGS-B").x


def fit(
    features: np.ndarray, valid: np.ndarray, answer: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    """[len(KINDS), 5] maximum-likelihood weights per question kind, each on the pairs of
    :data:`FIT_KINDS` (start: the position prior alone). A kind without training pairs takes the
    weights fitted on all pairs."""
    theta = np.empty((len(KINDS), len(COEFFICIENTS)))
    pooled = None
    for k in range(len(KINDS)):
        rows = np.isin(kind, FIT_KINDS[k])
        if rows.any():
            theta[k] = _fit_one(features[rows], valid[rows], answer[rows])
        else:
            if pooled is None:
                pooled = _fit_one(features, valid, answer)
            theta[k] = pooled
    return theta


def predict(
    theta: np.ndarray, features: np.ndarray, valid: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    logits = np.where(valid, np.einsum("nkf,nf->nk", features, theta[kind]), -np.inf)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def _fit_pairs(problem: Problem, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    person, question = np.nonzero(problem.part == TRAIN)
    if (
        len(person) > max_pairs
    ):  # a seeded subsample keeps the fit's memory bounded on large surveys
        keep = np.sort(np.random.default_rng(seed).choice(len(person), max_pairs, replace=False))
        person, question = person[keep], question[keep]
    return person, question


def option_features(
    problem: Problem, choices: list[str], variants: dict[str, np.ndarray], options: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Each variant's [C, d] rows in the problem's flat option order (the last layer of layered ones)."""
    ordered = options.astype({"question": str}).sort_values(["question", "position"])
    ordered = ordered.set_index("question").loc[problem.questions, "choice"]
    lookup = pd.Series(np.arange(len(choices)), index=pd.Index(choices))
    missing = ~ordered.isin(lookup.index)
    if missing.any():
        raise InputDataError(
            "features",
            "choices",
            f"option {ordered[missing].iloc[0]!r} has no features row",
            "rebuild the text embeddings or hidden states for this dataset",
        )
    rows = lookup.loc[ordered].to_numpy()
    return {
        name: states.reshape(len(choices), -1, states.shape[-1])[rows, -1]
        for name, states in variants.items()
    }


@dataclass(frozen=True)
class SimilarModel:
    """A fitted ``similar-<features>`` model that scores the options of questions nobody has answered.

    Holds the training answers (training options only) and the selected candidate; a new option is
    scored exactly as a held-out one: its neighbours are all training options, the position prior and
    each person's lean are rates over all training questions with the option's K.
    """

    people: np.ndarray  # [N] individual ids (str)
    chosen: np.ndarray  # [N, C] 1 where the person's training answer is this option
    asked: np.ndarray  # [N, C] 1 on every option of a training question the person answered
    question_of: np.ndarray  # [C]
    position: np.ndarray  # [C]
    n_options: np.ndarray  # [C]
    features: np.ndarray  # [C, d] the selected variant's features of the training options
    theta: np.ndarray  # [len(KINDS), len(COEFFICIENTS)]
    temperature: float
    neighbours: int
    smoothing: float
    shrinkage: float

    def support(self, features: np.ndarray, question_of: np.ndarray) -> np.ndarray:
        """Per new question, the mean over its options of the cosine similarity to the most similar
        training option: how close the panel's answered questions come to it (1 = an option it has
        answered, word for word)."""
        nearest = (_unit(features) @ _unit(self.features).T).max(axis=1)
        return np.bincount(question_of, nearest) / np.bincount(question_of)

    def probabilities(
        self, features: np.ndarray, question_of: np.ndarray, ordinal: np.ndarray | None = None
    ) -> np.ndarray:
        """[N, c] every person's answer distribution over ``c`` new options (features [c, d]), each
        new question (``question_of`` [c], contiguous blocks in position order) summing to 1.
        ``ordinal``: per new question, whether its options are on an ordered scale (None: none is)."""
        chosen, asked = self.chosen.astype(np.float64), self.asked.astype(np.float64)
        n_asked = asked.sum(axis=0)
        share = np.divide(
            chosen.sum(axis=0), n_asked, out=np.zeros(len(n_asked)), where=n_asked > 0
        )
        weights = top_weights(
            _unit(features) @ _unit(self.features).T,
            np.ones((len(features), len(self.features)), dtype=bool),
            self.temperature,
            self.neighbours,
        )
        popular = weights @ share
        mass = asked @ weights.T
        excess = (chosen - share[None, :]) * asked
        personal = np.divide(excess @ weights.T, mass, out=np.zeros_like(mass), where=mass > 1e-9)

        sizes = np.bincount(question_of)
        n_options = sizes[question_of]
        position = np.arange(len(question_of)) - (np.cumsum(sizes) - sizes)[question_of]
        slots = pd.MultiIndex.from_arrays([self.n_options, self.position])
        slot_id, slot_keys = pd.factorize(slots)
        one_hot = np.zeros((len(slot_id), len(slot_keys)))
        one_hot[np.arange(len(slot_id)), slot_id] = 1.0
        picked_slot, asked_slot = chosen @ one_hot, asked @ one_hot  # [N, S]
        new_slot = slot_keys.get_indexer(pd.MultiIndex.from_arrays([n_options, position]))
        seen = new_slot >= 0
        uniform = 1.0 / n_options
        column = np.where(seen, new_slot, 0)
        strength = self.smoothing * n_options
        prior = np.where(
            seen,
            (picked_slot.sum(axis=0)[column] + strength * uniform)
            / (asked_slot.sum(axis=0)[column] + strength),
            uniform,
        )
        rate = (picked_slot[:, column] + self.shrinkage * prior) / (
            asked_slot[:, column] + self.shrinkage
        )
        lean = np.where(seen[None, :], rate - prior, 0.0)
        central = centrality(features, question_of)

        stacked = np.stack(
            [
                np.broadcast_to(popular, personal.shape),
                personal,
                np.broadcast_to(np.log(prior), personal.shape),
                lean,
                np.broadcast_to(central, personal.shape),
            ],
            axis=-1,
        )
        ordered = None if ordinal is None else np.asarray(ordinal, dtype=bool)[question_of]
        logits = np.einsum("ncf,cf->nc", stacked, self.theta[question_kind(n_options, ordered)])
        out = np.empty_like(logits)
        for q in np.unique(question_of):
            block = question_of == q
            z = np.exp(logits[:, block] - logits[:, block].max(axis=1, keepdims=True))
            out[:, block] = z / z.sum(axis=1, keepdims=True)
        return out


@dataclass(frozen=True)
class SimilarFit:
    predictions: pd.DataFrame  # val and test pairs (predictions_frame)
    info: dict
    model: SimilarModel
    # Training pairs scored as if their question were new (its own options never neighbours, its own
    # answer never in the lean): [n] person and question indices and [n, K_max] probabilities.
    train_person: np.ndarray
    train_question: np.ndarray
    train_probs: np.ndarray
    problem: Problem


def fit_similar(
    data,
    split: pd.DataFrame,
    choices: list[str],
    variants: dict[str, np.ndarray],
    *,
    temperatures: list[float],
    neighbours: list[int],
    shrinkage: float,
    smoothing: float = 1.0,
    max_fit_pairs: int = 300_000,
    seed: int = 0,
) -> SimilarFit:
    """Fit every (variant, temperature, neighbours) candidate on training pairs, keep the one most
    accurate on them (features left out question by question), predict validation and test pairs with
    it."""
    problem = build_problem(data, split)
    answers = training_answers(problem)
    prior = left_out_position_prior(answers, smoothing)
    lean = slot_rates(answers.chosen, answers.asked, answers, prior, shrinkage) - prior
    features = option_features(problem, choices, variants, data.options)
    kind = question_kind(problem.n_options, problem.ordinal)

    fit_person, fit_question = _fit_pairs(problem, max_fit_pairs, seed)
    fit_options = pair_options(problem, fit_person, fit_question)
    fit_answer = problem.answer[fit_person, fit_question]
    pairs = EvalPairs.of(problem)
    eval_options = pair_options(problem, pairs.person, pairs.question)
    is_val = pairs.part == VAL

    candidates, best = [], None
    for name, temperature, k in itertools.product(features, temperatures, neighbours):
        weights = neighbour_weights(features[name], answers, temperature, k)
        table = design(
            answers, weights, prior, lean, centrality(features[name], answers.question_of)
        )
        fit_features = table.stack(fit_person, fit_options)
        theta = fit(fit_features, fit_options >= 0, fit_answer, kind[fit_question])
        fitted = predict(theta, fit_features, fit_options >= 0, kind[fit_question])
        train = accuracy(fitted, fit_answer, valid=fit_options >= 0)
        probs = predict(
            theta, table.stack(pairs.person, eval_options), eval_options >= 0, kind[pairs.question]
        )
        val = (
            accuracy(probs[is_val], pairs.answer[is_val], valid=eval_options[is_val] >= 0)
            if is_val.any()
            else None
        )
        row = {"variant": name, "temperature": temperature, "neighbours": k}
        candidates.append({**row, "train_accuracy": train, "val_accuracy": val})
        log.info("similar questions %s: training accuracy %.4f, val accuracy %s", row, train, val)
        if best is None or train > best[0]:
            best = (train, val, row, theta, probs, fitted)
        # The next candidate's design is built before this name is rebound: free this one first.
        del table, fit_features
    train, val, selected, theta, probs, fitted = best
    predictions = predictions_frame(problem, pairs, padded([probs], problem.n_options.max()))
    info = {
        "selected": selected,
        "selected_on": "training accuracy, each training question left out of its own features",
        "train_accuracy": train,
        "val_accuracy": val,
        "coefficients": {
            kind_name: dict(zip(COEFFICIENTS, map(float, kind_theta), strict=True))
            for kind_name, kind_theta in zip(KINDS, theta, strict=True)
        },
        "candidates": candidates,
        "n_fit_pairs": len(fit_person),
        "shrinkage": shrinkage,
        "smoothing": smoothing,
    }
    keep = answers.train_option
    model = SimilarModel(
        people=problem.people,
        chosen=answers.chosen[:, keep].astype(np.uint8),
        asked=answers.asked[:, keep].astype(np.uint8),
        question_of=answers.question_of[keep],
        position=answers.position[keep],
        n_options=answers.n_options[keep],
        features=features[selected["variant"]][keep],
        theta=theta,
        temperature=float(selected["temperature"]),
        neighbours=int(selected["neighbours"]),
        smoothing=smoothing,
        shrinkage=shrinkage,
    )
    return SimilarFit(predictions, info, model, fit_person, fit_question, fitted, problem)


def similar_questions(
    data, split: pd.DataFrame, choices, variants, **options
) -> tuple[pd.DataFrame, dict]:
    """:func:`fit_similar`'s predictions and run info."""
    result = fit_similar(data, split, choices, variants, **options)
    return result.predictions, result.info
