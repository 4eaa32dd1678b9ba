"""similar-<features>: new questions answered from each person's answers to options that read alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_gems_files

from gemsflow.config_checks import is_known_method
from gemsflow.data.datasets import load_source
from gemsflow.data.splits import SplitSpec, make_split
from gemsflow.evaluation.run_metrics import align
from gemsflow.evaluation.scoring import score
from gemsflow.methods.baselines import position_prior
from gemsflow.methods.learners import EvalPairs, build_problem
from gemsflow.methods.similar_questions import (
    COEFFICIENTS,
    centrality,
    pair_options,
    question_kind,
    similar_questions,
    training_answers,
)
from gemsflow.methods.similar_questions import fit as similar_fit
from gemsflow.methods.similar_questions import left_out_position_prior as prior_feature

NEW_QUESTIONS = SplitSpec("question", 0.2, 0.3)
STANCES = ("left", "right", "centre", "unsure")


def load_age_survey(directory, prefix, table, questions_text, options_map):
    """Writes a GEMS-layout survey whose one trait is AGE and loads it."""
    write_gems_files(directory, prefix, table, questions_text, options_map)
    entry = {
        "format": "gems",
        "dir": str(directory),
        "prefix": prefix,
        "id_column": "QKEY",
        "weight_column": "WEIGHT_W1",
        "min_answers": 2,
        "traits": {"age": {"column": "AGE", "description": "Age"}},
    }
    return load_source(prefix, entry)


def write_stance_survey(directory, n_people=240, n_questions=20, seed=0):
    """Each question offers a left, a right, a centre and an unsure option, shuffled: a left-leaning
    person picks the left option 75 % of the time, wherever it sits. Position alone carries nothing."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    leaning = rng.integers(0, 2, n_people)  # 0 left, 1 right
    questions = [f"Q{i}_W1" for i in range(1, n_questions + 1)]
    table = {"QKEY": [str(1000 + i) for i in range(n_people)], "AGE": rng.integers(1, 4, n_people)}
    options_map = {"AGE": {"1.0": "young", "2.0": "middle", "3.0": "old"}}
    for q in questions:
        order = rng.permutation(len(STANCES))  # order[code - 1] = stance of that code
        options_map[q] = {f"{c + 1}.0": f"{STANCES[s]} view on {q}" for c, s in enumerate(order)}
        code_of = {s: c + 1 for c, s in enumerate(order)}
        answers = np.array([code_of[lean] for lean in leaning], dtype=float)
        noise = rng.random(n_people) < 0.25
        answers[noise] = rng.integers(1, len(STANCES) + 1, noise.sum())
        table[q] = answers
    questions_text = {q: f"Where do you stand on {q}?" for q in questions}
    return load_age_survey(directory, "stance", table, questions_text, options_map)


def stance_features(data, seed=0):
    """Text-like features: options of one stance point the same way (plus noise), as an embedder's would."""
    rng = np.random.default_rng(seed)
    choices = data.options["choice"].astype(str).tolist()
    stance = [
        next(i for i, s in enumerate(STANCES) if t.startswith(s)) for t in data.options["text"]
    ]
    states = np.eye(len(STANCES))[stance] + 0.3 * rng.standard_normal((len(choices), len(STANCES)))
    return choices, {"option": states[:, None, :]}


def fit(data, split, features, **overrides):
    choices, variants = features
    options = {"temperatures": [0.1, 0.5], "neighbours": [5, 50], "shrinkage": 5.0, **overrides}
    return similar_questions(data, split, choices, variants, seed=3, **options)


@pytest.fixture(scope="module")
def stance(tmp_path_factory):
    data = write_stance_survey(tmp_path_factory.mktemp("stance") / "stance")
    return data, make_split(data, NEW_QUESTIONS, 3), stance_features(data)


