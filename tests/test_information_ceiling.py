"""benchmarks/information_ceiling.py: the references the accuracy targets are read against must use the
information they name and no more (a person's own answer never predicts itself)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import ROOT, TINY_DATASET_ENTRY, write_tiny_gems

from gemsflow.data.datasets import load_source

spec = importlib.util.spec_from_file_location(
    "information_ceiling", ROOT / "benchmarks" / "information_ceiling.py"
)
information_ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(information_ceiling)


@pytest.mark.slow
def test_other_answers_carry_the_hidden_trait_and_the_own_answer_never_leaks(tmp_path):
    # Answers follow party (70 %, else random), but party is hidden: only age, which carries nothing.
    directory = write_tiny_gems(tmp_path / "tiny", n_people=400)
    entry = {
        **TINY_DATASET_ENTRY,
        "dir": str(directory),
        "traits": {"age": TINY_DATASET_ENTRY["traits"]["age"]},
    }
    data = load_source("tiny", entry)
    table = information_ceiling.ceiling(
        data, folds=5, seed=0, cs=[0.1, 1.0], feature_sets=list(information_ceiling.FEATURE_SETS)
    ).set_index("features")["accuracy"]
    # Age alone is the majority floor, give or take the noise of fitting on 320 people.
    assert abs(table["traits"] - table["majority"]) < 0.03
    # Five other answers reveal the party: well above the floor, and 40 % of them reveal less.
    assert table["traits+all_answers"] > table["majority"] + 0.2
    assert table["traits"] < table["traits+reveal40"] < table["traits+all_answers"]
    # A model that saw the answer it predicts would score 1; party explains 70 % + 30 %/K at best.
    assert table["traits+all_answers"] < 0.85
    # The boosting learner reads the same features and finds the same structure, without the leak.
    boosted = information_ceiling.ceiling(
        data, folds=5, seed=0, cs=[None], feature_sets=["traits+all_answers"]
    ).iloc[0]
    assert boosted["learner"] == "boosting"
    assert table["majority"] + 0.2 < boosted["accuracy"] < 0.85
    # Same folds, same reveal draw: the same figures on a rerun.
    again = information_ceiling.ceiling(
        data, folds=5, seed=0, cs=[0.1, 1.0], feature_sets=["traits+reveal40"]
    ).set_index("features")["accuracy"]
    assert again["traits+reveal40"] == table["traits+reveal40"]


def test_a_known_distribution_scores_each_test_questions_modal_share(tmp_path):
    data = load_source("tiny", {**TINY_DATASET_ENTRY, "dir": str(write_tiny_gems(tmp_path / "t"))})
    pairs = data.responses[["individual", "question", "code"]]
    split = pairs.assign(part=np.where(pairs["question"] == "Q1_W1", "test", "train"))
    reference = information_ceiling.known_distribution(data, split.drop(columns="code"))
    answers = pairs.loc[pairs["question"] == "Q1_W1", "code"]
    assert reference["test_questions"] == 1
    assert reference["known_distribution"] == pytest.approx(
        answers.value_counts(normalize=True).max()
    )
    assert reference["uniform"] == 1 / 4  # Q1 has four options
