"""The model-free floors, checked against the figures computed independently in the spec (12.2)."""

from __future__ import annotations

import pytest

from gemsflow.baselines import majority, subgroup_majority
from gemsflow.scoring import score
from gemsflow.splits import SplitSpec, make_split


@pytest.mark.parametrize(
    ("dataset", "setting", "val", "test"),
    [
        ("twin", "setting1", 0.6262, 0.6223),
        ("twin", "setting2", 0.6251, 0.6221),
        ("dunning_kruger", "setting1", 0.5708, 0.5654),
        ("dunning_kruger", "setting2", 0.5623, 0.5657),
    ],
)
def test_majority_matches_reference_figures(real_dataset, dataset, setting, val, test):
    from conftest import load_config

    data = real_dataset(dataset)
    split = make_split(data, SplitSpec(**load_config()["settings"][setting]), 42)
    metrics = score(majority(data, split), data, split)
    assert metrics["parts"]["val"]["accuracy"] == pytest.approx(val, abs=1e-4)
    assert metrics["accuracy"] == pytest.approx(test, abs=1e-4)


def test_subgroup_majority_uses_the_informative_trait(tmp_path):
    from conftest import TINY_DATASET_ENTRY, write_tiny_gems

    from gemsflow.datasets import load_source

    directory = write_tiny_gems(tmp_path / "tiny", n_people=300)
    data = load_source("tiny", {**TINY_DATASET_ENTRY, "dir": str(directory)})
    split = make_split(data, SplitSpec("individual", 0.2, 0.4, 0.0), 3)
    plain = score(majority(data, split), data, split)
    predictions, info = subgroup_majority(data, split)
    grouped = score(predictions, data, split)
    # In the tiny data, answers follow party; age carries no signal.
    assert info["trait"] == "party"
    assert grouped["accuracy"] > plain["accuracy"] + 0.2
