"""The GEMS-layout reader on the real Twin and Dunning–Kruger files, and its errors on bad input."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from gemsflow.data.datasets import load_source
from gemsflow.errors import InputDataError


def test_twin_counts_match_the_spec(real_dataset):
    data = real_dataset("twin")
    assert data.counts() == {
        "individuals": 2058,
        "questions": 146,
        "options": 539,
        "responses": 287_276,
    }
    per_question = data.questions["n_options"].value_counts().to_dict()
    assert per_question[2] == 71 and per_question[16] == 1
    assert data.individuals[data.trait_names].notna().all().all()
    assert data.options.iloc[0]["choice"] == "BLOCK10QID126_W1_option_1"


def test_dunning_kruger_subgroups_are_real(real_dataset):
    """The reference's DK trait strings matched no subgroup (zero membership edges); here every
    person belongs to one subgroup per trait, and the vocabulary has the reference's 102 subgroups."""
    data = real_dataset("dunning_kruger")
    assert data.counts()["responses"] == 63_840
    assert sum(len(t.categories) for t in data.traits) == 102
    assert data.individuals[data.trait_names].notna().all().all()
    first = data.individuals.iloc[0]
    assert first["pre_accuracy"] == "get 4 correct"
    assert first["pre_percentile"] == "percentile between 41% and 50%"


@pytest.fixture
def tiny(tmp_path):
    from conftest import TINY_DATASET_ENTRY, write_tiny_gems

    directory = write_tiny_gems(tmp_path / "tiny")
    return directory, {**copy.deepcopy(TINY_DATASET_ENTRY), "dir": str(directory)}


def test_answer_code_not_in_option_map_names_file_and_question(tiny):
    directory, entry = tiny
    path = directory / "tiny_responses.csv"
    table = pd.read_csv(path)
    table.loc[3, "Q2_W1"] = 9
    table.to_csv(path, index=False)
    with pytest.raises(InputDataError) as err:
        load_source("tiny", entry)
    assert err.value.path == str(path)
    assert err.value.field == "Q2_W1"
    assert "9" in str(err.value) and "Fix:" in str(err.value)


def test_missing_json_names_the_file(tiny):
    directory, entry = tiny
    (directory / "tiny_question_strings.json").unlink()
    with pytest.raises(InputDataError) as err:
        load_source("tiny", entry)
    assert err.value.path.endswith("tiny_question_strings.json")


def test_broken_json_names_the_file(tiny):
    directory, entry = tiny
    (directory / "tiny_options_map.json").write_text('{"Q1_W1": {"1.0": "a",')
    with pytest.raises(InputDataError) as err:
        load_source("tiny", entry)
    assert err.value.path.endswith("tiny_options_map.json")


def test_trait_column_missing_from_responses(tiny):
    directory, entry = tiny
    entry["traits"]["income"] = {"column": "INCOME", "description": "Income"}
    with pytest.raises(InputDataError) as err:
        load_source("tiny", entry)
    assert err.value.field == "INCOME"


def test_question_meta_sets_ordinal_flags(tiny):
    directory, entry = tiny
    (directory / "tiny_question_meta.json").write_text(json.dumps({"Q1_W1": {"ordinal": True}}))
    data = load_source("tiny", entry)
    flags = data.questions.set_index("question")["ordinal"]
    assert flags["Q1_W1"] and not flags["Q2_W1"]


def test_min_answers_filter_is_logged(tiny):
    directory, entry = tiny
    data = load_source("tiny", {**entry, "min_answers": 6})
    answered = data.responses.groupby("individual").size()
    assert (answered >= 6).all()
    removed = data.filter_log["removed_individuals"]
    assert removed > 0
    assert data.filter_log["waves"]["1"] == {"individuals_before": 40, "removed": removed}
