"""The synthetic survey: deterministic, in the GEMS layout, and with structure a model can learn."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from gemsflow.data.datasets.synthetic import (
    TRAITS,
    generate_synthetic,
    write_synthetic_gems_layout,
)

FILES = (
    "responses.csv",
    "question_keys.json",
    "question_strings.json",
    "options_map.json",
    "option_strings.json",
    "question_meta.json",
)


def _read_layout(directory, prefix="synthetic"):
    frame = pd.read_csv(directory / f"{prefix}_responses.csv")
    blobs = {
        name: json.loads((directory / f"{prefix}_{name}.json").read_text())
        for name in (
            "question_keys",
            "question_strings",
            "options_map",
            "option_strings",
            "question_meta",
        )
    }
    return frame, blobs


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        write_synthetic_gems_layout(tmp_path / name, n_individuals=60, n_questions=9, seed=seed)
    for file in FILES:
        first = (tmp_path / "a" / f"synthetic_{file}").read_bytes()
        assert first == (tmp_path / "b" / f"synthetic_{file}").read_bytes(), file
    assert (tmp_path / "a" / "synthetic_responses.csv").read_bytes() != (
        tmp_path / "c" / "synthetic_responses.csv"
    ).read_bytes()


def test_layout_matches_the_gems_file_formats(tmp_path):
    write_synthetic_gems_layout(
        tmp_path, prefix="syn", n_individuals=120, n_questions=30, seed=3, missing_rate=0.2
    )
    frame, blobs = _read_layout(tmp_path, prefix="syn")
    keys = blobs["question_keys"]
    assert len(keys) == 30 and len(set(keys)) == 30
    assert all(re.fullmatch(r"[A-Z]+\d+_W1", key) for key in keys)
    assert list(frame.columns) == ["QKEY", *TRAITS, *keys, "WEIGHT_W1"]
    assert frame["QKEY"].is_unique and (frame["WEIGHT_W1"] == 1.0).all()
    # Texts are distinct and non-empty: they are embedded and shown in prompts.
    texts = [blobs["question_strings"][key] for key in keys]
    assert all(texts) and len(set(texts)) == len(texts)

    options_map = blobs["options_map"]
    assert set(options_map) == set(keys) | set(TRAITS)
    for column in [*TRAITS, *keys]:
        codes = {float(code) for code in options_map[column]}
        assert list(options_map[column]) == [f"{i}.0" for i in range(1, len(codes) + 1)]
        observed = set(frame[column].dropna().astype(float))
        assert observed <= codes, column
    # Traits are complete; answers miss at about the requested rate.
    assert frame[list(TRAITS)].notna().all().all()
    assert 0.15 < frame[keys].isna().to_numpy().mean() < 0.25

    blocks = blobs["option_strings"]
    assert len(blocks) == sum(len(options_map[key]) for key in keys)
    key = keys[0]
    options = list(options_map[key].values())
    last = blocks[f"{key}_option_{len(options)}"]
    letter = "ABCDEFGHIJ"[len(options) - 1]
    assert last.startswith(f"Question: {blobs['question_strings'][key]}\nA. {options[0]}\n")
    assert last.endswith(f"\n\nAnswer: {letter}. {options[-1]}")

    meta = blobs["question_meta"]
    assert set(meta) == set(keys)
    ordinal = [key for key in keys if meta[key]["ordinal"]]
    assert 0 < len(ordinal) < len(keys)
    # Ordinal items use ordered scales whose ends are recognisable.
    assert all(
        options_map[key]["1.0"].startswith(("Strongly disagree", "Not at all", "Never"))
        for key in ordinal
    )


def _majority_accuracies(survey, train, test):
    """Test accuracy of per-question majority, per-trait subgroup majority and the oracle."""
    answers = survey.answers
    hits = {"majority": [], "oracle": [], **{name: [] for name in TRAITS}}
    for q, probs in enumerate(survey.probabilities):
        k = probs.shape[1]
        tr, te = train[:, q], test[:, q]
        overall = np.bincount(answers[tr, q], minlength=k).argmax()
        hits["majority"].append(answers[te, q] == overall)
        hits["oracle"].append(probs[te].argmax(axis=1) == answers[te, q])
        for t, name in enumerate(TRAITS):
            groups = survey.traits[:, t]
            counts = np.zeros((groups.max() + 1, k))
            np.add.at(counts, (groups[tr], answers[tr, q]), 1)
            hits[name].append(counts.argmax(axis=1)[groups[te]] == answers[te, q])
    return {name: float(np.concatenate(v).mean()) for name, v in hits.items()}


def _neighbour_accuracy(survey, train, test, n_neighbours=30):
    """Predict a held-out answer by the similarity-weighted vote of people who answered alike."""
    answers = survey.answers
    widths = [p.shape[1] for p in survey.probabilities]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    onehot = np.zeros((len(answers), offsets[-1]))
    rows, cols = np.nonzero(train)
    onehot[rows, offsets[cols] + answers[rows, cols]] = 1.0
    onehot -= onehot.mean(axis=0)
    onehot /= np.linalg.norm(onehot, axis=1, keepdims=True)
    sim = onehot @ onehot.T
    np.fill_diagonal(sim, -np.inf)
    neighbours = np.argsort(-sim, axis=1, kind="stable")[:, :n_neighbours]
    hits = []
    for q in range(answers.shape[1]):
        for i in np.nonzero(test[:, q])[0]:
            nb = neighbours[i][train[neighbours[i], q]]
            votes = np.bincount(
                answers[nb, q], weights=np.maximum(sim[i, nb], 0.0), minlength=widths[q]
            )
            hits.append(votes.argmax() == answers[i, q])
    return float(np.mean(hits))


def test_answers_carry_individual_and_demographic_signal():
    survey = generate_synthetic(n_individuals=800, n_questions=30, seed=5)
    observed = survey.answers >= 0
    held_out = observed & (np.random.default_rng(0).random(observed.shape) < 0.3)
    train = observed & ~held_out

    acc = _majority_accuracies(survey, train, held_out)
    best_subgroup = max(acc[name] for name in TRAITS)
    mean_subgroup = float(np.mean([acc[name] for name in TRAITS]))
    # The oracle that knows each person's attitudes is far above what ignores the person.
    assert acc["oracle"] > acc["majority"] + 0.15
    # Demographics explain part of the attitudes: subgroup majority beats plain majority.
    assert mean_subgroup > acc["majority"] + 0.005
    assert best_subgroup > acc["majority"] + 0.015
    # Other answers of a person reveal more than demographics do.
    assert _neighbour_accuracy(survey, train, held_out) > best_subgroup + 0.05


def test_probabilities_are_distributions_and_ordinal_scores_are_monotone():
    survey = generate_synthetic(n_individuals=200, n_questions=12, seed=1)
    for probs, options in zip(survey.probabilities, survey.option_texts, strict=True):
        assert probs.shape == (200, len(options))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        assert (probs >= 0).all()
    for q, ordinal in enumerate(survey.ordinal):
        if not ordinal:
            continue
        # Cumulative-logit answers: the expected position orders people the same way for every
        # threshold, so it is strictly monotone in the probability of the top option.
        probs = survey.probabilities[q]
        expected = probs @ np.arange(probs.shape[1])
        order = np.argsort(probs[:, -1])
        assert np.all(np.diff(expected[order]) >= -1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_individuals": 0}, {"n_questions": 0}, {"missing_rate": 1.0}, {"missing_rate": -0.1}],
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        generate_synthetic(**kwargs)


def test_gems_loader_reads_the_synthetic_layout(tmp_path):
    from gemsflow.data.datasets.gems_layout import load_gems_layout
    from gemsflow.data.datasets.synthetic import trait_descriptions

    survey = write_synthetic_gems_layout(tmp_path, n_individuals=50, n_questions=8, seed=2)
    traits = {name: {"column": name, "description": d} for name, d in trait_descriptions().items()}
    data = load_gems_layout(
        "synthetic", tmp_path, "synthetic", traits,
        id_column="QKEY", weight_column="WEIGHT_W1", min_answers=1, ordinal="auto",
    )  # fmt: skip
    assert len(data.individuals) == 50
    assert len(data.responses) == int((survey.answers >= 0).sum())
    ordinal = dict(zip(data.questions["question"], data.questions["ordinal"], strict=True))
    assert ordinal == dict(zip(survey.question_keys, survey.ordinal, strict=True))
    assert data.traits[0].categories == TRAITS["age"][1]


def test_generator_config_is_checked():
    from gemsflow.data.datasets.synthetic import check_generator_params
    from gemsflow.errors import InputDataError

    assert check_generator_params({"n_individuals": 10, "missing_rate": 0.1}) == {
        "n_individuals": 10,
        "missing_rate": 0.1,
    }
    with pytest.raises(InputDataError, match="generator.n_people"):
        check_generator_params({"n_people": 10})
    with pytest.raises(InputDataError, match="not an integer"):
        check_generator_params({"n_questions": 2.5})


def test_direction_of_group_differences_follows_the_declared_stance():
    """An ordinal item's answers rise with its topic's factor where its text leans towards the
    topic's pole and fall where it leans against it; a follow-up keeps its statement's stance, so
    its group differences have the same direction."""
    survey = generate_synthetic(n_individuals=2000, n_questions=72, seed=3)
    n_factors = survey.factors.shape[1]
    base = {}
    for q, probs in enumerate(survey.probabilities):
        if not survey.ordinal[q]:
            continue
        assert survey.stances[q] in (-1, 1)
        expected = probs @ np.arange(probs.shape[1])
        r = np.corrcoef(survey.factors[:, q % n_factors], expected)[0, 1]
        assert r * survey.stances[q] > 0.3, survey.question_texts[q]
        base.setdefault(survey.question_texts[q].split(" (Follow-up")[0], []).append(q)
    repeated = [qs for qs in base.values() if len(qs) > 1]
    assert repeated
    for qs in repeated:
        assert len({survey.stances[q] for q in qs}) == 1
    # Nominal items: an option the text places towards the pole gains share with the factor, one
    # placed against it loses share, on average over the survey's items.
    towards, against = [], []
    for q, probs in enumerate(survey.probabilities):
        if survey.ordinal[q]:
            continue
        for o, sign in enumerate(survey.stances[q]):
            r = np.corrcoef(survey.factors[:, q % n_factors], probs[:, o])[0, 1]
            (towards if sign > 0 else against if sign < 0 else []).append(r)
    assert np.mean(towards) > 0.2 and np.mean(against) < -0.2


def test_items_declare_a_stance_for_every_option():
    from gemsflow.data.datasets.synthetic import TOPICS, _item_pool

    for topic in TOPICS:
        ordinal, nominal = _item_pool(topic)
        # Realistic scales: most items of a topic lean its way, some are reversed.
        assert sum(sign > 0 for *_rest, sign in ordinal) > len(ordinal) / 2
        for _text, options, signs in nominal:
            assert len(signs) == len(options) and set(signs) <= {-1, 0, 1}
