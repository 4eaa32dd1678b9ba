"""The evaluation panel: the seeded subsample of held-out people that LLMs on a CPU predict, and on
which every other method is read too, so that the panel table compares like with like."""

from __future__ import annotations

import pandas as pd
import pytest
from test_report import fake_run

from gemsflow.data.splits import Panel
from gemsflow.errors import InputDataError
from gemsflow.evaluation import leaderboard as lb
from gemsflow.evaluation.summary import write_deliverable
from gemsflow.io import read_json, write_json


def held_out_split(n_val: int = 30, n_test: int = 50, n_questions: int = 4) -> pd.DataFrame:
    rows = []
    for part, n in (("train", 20), ("val", n_val), ("test", n_test)):
        for i in range(n):
            for q in range(n_questions):
                rows.append((f"{part}{i:03d}", f"q{q}", part))
    return pd.DataFrame(rows, columns=["individual", "question", "part"])


def test_panel_is_seeded_whole_people_and_a_smaller_panel_is_its_prefix():
    split = held_out_split()
    panel = Panel(val_individuals=5, test_individuals=10, seed=3)
    chosen = panel.individuals(split)
    assert [len(chosen["val"]), len(chosen["test"])] == [5, 10]
    assert all(p.startswith("val") for p in chosen["val"])
    assert chosen == Panel(5, 10, 3).individuals(split.sample(frac=1.0, random_state=0))
    assert chosen != Panel(5, 10, 4).individuals(split)
    small = panel.smaller(2).individuals(split)
    assert small == {"val": chosen["val"][:2], "test": chosen["test"][:2]}
    restricted = panel.restrict(split)
    assert (restricted["part"] == "train").sum() == (split["part"] == "train").sum()
    held = restricted[restricted["part"] != "train"]
    assert sorted(held["individual"].unique()) == sorted(chosen["val"] + chosen["test"])
    assert len(held) == 15 * 4  # every question of each panel person
    # A whole-test-set run's predictions, read on the panel: exactly the panel people's held-out rows.
    predictions = split[split["part"] != "train"].assign(code=1, prob=1.0)
    on_panel = panel.predictions_on(predictions, split)
    assert sorted(map(tuple, on_panel[["individual", "question"]].to_numpy())) == sorted(
        map(tuple, held[["individual", "question"]].to_numpy())
    )
    # More people asked for than held out: all of them.
    assert len(Panel(100, 100).individuals(split)["val"]) == 30


def test_panel_config_takes_the_dataset_override_and_none_when_unset():
    block = {
        "val_individuals": 5,
        "test_individuals": 10,
        "seed": 1,
        "datasets": {"twin": {"test_individuals": 3}},
    }
    assert Panel.from_config(block, "twin") == Panel(5, 3, 1)
    assert Panel.from_config(block, "dunning_kruger") == Panel(5, 10, 1)
    assert Panel.from_config(None, "twin") is None


def _with_panel(path, accuracy, val_accuracy, scope="all", individuals=(5, 10)):
    metrics = read_json(path)
    metrics["panel"] = {
        "seed": 0,
        "individuals": {"val": individuals[0], "test": individuals[1]},
        "accuracy": accuracy,
        "val_accuracy": val_accuracy,
        "log_loss": 1.0,
        "abstain_rate": 0.0,
        "n_test": 120,
        "n_val": 60,
        "accuracy_ci_low": None,
        "accuracy_ci_high": None,
    }
    if scope == "panel":
        metrics["scope"] = "panel"
        metrics["method_info"] = {"model_parameters": 134_515_008}
    write_json(metrics, path)
    return path


@pytest.mark.slow
def test_panel_only_runs_leave_the_main_table_and_every_method_meets_on_the_panel(tmp_path):
    paths = [
        _with_panel(fake_run(tmp_path, "majority", 1, 0.60), 0.55, 0.50),
        _with_panel(fake_run(tmp_path, "majority", 2, 0.62), 0.57, 0.52),
        _with_panel(fake_run(tmp_path, "logreg", 1, 0.66), 0.60, 0.58),
        _with_panel(fake_run(tmp_path, "logreg", 2, 0.67), 0.62, 0.60),
        _with_panel(fake_run(tmp_path, "zeroshot-x", 1, 0.30), 0.30, 0.31, scope="panel"),
        _with_panel(fake_run(tmp_path, "zeroshot-x", 2, 0.34), 0.34, 0.29, scope="panel"),
        _with_panel(
            fake_run(tmp_path, "cot-x", 1, 0.25), 0.25, 0.9, scope="panel", individuals=(2, 2)
        ),
    ]
    board = lb.build_leaderboard(paths)
    # A panel-only LLM never reaches the whole-test table nor its validation pick (cot-x's 0.9 on two
    # validation people would win it).
    assert board["method"].tolist() == ["logreg", "majority"]  # no validation part: by name
    panel = lb.panel_board(paths).set_index("method")
    assert panel.index.tolist() == ["majority", "logreg", "zeroshot-x", "cot-x"]
    assert panel.loc["zeroshot-x", "accuracy_mean"] == pytest.approx(0.32)
    assert panel.loc["zeroshot-x", "accuracy_gain_mean"] == pytest.approx(0.32 - 0.56)
    assert panel.loc["logreg", "accuracy_gain_mean"] == pytest.approx(0.61 - 0.56)
    assert bool(panel.loc["zeroshot-x", "panel_only"]) and not bool(
        panel.loc["logreg", "panel_only"]
    )
    assert panel.loc["cot-x", "people"] == "2/2" and panel.loc["logreg", "people"] == "5/10"
    out = tmp_path / "out"
    lb.write_leaderboard(
        board, out / "lb.tsv", out / "lb.md", out / "lb.html", panel=lb.panel_board(paths)
    )
    md = (out / "lb.md").read_text()
    assert "## On the evaluation panel" in md
    assert "| zeroshot-x (135M, panel only) | 2 | 5/10 | 0.3200 ± 0.0283 |" in md
    assert "| logreg | 2 | 5/10 | 0.6100 ± 0.0141 |" in md
    assert 'id="panel-table"' in (out / "lb.html").read_text()
    # The deliverable accepts a configured method whose rows are in the panel table only.
    delivered = write_deliverable(
        out / "lb.tsv", out / "lb.md", paths, tmp_path / "deliverable", ["logreg", "zeroshot-x"]
    )
    assert delivered["method"].tolist() == ["logreg", "majority"]
    assert "zeroshot-x (135M, panel only)" in (tmp_path / "deliverable/summary.md").read_text()
    with pytest.raises(InputDataError, match="configured method 'gnn' has no row"):
        write_deliverable(out / "lb.tsv", out / "lb.md", paths, tmp_path / "d2", ["gnn"])
    # Runs without panel figures (no evaluation.panel configured) make no panel table.
    (tmp_path / "plain").mkdir()
    assert lb.panel_board([fake_run(tmp_path / "plain", "majority", 1, 0.6)]).empty
