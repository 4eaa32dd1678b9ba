"""The model-free floors, checked against the figures computed independently in the spec (12.2)."""

from __future__ import annotations

import pandas as pd
import pytest

from gemsflow.data.splits import SplitSpec, make_split
from gemsflow.evaluation.scoring import score
from gemsflow.evaluation.selection import validation_folds
from gemsflow.methods.baselines import majority, subgroup_majority


@pytest.mark.parametrize(
    ("dataset", "setting", "val", "test"),
    [
        ("twin", "setting1", 0.6262, 0.6223),
        ("twin", "setting2", 0.6251, 0.6221),
        ("dunning_kruger", "setting1", 0.5708, 0.5654),
        ("dunning_kruger", "setting2", 0.5623, 0.5657),
    ],
)
@pytest.mark.slow
def test_majority_matches_reference_figures(real_dataset, dataset, setting, val, test):
    from conftest import load_config

    data = real_dataset(dataset)
    split = make_split(data, SplitSpec(**load_config()["settings"][setting]), 42)
    metrics = score(majority(data, split), data, split)
    assert metrics["parts"]["val"]["accuracy"] == pytest.approx(val, abs=1e-4)
    assert metrics["accuracy"] == pytest.approx(test, abs=1e-4)


def test_subgroup_majority_uses_the_informative_trait(tmp_path):
    from conftest import TINY_DATASET_ENTRY, write_tiny_gems

    from gemsflow.data.datasets import load_source

    directory = write_tiny_gems(tmp_path / "tiny", n_people=300)
    data = load_source("tiny", {**TINY_DATASET_ENTRY, "dir": str(directory)})
    split = make_split(data, SplitSpec("individual", 0.2, 0.4, 0.0), 3)
    plain = score(majority(data, split), data, split)
    predictions, info = subgroup_majority(data, split)
    grouped = score(predictions, data, split)
    # In the tiny data, answers follow party; age carries no signal.
    assert info["trait"] == "party"
    # The choice is recorded with the validation figure it was made on.
    assert info["val_accuracy"] == max(info["val_accuracy_by_trait"].values())
    assert grouped["accuracy"] > plain["accuracy"] + 0.2
    # Validation rows are cross-fitted: each fold of people carries the trait chosen on the others.
    people = split.loc[split["part"] == "val", "individual"].astype(str)
    fold_of = dict(zip(people, validation_folds(people, 2, 0), strict=True))
    for j, chosen in enumerate(f["trait"] for f in info["fold_selected"]):
        alone, _ = subgroup_majority(data, split, trait=chosen)
        rows = (predictions["part"] == "val") & (predictions["individual"].map(fold_of) == j)
        assert rows.any()
        assert predictions.loc[rows, "prob"].tolist() == alone.loc[rows, "prob"].tolist()


def _toy_question_split():
    """Three people; train questions t1, t2 (3 options), t3 (2 options); new questions v1, x1, x2."""
    from gemsflow.data.survey import SurveyData, build_options_table

    n_opts = {"t1": 3, "t2": 3, "t3": 2, "v1": 3, "x1": 4, "x2": 2}
    options = build_options_table(
        {q: [(c, f"{q} option {c}") for c in range(1, k + 1)] for q, k in n_opts.items()},
        {q: f"{q}?" for q in n_opts},
    )
    # Codes are positions + 1. t1: 1, 1, 2; t2: 1, 3, 3; t3: 2, 2, 1.
    codes = {
        "t1": [1, 1, 2],
        "t2": [1, 3, 3],
        "t3": [2, 2, 1],
        "v1": [1, 2, 1],
        "x1": [4, 4, 1],
        "x2": [2, 1, 2],
    }
    people = ["p1", "p2", "p3"]
    responses = pd.DataFrame(
        [(p, q, c[i], 1.0) for q, c in codes.items() for i, p in enumerate(people)],
        columns=["individual", "question", "code", "weight"],
    )
    questions = pd.DataFrame(
        {
            "question": list(n_opts),
            "wave": 1,
            "text": [f"{q}?" for q in n_opts],
            "n_options": list(n_opts.values()),
            "ordinal": False,
        }
    )
    individuals = pd.DataFrame({"individual": people, "wave": 1, "weight": 1.0})
    data = SurveyData("toy", individuals, questions, options, responses, ())
    part = {"t1": "train", "t2": "train", "t3": "train", "v1": "val", "x1": "test", "x2": "test"}
    split = responses[["individual", "question"]].assign(part=responses["question"].map(part))
    return data, split


def test_position_prior_equals_a_hand_computation():
    from gemsflow.methods.baselines import position_prior

    data, split = _toy_question_split()
    predictions, info = position_prior(data, split, smoothing=1.0)
    # K=3 training answers by position: 0 -> 3 (t1 twice, t2 once), 1 -> 1, 2 -> 2; +1 each, over 6 + 3.
    # K=2: position 0 -> 1, 1 -> 2; +1 each, over 3 + 2. K=4: no training question -> uniform.
    expected = {"v1": [4 / 9, 2 / 9, 3 / 9], "x1": [0.25] * 4, "x2": [2 / 5, 3 / 5]}
    for (person, question), group in predictions.groupby(["individual", "question"]):
        assert group["prob"].tolist() == pytest.approx(expected[question]), (person, question)
    assert info["fallback_uniform_n_options"] == [4]
    assert info["by_n_options"]["3"] == pytest.approx(expected["v1"])
    metrics = score(predictions, data, split)
    # val: v1 predicts position 0; answers 1, 2, 1 -> 2/3. test: x1 flat (1/4 each pair),
    # x2 predicts position 1 (code 2); answers 2, 1, 2 -> 2 of 3.
    assert metrics["parts"]["val"]["accuracy"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx((3 * 0.25 + 2) / 6)


def test_uniform_scores_mean_one_over_k_and_majority_equals_it_on_new_questions():
    from gemsflow.methods.baselines import uniform

    data, split = _toy_question_split()
    metrics = score(uniform(data, split), data, split)
    assert metrics["parts"]["val"]["accuracy"] == pytest.approx(1 / 3, abs=1e-15)
    assert metrics["accuracy"] == pytest.approx((3 / 4 + 3 / 2) / 6, abs=1e-15)
    # New questions have no training answers: majority is flat there and scores exactly the same.
    flat = score(majority(data, split), data, split)
    assert flat["accuracy"] == metrics["accuracy"]
    assert flat["parts"]["val"]["accuracy"] == metrics["parts"]["val"]["accuracy"]
