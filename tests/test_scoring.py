"""The common scorer: tie-aware accuracy over the question's own options, abstentions, micro/macro
accuracy, strict input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gemsflow.data.survey import SurveyData, Trait, build_options_table
from gemsflow.errors import InputDataError
from gemsflow.evaluation.scoring import score


def small_data() -> tuple[SurveyData, pd.DataFrame]:
    options = build_options_table(
        {"q1": [(1, "yes"), (2, "no")], "q2": [(1, "a"), (2, "b"), (8, "c")]},
        {"q1": "Q1?", "q2": "Q2?"},
    )
    individuals = pd.DataFrame(
        {"individual": ["p1", "p2", "p3"], "wave": 1, "weight": 1.0, "g": ["x", "y", "x"]}
    )
    questions = pd.DataFrame(
        {
            "question": ["q1", "q2"],
            "wave": 1,
            "text": ["Q1?", "Q2?"],
            "n_options": [2, 3],
            "ordinal": False,
        }
    )
    responses = pd.DataFrame(
        {
            "individual": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "question": ["q1", "q2", "q1", "q2", "q1", "q2"],
            "code": [1, 8, 2, 1, 1, 2],
            "weight": 1.0,
        }
    )
    data = SurveyData(
        "small", individuals, questions, options, responses, (Trait("g", "G", ("x", "y")),)
    )
    split = responses[["individual", "question"]].assign(
        part=["train", "train", "val", "test", "test", "test"]
    )
    return data, split


def predictions(rows):
    return pd.DataFrame(rows, columns=["individual", "question", "part", "code", "prob"])


def test_accuracy_micro_macro_and_ties():
    data, split = small_data()
    preds = predictions(
        [
            ("p2", "q1", "val", 1, 0.2),
            ("p2", "q1", "val", 2, 0.8),  # right
            ("p2", "q2", "test", 1, 0.4),
            ("p2", "q2", "test", 2, 0.4),
            ("p2", "q2", "test", 8, 0.2),  # two-way tie containing the answer (1): credit 1/2
            ("p3", "q1", "test", 1, 0.5),
            (
                "p3",
                "q1",
                "test",
                2,
                0.5,
            ),  # flat over 2 options, answer 1: credit 1/2, not "option A"
            ("p3", "q2", "test", 1, 0.1),
            ("p3", "q2", "test", 2, 0.1),
            ("p3", "q2", "test", 8, 0.8),  # wrong
        ]
    )
    metrics = score(preds, data, split)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["n_test"] == 3
    # q1: 1/2, q2: (1/2 + 0) / 2 -> macro 0.375
    assert metrics["parts"]["test"]["macro_accuracy"] == pytest.approx(0.375)
    assert metrics["parts"]["val"]["accuracy"] == 1.0
    assert metrics["per_question"]["test"]["q2"] == {"accuracy": 0.25, "n": 2}
    assert metrics["abstain_rate"] == 0.0


def uniform_rows(pairs):
    rows = []
    for person, question, part in pairs:
        codes = [1, 2] if question == "q1" else [1, 2, 8]
        rows += [(person, question, part, c, 1 / len(codes)) for c in codes]
    return rows


HELD_OUT = [("p2", "q1", "val"), ("p2", "q2", "test"), ("p3", "q1", "test"), ("p3", "q2", "test")]


def test_all_uniform_predictions_score_mean_one_over_k_through_the_scorer():
    data, split = small_data()
    metrics = score(predictions(uniform_rows(HELD_OUT)), data, split)
    # test pairs: q2 (K=3), q1 (K=2), q2 (K=3); every answer is one of the tied options.
    assert metrics["accuracy"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3, abs=1e-15)
    assert metrics["parts"]["val"]["accuracy"] == pytest.approx(1 / 2, abs=1e-15)
    # Calibration: confidence 1/K and tie credit 1/K agree, so a flat predictor is perfectly calibrated.
    assert metrics["calibration"]["test"]["ece"] == pytest.approx(0.0, abs=1e-12)


def test_abstained_pairs_count_zero_score_uniform_and_report_the_rate():
    data, split = small_data()
    preds = predictions(
        [
            ("p2", "q1", "val", 1, 0.2),
            ("p2", "q1", "val", 2, 0.8),
            ("p2", "q2", "test", 1, 1.0),  # right, but abstained: credit 0, scored as uniform
            ("p2", "q2", "test", 2, 0.0),
            ("p2", "q2", "test", 8, 0.0),
            ("p3", "q1", "test", 1, 0.9),  # right
            ("p3", "q1", "test", 2, 0.1),
            ("p3", "q2", "test", 1, 1 / 3),  # flat and abstained: 0, not 1/3
            ("p3", "q2", "test", 2, 1 / 3),
            ("p3", "q2", "test", 8, 1 / 3),
        ]
    )
    preds["abstained"] = [False] * 2 + [True] * 3 + [False] * 2 + [True] * 3
    metrics = score(preds, data, split)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["abstain_rate"] == pytest.approx(2 / 3)
    assert metrics["parts"]["test"]["n_abstained"] == 2
    assert metrics["parts"]["val"]["abstain_rate"] == 0.0
    # Log-loss uses the uniform distribution for abstained pairs, whatever they wrote.
    expected = (np.log(3) - np.log(0.9) + np.log(3)) / 3
    assert metrics["parts"]["test"]["log_loss"] == pytest.approx(expected)


def test_abstention_must_be_per_pair():
    data, split = small_data()
    preds = predictions(uniform_rows(HELD_OUT))
    preds["abstained"] = False
    preds.loc[0, "abstained"] = True  # one option row of (p2, q1) only
    with pytest.raises(InputDataError) as err:
        score(preds, data, split)
    assert err.value.field == "abstained"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p[p["individual"] != "p3"], "individual/question"),  # a held-out pair missing
        (lambda p: p.assign(code=p["code"].where(p["code"] != 8, 3)), "code"),  # not an option
        (lambda p: p.assign(prob=p["prob"] * 2), "prob"),  # not normalised
        (lambda p: p.drop(columns="part"), "part"),
    ],
)
def test_bad_predictions_are_refused(mutate, field):
    data, split = small_data()
    uniform = uniform_rows(HELD_OUT)
    with pytest.raises(InputDataError) as err:
        score(mutate(predictions(uniform)), data, split)
    assert err.value.field == field


def test_letter_scores_without_mass_on_a_real_letter_are_abstentions():
    from gemsflow.methods.llm.letters import from_letter_probs, letter_predictions

    data, split = small_data()
    records = [
        {"individual": p, "question": q, "part": part, "codes": [1, 2] if q == "q1" else [1, 2, 8]}
        for p, q, part in HELD_OUT
    ]
    # (p2, q2) gets no mass on any letter: the model did not answer, although a flat guess would
    # earn 1/3 on it.
    raw = [[0.1, 0.7], [0.0, 0.0, 0.0], [0.6, 0.2], [0.1, 0.1, 0.5]]
    scores = [from_letter_probs(r) for r in raw]
    frame = letter_predictions(records, scores)
    assert frame.groupby(["individual", "question"])["abstained"].first().to_dict() == {
        ("p2", "q1"): False,
        ("p2", "q2"): True,
        ("p3", "q1"): False,
        ("p3", "q2"): False,
    }
    metrics = score(frame, data, split)
    # test: (p2, q2) abstained 0, (p3, q1) answered 1 -> right, (p3, q2) answered 2, predicted 8 -> 0.
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["abstain_rate"] == pytest.approx(1 / 3)