def test_reads_each_persons_stance_off_similar_options_where_the_position_prior_cannot(stance):
    data, split, features = stance
    predictions, info = fit(data, split, features)
    parts = align(
        predictions, data, split
    )  # the scorer's contract: every val/test pair, every option
    assert parts["val"].n + parts["test"].n == int(split["part"].isin(["val", "test"]).sum())
    learned = score(predictions, data, split)["parts"]["test"]["accuracy"]
    floor = score(position_prior(data, split)[0], data, split)["parts"]["test"]["accuracy"]
    # 75 % + 25 %/4 of answers follow the person's stance; options are shuffled, so the prior is ~1/4.
    assert floor < 0.35 and learned > 0.7
    assert info["coefficients"]["more_options"]["personal"] > 0


def rewrite_answers(data, split, part):
    """The survey with every answer of ``part`` pairs moved to the next option."""
    pairs = split.loc[split["part"] == part, ["individual", "question"]].astype(str)
    responses = data.responses.astype({"individual": str, "question": str})
    marked = responses.merge(pairs, on=["individual", "question"], how="left", indicator=True)
    hit = (marked["_merge"] == "both").to_numpy()
    n_options = data.options.groupby("question").size()
    shifted = responses.copy()
    shifted.loc[hit, "code"] = (
        shifted.loc[hit, "code"] % shifted.loc[hit, "question"].map(n_options).to_numpy()
    ) + 1
    return type(data)(**{**data.__dict__, "responses": shifted})


@pytest.mark.slow
def test_the_choice_is_made_on_training_questions_so_validation_is_an_untouched_figure(stance):
    data, split, features = stance
    predictions, info = fit(data, split, features)
    best = max(info["candidates"], key=lambda c: c["train_accuracy"])
    assert len(info["candidates"]) == 4
    assert info["selected"] == {k: best[k] for k in ("variant", "temperature", "neighbours")}
    assert info["train_accuracy"] == best["train_accuracy"]
    val = score(predictions, data, split)["parts"]["val"]["accuracy"]
    assert val == pytest.approx(info["val_accuracy"], abs=1e-12)
    # Validation answers choose nothing: rewriting them changes neither the choice nor a test prediction.
    changed, changed_info = fit(rewrite_answers(data, split, "val"), split, features)
    assert changed_info["selected"] == info["selected"]
    test = [p[p["part"] == "test"].reset_index(drop=True) for p in (predictions, changed)]
    pd.testing.assert_frame_equal(*test, check_exact=True)


