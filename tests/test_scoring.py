"""The common scorer: argmax over the question's own options, micro/macro accuracy, strict input checks."""

from __future__ import annotations

import pandas as pd
import pytest

from gemsflow.errors import InputDataError
from gemsflow.scoring import score
from gemsflow.survey import SurveyData, Trait, build_options_table


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
            ("p2", "q2", "test", 8, 0.2),  # tie -> code 1: right
            ("p3", "q1", "test", 1, 0.5),
            ("p3", "q1", "test", 2, 0.5),  # tie -> code 1: right
            ("p3", "q2", "test", 1, 0.1),
            ("p3", "q2", "test", 2, 0.1),
            ("p3", "q2", "test", 8, 0.8),  # wrong
        ]
    )
    metrics = score(preds, data, split)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["n_test"] == 3
    # q1: 1/1 right, q2: 1/2 right -> macro 0.75
    assert metrics["parts"]["test"]["macro_accuracy"] == pytest.approx(0.75)
    assert metrics["parts"]["val"]["accuracy"] == 1.0
    assert metrics["per_question"]["test"]["q2"] == {"accuracy": 0.5, "n": 2}


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
    uniform = []
    for person, question, part in [
        ("p2", "q1", "val"),
        ("p2", "q2", "test"),
        ("p3", "q1", "test"),
        ("p3", "q2", "test"),
    ]:
        codes = [1, 2] if question == "q1" else [1, 2, 8]
        uniform += [(person, question, part, c, 1 / len(codes)) for c in codes]
    with pytest.raises(InputDataError) as err:
        score(mutate(predictions(uniform)), data, split)
    assert err.value.field == field
