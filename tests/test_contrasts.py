"""Contrasts between groups: the statistics a simulated breakdown is judged by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gemsflow.simulation import contrasts


def shares_frame(observed: dict, predicted: dict, n: dict) -> pd.DataFrame:
    """One question, trait ``party``, two options: group -> (share of option 0)."""
    rows = []
    for group in observed:
        for position in (0, 1):
            obs = observed[group] if position == 0 else 1 - observed[group]
            pred = predicted[group] if position == 0 else 1 - predicted[group]
            rows.append(("q1", "party", group, position, n[group], obs, pred))
    rows += [("q1", "all", "all", 0, sum(n.values()), 0.5, 0.5)]
    return pd.DataFrame(
        rows, columns=["question", "trait", "group", "position", "n", "observed", "pred"]
    )


def test_a_prediction_that_carries_the_observed_gaps_scores_perfectly_and_a_flat_one_does_not():
    observed = {"dem": 0.7, "rep": 0.3, "ind": 0.5}
    n = {"dem": 100, "rep": 100, "ind": 50}
    exact = contrasts.pair_contrasts(shares_frame(observed, observed, n), ["observed", "pred"], 10)
    # 3 pairs x 2 options; the population row never enters.
    assert len(exact) == 6 and set(exact["trait"]) == {"party"}
    stats = contrasts.contrast_statistics(
        exact["observed"].to_numpy(), exact["pred"].to_numpy(), exact["weight"].to_numpy(), 0.05
    )
    assert stats["correlation"] == pytest.approx(1.0)
    assert stats["sign_agreement"] == 1.0 and stats["rmse"] == pytest.approx(0.0)

    flat = {group: 0.5 for group in observed}
    pairs = contrasts.pair_contrasts(shares_frame(observed, flat, n), ["observed", "pred"], 10)
    stats = contrasts.contrast_statistics(
        pairs["observed"].to_numpy(), pairs["pred"].to_numpy(), pairs["weight"].to_numpy(), 0.05
    )
    # No contrast: undefined correlation, a coin toss on signs, the RMSE of the observed gaps.
    assert np.isnan(stats["correlation"]) and stats["sign_agreement"] == 0.5
    assert stats["rmse"] == pytest.approx(stats["rmse_no_contrast"])
    # dem - rep = 0.4 (weight 50), dem - ind = rep - ind = 0.2 in size (weight 100/3), both options.
    expected = np.sqrt((50 * 0.16 + 2 * (100 / 3) * 0.04) / (50 + 2 * 100 / 3))
    assert stats["rmse_no_contrast"] == pytest.approx(expected)

    reversed_gaps = {"dem": 0.3, "rep": 0.7, "ind": 0.5}
    pairs = contrasts.pair_contrasts(
        shares_frame(observed, reversed_gaps, n), ["observed", "pred"], 10
    )
    table = contrasts.summarise(pairs, "observed", ["pred"], 0.05)
    row = table.loc[table["trait"] == contrasts.OVERALL].iloc[0]
    assert row["correlation"] == pytest.approx(-1.0) and row["sign_agreement"] == 0.0


def test_groups_under_the_minimum_size_and_small_gaps_are_left_out_where_they_should_be():
    observed = {"dem": 0.7, "rep": 0.3, "tiny": 0.9}
    n = {"dem": 100, "rep": 100, "tiny": 5}
    pairs = contrasts.pair_contrasts(shares_frame(observed, observed, n), ["observed", "pred"], 10)
    assert set(zip(pairs["group_a"], pairs["group_b"], strict=True)) == {("dem", "rep")}
    # A 3-point gap counts for correlation and RMSE but not for sign agreement.
    x = np.array([0.03, -0.03])
    stats = contrasts.contrast_statistics(x, -x, np.ones(2), 0.05)
    assert stats["n_large"] == 0 and np.isnan(stats["sign_agreement"])
    assert stats["correlation"] == pytest.approx(-1.0)


def test_coverage_counts_observed_shares_inside_the_interval():
    frame = pd.DataFrame(
        {
            "question": "q1",
            "trait": ["party"] * 4 + ["all"],
            "group": ["a", "a", "b", "b", "all"],
            "position": [0, 1, 0, 1, 0],
            "n": [50, 50, 50, 50, 100],
            "observed": [0.6, 0.4, 0.2, 0.8, 0.4],
            "lo": [0.5, 0.3, 0.3, 0.7, 0.0],
            "hi": [0.7, 0.5, 0.4, 0.9, 0.1],
        }
    )
    table = contrasts.coverage(frame, "observed", {"m": ("lo", "hi")}, 10)
    overall = table.loc[table["trait"] == contrasts.OVERALL].iloc[0]
    assert overall["coverage"] == 0.75 and overall["n"] == 4


def test_split_halves_are_seeded_balanced_and_ignore_the_order_people_come_in():
    people = np.array([f"p{i}" for i in range(11)])
    half = contrasts.split_halves(people, 5)
    assert half.sum() == 5
    shuffled = people[::-1]
    again = contrasts.split_halves(shuffled, 5)
    assert set(people[half]) == set(shuffled[again])
    assert set(people[contrasts.split_halves(people, 6)]) != set(people[half])