def kind_pairs(seed: int, n: int, n_kinds: int, followed: dict[int, int]):
    """``n`` three-option pairs with five features each, of random kinds; a pair of kind ``k`` is
    answered by feature ``followed[k]`` (logit 3 x feature, Gumbel noise)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, 3, len(COEFFICIENTS)))
    kind = rng.integers(0, n_kinds, n)
    feature = np.vectorize(followed.get)(kind)
    logits = np.take_along_axis(features, feature[:, None, None], axis=2)[..., 0]
    answer = (3 * logits + rng.gumbel(size=logits.shape)).argmax(axis=1)
    return features, np.ones((n, 3), dtype=bool), answer, kind


def test_two_option_questions_get_weights_of_their_own_and_borrow_all_pairs_weights_without_any():
    features, valid, answer, kind = kind_pairs(0, 4000, 2, {0: 0, 1: 1})
    theta = similar_fit(features, valid, answer, kind)
    assert theta[0, 0] > 2 > abs(theta[0, 1]) and theta[1, 1] > 2 > abs(theta[1, 0])
    longer = kind == 1
    only_longer = similar_fit(features[longer], valid[longer], answer[longer], kind[longer])
    np.testing.assert_allclose(only_longer[0], only_longer[1])
    np.testing.assert_allclose(only_longer[1], theta[1], rtol=1e-4, atol=1e-4)


def test_ordinal_questions_get_weights_fitted_on_ordinal_pairs_alone():
    # Ordinal answers (kind 2) follow feature 2, nominal ones (kind 1) feature 1: the ordinal weights
    # see only ordinal pairs, the nominal ones every longer question.
    features, valid, answer, kind = kind_pairs(1, 6000, 3, {0: 0, 1: 1, 2: 2})
    theta = similar_fit(features, valid, answer, kind)
    assert theta[2, 2] > 2 > abs(theta[2, 1])
    assert theta[1, 1] > 0.3 and theta[1, 2] > 0.3  # a mix of both kinds' features
    longer = kind > 0
    pooled = similar_fit(features[longer], valid[longer], answer[longer], kind[longer] * 0 + 1)
    np.testing.assert_allclose(theta[1], pooled[1], rtol=1e-4, atol=1e-4)
    kinds = question_kind(np.array([2, 2, 4, 4]), np.array([False, True, False, True]))
    assert kinds.tolist() == [0, 0, 1, 2]


@pytest.mark.slow
def test_test_answers_are_never_read_and_reruns_are_identical(stance):
    data, split, features = stance
    first, info = fit(data, split, features)
    again, _ = fit(data, split, features)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    # Rewrite every test answer: neither the fit nor the choice may see them.
    changed, changed_info = fit(rewrite_answers(data, split, "test"), split, features)
    pd.testing.assert_frame_equal(first, changed, check_exact=True)
    assert changed_info["candidates"] == info["candidates"]


def test_the_prior_feature_of_a_new_question_is_the_position_prior_baseline(stance):
    # With every other weight zero the model is the floor itself: held-out options carry the
    # position_prior baseline's probabilities (only training questions leave themselves out).
    data, split, features = stance
    problem = build_problem(data, split)
    pairs = EvalPairs.of(problem)
    options = pair_options(problem, pairs.person, pairs.question)
    prior = prior_feature(training_answers(problem), smoothing=1.0)
    baseline = position_prior(data, split, smoothing=1.0)[0]
    first = baseline.groupby(["individual", "question", "part"], sort=False)["prob"].apply(list)
    ours = {
        (problem.people[i], problem.questions[q]): list(prior[row[row >= 0]])
        for i, q, row in zip(pairs.person, pairs.question, options, strict=True)
    }
    for (person, question, _), probs in first.items():
        np.testing.assert_allclose(ours[(person, question)], probs, rtol=1e-12)


def test_method_names_take_a_configured_feature_key():
    config = {"llm": {"embedders": {"minilm": {}}, "models": {"tiny": {}}}, "gnn": {}}
    assert is_known_method("similar-minilm", config)
    assert is_known_method("similar-tiny", config)
    assert not is_known_method("similar-bert", config)


def write_rephrasing_survey(directory, n_people=200, n_questions=20, seed=0):
    """Each question offers five rephrasings of one sentence; one is right, at a random position, and
    each person picks it 60 % of the time (else another at random). Right options of different
    questions have nothing in common, so only the options of the question itself can point to it."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    questions = [f"Q{i}_W1" for i in range(1, n_questions + 1)]
    table = {"QKEY": [str(1000 + i) for i in range(n_people)], "AGE": rng.integers(1, 4, n_people)}
    options_map = {"AGE": {"1.0": "young", "2.0": "middle", "3.0": "old"}}
    right = {}
    for q in questions:
        right[q] = int(rng.integers(1, 6))
        options_map[q] = {f"{c}.0": f"rephrasing {c} of {q}" for c in range(1, 6)}
        wrong = rng.integers(1, 5, n_people)
        answers = np.where(rng.random(n_people) < 0.6, right[q], wrong + (wrong >= right[q]))
        table[q] = answers.astype(float)
    questions_text = {q: f"Pick the right form for {q}." for q in questions}
    return load_age_survey(directory, "rephrase", table, questions_text, options_map), right


def rephrasing_features(data, right, dim=32, seed=0):
    """The right option sits at its question's sentence vector; each wrong one departs from it in a
    direction of its own, so the right one is the medoid of the five."""
    rng = np.random.default_rng(seed)
    sentence = {q: rng.standard_normal(dim) for q in right}
    rows = [
        sentence[q] + (0 if code == right[q] else 1.5 * rng.standard_normal(dim))
        for q, code in zip(data.options["question"], data.options["code"], strict=True)
    ]
    return data.options["choice"].astype(str).tolist(), {"option": np.array(rows)[:, None, :]}


