"""Cross-fitted validation figures: a method's own choices on validation must not flatter the figure the
leaderboard picks methods on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gemsflow.evaluation.selection import (
    cross_fitted_choice,
    held_out_accuracy,
    out_of_fold_frame,
    out_of_fold_predictions,
    validation_folds,
)


def test_each_fold_is_predicted_by_the_candidate_best_on_the_other_folds():
    fold = np.array([0, 0, 1, 1, 2, 2])
    credit = np.array(
        [
            [1, 1, 0, 0, 0, 0],  # best on fold 0 only
            [0, 0, 1, 1, 1, 0],  # best on folds 1 and 2
            [0, 0, 0, 0, 1, 1],  # best on fold 2 only
        ],
        dtype=float,
    )
    # Outside fold 0, candidate 1 is best (3 of 4 pairs); outside fold 1, candidates 0 and 2 tie at 2 of 4
    # and the earlier wins; outside fold 2, candidates 0 and 1 tie at 2 of 4.
    assert held_out_accuracy(credit[1], fold).tolist() == [0.75, 0.25, 0.5]
    assert cross_fitted_choice(credit, fold).tolist() == [1, 0, 0]
    probs = np.arange(3)[:, None, None] * np.ones((3, 6, 2))
    oof, chosen = out_of_fold_predictions(probs, credit, fold)
    assert oof[:, 0].tolist() == [1, 1, 0, 0, 0, 0] and chosen.tolist() == [1, 0, 0]


def test_out_of_fold_figure_of_many_noise_candidates_stays_at_chance():
    # 40 candidates that are right on a random half of the pairs: the best of them on validation looks
    # well above chance on those same pairs, while the cross-fitted figure does not.
    rng = np.random.default_rng(0)
    units = pd.Series(np.repeat([f"p{i:02d}" for i in range(60)], 20))
    in_sample, out_of_fold = [], []
    for seed in range(20):
        credit = (rng.random((40, len(units))) < 0.5).astype(float)
        fold = validation_folds(units, 2, seed)
        in_sample.append(credit.mean(axis=1).max())
        oof, _ = out_of_fold_predictions(credit[:, :, None], credit, fold)
        out_of_fold.append(oof[:, 0].mean())
    assert np.mean(in_sample) > 0.53
    assert np.mean(out_of_fold) == pytest.approx(0.5, abs=0.01)


def test_folds_split_units_not_pairs_and_depend_on_the_seed():
    units = pd.Series(["b", "a", "c", "a", "d", "b", "c", "d"])
    fold = validation_folds(units, 2, 0)
    assert all(len(set(fold[units == u])) == 1 for u in units.unique())
    assert sorted(np.bincount(fold)) == [4, 4]
    assert any(not np.array_equal(validation_folds(units, 2, s), fold) for s in range(1, 10))


def test_a_single_validation_unit_keeps_the_in_sample_choice():
    # One validation question (a small survey's question-axis split) has no other fold to choose on.
    units = pd.Series(["q7"] * 4)
    fold = validation_folds(units, 2, 0)
    assert fold.tolist() == [0, 0, 0, 0]
    credit = np.array([[0, 1, 0, 0], [1, 1, 1, 0]], dtype=float)
    assert cross_fitted_choice(credit, fold).tolist() == [1]
    assert sorted(np.unique(validation_folds(pd.Series(["a", "b", "c"]), 5, 0))) == [0, 1, 2]


def test_a_long_predictions_frame_takes_each_folds_validation_rows_from_its_own_choice():
    # Two candidates over people a (fold 0) and b (fold 1), one validation pair each, plus a test pair.
    rows = pd.DataFrame(
        {
            "individual": ["a", "a", "b", "b", "c", "c"],
            "question": "q",
            "part": ["val", "val", "val", "val", "test", "test"],
            "code": [1, 2, 1, 2, 1, 2],
        }
    )
    first = rows.assign(prob=[0.9, 0.1, 0.9, 0.1, 0.9, 0.1])
    second = rows.assign(prob=[0.2, 0.8, 0.2, 0.8, 0.2, 0.8])
    # Candidate 0 is right for a only, candidate 1 for b and better overall (tie 1 vs 1 broken by
    # a third pair of b that only candidate 1 gets right).
    credit = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    units = pd.Series(["a", "b", "b"])
    fold = np.array([0, 1, 1])
    out, best, chosen = out_of_fold_frame([first, second], credit, units, fold, "individual")
    assert best == 1 and chosen.tolist() == [1, 0]
    # a's rows come from the choice made on b (candidate 1), b's from the choice made on a (candidate 0);
    # test rows stay with the candidate best on all validation pairs.
    assert out["prob"].tolist() == [0.2, 0.8, 0.9, 0.1, 0.2, 0.8]
