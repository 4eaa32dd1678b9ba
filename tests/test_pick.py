"""The leaderboard's leads over the best floor (paired intervals) and its noise-honest pick."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_evaluation import tiny_data, tiny_predictions, tiny_split

from gemsflow.evaluation import leaderboard as lb
from gemsflow.evaluation.metrics import part_accuracy
from gemsflow.evaluation.pick import Lead, paired_leads, person_credit, pick


def _credits(per_person: np.ndarray, pairs: int = 10) -> pd.DataFrame:
    """Person credit sums as person_credit gives them: ``pairs`` pairs per person."""
    ids = [f"p{i:04d}" for i in range(len(per_person))]
    return pd.DataFrame({"credit": per_person * pairs, "n": float(pairs)}, index=ids)


def test_paired_interval_sees_a_lead_that_separate_intervals_hide():
    """People differ far more in how predictable they are than the two methods differ: resampling the
    same people for both methods cancels that, so a steady +1 point is clear of 0."""
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0.2, 0.9, size=400)
    floor = _credits(difficulty)
    method = _credits(np.clip(difficulty + 0.01 + rng.normal(0, 0.005, 400), 0, 1))
    leads = paired_leads({("floor", 1): floor, ("m", 1): method}, "floor", ["m"], n_boot=500)
    lead = leads["m"]
    assert lead.mean == pytest.approx((method["credit"].sum() - floor["credit"].sum()) / 4000)
    assert 0 < lead.low < lead.mean < lead.high
    # Each method alone: bootstrap intervals of the two accuracies overlap widely.
    counts = np.random.default_rng(1).multinomial(400, np.full(400, 1 / 400), size=500)
    alone = {
        name: np.quantile(
            counts @ c["credit"].to_numpy() / (counts @ c["n"].to_numpy()), [0.025, 0.975]
        )
        for name, c in (("floor", floor), ("m", method))
    }
    assert alone["m"][0] < alone["floor"][1]


def test_seed_mean_lead_and_missing_runs():
    same = _credits(np.full(50, 0.5))
    better = _credits(np.full(50, 0.6))
    credits = {("floor", 1): same, ("floor", 2): same, ("m", 1): better, ("m", 2): same}
    lead = paired_leads(credits, "floor", ["m"], n_boot=200)["m"]
    assert lead.mean == pytest.approx(0.05)  # (0.10 + 0.00) / 2
    del credits[("m", 2)]
    with pytest.raises(Exception, match="m has no run for seed 2"):
        paired_leads(credits, "floor", ["m"], n_boot=10)


def test_pick_declines_a_noise_winner_and_crowns_a_clear_one():
    val = pd.Series({"majority": 0.573, "subgroup_majority": 0.575, "sage": 0.577, "logreg": 0.576})
    noisy = {"sage": Lead(0.002, -0.004, 0.012), "logreg": Lead(0.001, -0.003, 0.009)}
    chosen = pick(val, noisy)
    # Neither a floor (subgroup_majority is best on validation among floors) nor the noise winner.
    assert chosen.method is None and chosen.floor == "subgroup_majority"
    assert "No pick" in chosen.note and "sage +0.20 pts" in chosen.note
    clear = {"sage": Lead(0.002, -0.004, 0.012), "logreg": Lead(0.008, 0.002, 0.014)}
    chosen = pick(val, clear)
    assert chosen.method == "logreg" and chosen.note.startswith("Pick: logreg")
    # Every method behind the floor beyond noise (OpinionQA-shaped setting 3): said so, not called a tie.
    behind = {"sage": Lead(-0.0234, -0.0258, -0.0212), "logreg": Lead(-0.03, -0.035, -0.025)}
    note = pick(val, behind).note
    assert "every method trails the best floor (subgroup_majority)" in note
    assert "sage, leads it by -2.34 pts" in note and "includes 0" not in note
    # A placeholder (random weights) is never picked, however it scores.
    val["zeroshot-tiny"] = 0.9
    clear["zeroshot-tiny"] = Lead(0.3, 0.2, 0.4)
    assert pick(val, clear, placeholders=["zeroshot-tiny"]).method == "logreg"


def test_person_credit_agrees_with_the_scorer():
    data, split, predictions = tiny_data(), tiny_split(), tiny_predictions()
    credit = person_credit(predictions, data, split, "test")
    assert credit["credit"].sum() / credit["n"].sum() == pytest.approx(
        part_accuracy(predictions, data, split, "test")
    )


def test_leaderboard_leads_and_pick_from_credits(tmp_path):
    from test_report import fake_run

    rng = np.random.default_rng(3)
    difficulty = rng.uniform(0.3, 0.8, size=300)
    base = _credits(difficulty)
    ahead = _credits(np.clip(difficulty + 0.03, 0, 1))
    credits = {}
    for seed in (1, 2):
        for part in ("val", "test"):
            credits[("majority", seed, part)] = base
            credits[("gnn", seed, part)] = ahead
            credits[("zeroshot-tiny", seed, part)] = ahead
    paths = []
    for method, acc in (("majority", 0.6), ("gnn", 0.63), ("zeroshot-tiny", 0.63)):
        for seed in (1, 2):
            path = fake_run(tmp_path, method, seed, acc)
            metrics = json.loads(path.read_text())
            metrics["parts"]["val"] = {"accuracy": acc}
            path.write_text(json.dumps(metrics))
            paths.append(path)
    board = lb.build_leaderboard(
        paths, credits=credits, placeholders=["zeroshot-tiny"], bootstrap={"n_boot": 300}
    ).set_index("method")
    assert board.loc["gnn", "lead_mean"] == pytest.approx(
        ahead["credit"].sum() / 3000 - base["credit"].sum() / 3000
    )
    assert board.loc["gnn", "val_lead_low"] > 0
    assert board.loc["gnn", "selected"] and not board.loc["zeroshot-tiny", "selected"]
    shown = lb.short_table(board.reset_index()).set_index("Method")
    assert "zeroshot-tiny (placeholder)" in shown.index
    assert shown.loc["gnn", "Test lead over best floor (pts)"].startswith("+3.0")
    assert shown.loc["majority (best floor)", "Test lead over best floor (pts)"] == "reference"