@pytest.mark.slow
def test_the_option_that_reads_most_like_its_siblings_is_found_in_a_new_question(tmp_path):
    data, right = write_rephrasing_survey(tmp_path / "rephrase")
    split = make_split(data, NEW_QUESTIONS, 3)
    predictions, info = fit(data, split, rephrasing_features(data, right))
    learned = score(predictions, data, split)["parts"]["test"]["accuracy"]
    floor = score(position_prior(data, split)[0], data, split)["parts"]["test"]["accuracy"]
    # The right option draws 60 % of answers; picking it for everyone scores about 0.6.
    assert floor < 0.3 and learned > 0.55
    assert info["coefficients"]["more_options"]["central"] > 0


def test_centrality_marks_the_medoid_and_is_zero_where_no_option_stands_out():
    question_of = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    features = np.array(
        [
            [1.0, 0.0, 0.0],  # question 0: the first option sits between the other two
            [1.0, 1.0, 0.0],
            [1.0, 0.0, 1.0],
            [1.0, 0.0, 0.0],  # question 1: two options are always equally alike
            [0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0],  # question 2: three orthogonal options, none stands out
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    central = centrality(features, question_of)
    assert central[0] > 0 > central[1] and central[1] == pytest.approx(central[2])
    np.testing.assert_allclose(central[3:], 0.0, atol=1e-12)


@pytest.mark.parametrize("ordinal", [False, True])
def test_a_saved_model_scores_new_questions_exactly_as_the_fit_scored_held_out_ones(
    stance, tmp_path, ordinal
):
    # simulate's production model is this fit, saved: a study question must get the probabilities a
    # held-out test question got, or the held-out evidence would not describe the product. With
    # every other question marked ordinal, both kinds of longer question are among the new ones.
    import dataclasses

    from gemsflow.methods import mapping
    from gemsflow.methods.similar_questions import fit_similar
    from gemsflow.simulation.heldout import study_features_from_dataset, test_study
    from gemsflow.simulation.production import load_production_model, save_similar_model, simulate

    data, split, (choices, variants) = stance
    if ordinal:
        marked = data.questions.assign(ordinal=np.arange(len(data.questions)) % 2 == 1)
        data = dataclasses.replace(data, questions=marked)
    result = fit_similar(
        data, split, choices, variants, temperatures=[0.1], neighbours=[5], shrinkage=5.0, seed=3
    )
    save_similar_model(
        tmp_path / "m", result, data, {"features": "f", "embedder": {}, "seed": 3,
                                       "variant": "option", "validation": {}},
    )  # fmt: skip
    assert load_production_model(tmp_path / "m").model.neighbours == 5
    test = sorted(split.loc[split["part"] == "test", "question"].unique())
    features = mapping.MappingFeatures(choices, [0], variants["option"], {}, "option")
    sim = simulate(
        tmp_path / "m",
        test_study(data, test, "t"),
        features=study_features_from_dataset(features, data, test),
        n_boot=0,
    )
    ours = sim.individuals.merge(
        data.options[["question", "position", "code"]], on=["question", "position"]
    )
    fitted = result.predictions.loc[result.predictions["part"] == "test"]
    both = fitted.merge(ours, on=["individual", "question", "code"], suffixes=("_fit", "_sim"))
    assert len(both) == len(fitted)
    np.testing.assert_allclose(both["prob_sim"], both["prob_fit"], atol=1e-6)
    # The prediction interval widens the share by the model's error measured on training questions.
    dist = sim.distributions
    assert sim.info["method"] == "similar-f" and sim.info["interval_sd"]["all"] >= 0
    assert ((dist["lo"] <= dist["share"]) & (dist["share"] <= dist["hi"])).all()
    assert (dist["hi"] - dist["lo"]).min() > 0


def test_support_is_one_for_an_option_the_panel_answered_and_lower_for_one_unlike_them(stance):
    from gemsflow.methods.similar_questions import fit_similar

    data, split, (choices, variants) = stance
    model = fit_similar(
        data, split, choices, variants, temperatures=[0.1], neighbours=[5], shrinkage=5.0, seed=3
    ).model
    answered = model.features[:2]
    unlike = np.full((2, model.features.shape[1]), -1.0)
    support = model.support(np.vstack([answered, unlike]), np.array([0, 0, 1, 1]))
    assert support[0] == pytest.approx(1.0) and support[1] < 0.5
