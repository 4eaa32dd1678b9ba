"""OpinionQA adapter on tiny Pew-like .sav waves written by the tests."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from gemsflow.data.datasets.opinionqa import (
    _income_category,
    load_opinionqa,
    opinionqa_source_files,
)
from gemsflow.data.survey import choice_block
from gemsflow.errors import InputDataError

QUESTION_TEXTS = {
    "GUN_W26": "Do you own a gun?",
    "ECON_W26": "How would you rate economic conditions in your community today?",
    "EVO_W26": "Which statement comes closest to your view about human evolution?",
    "TRUST_W29": "How much do you trust the news media?",
}
# The shipped option strings follow the reference, which dropped ECON_W26's valid last option.
SHIPPED = {
    "GUN_W26": ["Yes", "No"],
    "ECON_W26": ["Excellent", "Good"],
    "EVO_W26": ["Humans evolved", "Humans always existed", "Neither"],
    "TRUST_W29": ["A lot", "Some", "Not at all"],
}
SHIPPED_CODES = {
    "GUN_W26": [1, 2],
    "ECON_W26": [1, 2],
    "EVO_W26": [1, 2, 8],
    "TRUST_W29": [1, 2, 3],
}

LABELS_26 = {
    "GUN_W26": {1: "Yes", 2: "No", 99: "Refused"},
    "ECON_W26": {1: "Excellent", 2: "Good", 3: "Poor"},
    "EVO_W26": {1: "Humans evolved", 2: "Humans always existed", 8: "Neither", 99: "Refused"},
    "F_AGECAT": {1: "18-29", 2: "30-49", 3: "50-64", 4: "65+", 99: "DK/Refused"},
    "F_SEX": {1: "Male", 2: "Female", 99: "Refused"},
    "F_INCOME": {
        1: "Less than $10,000",
        2: "$40,000 to less than $50,000",
        3: "$100,000 to less than $150,000",
        99: "Refused",
    },
    "F_RELIG": {
        1: "Roman Catholic (Catholic)",
        2: "Something else, Specify:______",
        3: "Pastafarian",
        99: "Refused",
    },
}
LABELS_29 = {
    "TRUST_W29": {1: "A lot", 2: "Some", 3: "Not at all", 99: "Refused"},
    "F_GENDER": {1: "A man", 2: "A woman", 3: "In some other way", 99: "Refused"},
}


def _write_texts(directory):
    option_strings = {}
    for question, options in SHIPPED.items():
        for position, code in enumerate(SHIPPED_CODES[question]):
            option_strings[f"{question}_option_{code}"] = choice_block(
                QUESTION_TEXTS[question], options, position
            )
    for kind, obj in (
        ("question_keys", list(QUESTION_TEXTS)),
        ("question_strings", QUESTION_TEXTS),
        ("option_strings", option_strings),
    ):
        (directory / f"opinionqa_{kind}.json").write_text(json.dumps(obj))


def _write_waves(raw, drop_weight=False):
    raw.mkdir(parents=True, exist_ok=True)
    wave26 = pd.DataFrame(
        {
            "QKEY": [101.0, 102.0, 103.0, 104.0],
            "GUN_W26": [1.0, 99.0, 2.0, np.nan],
            "ECON_W26": [3.0, 1.0, 2.0, 3.0],
            "EVO_W26": [8.0, 99.0, 1.0, 2.0],
            "F_AGECAT": [1.0, 4.0, 99.0, 2.0],
            "F_SEX": [1.0, 2.0, 2.0, 99.0],
            "F_INCOME": [1.0, 2.0, 3.0, 99.0],
            "F_RELIG": [1.0, 2.0, 3.0, 1.0],
            "WEIGHT_W26": [0.5, 1.5, 2.0, 1.0],
        }
    )
    if drop_weight:
        wave26 = wave26.drop(columns="WEIGHT_W26")
    wave29 = pd.DataFrame(
        {
            "QKEY": [101.0, 102.0, 105.0],
            "TRUST_W29": [1.0, 3.0, 2.0],
            "F_GENDER": [1.0, 3.0, 2.0],
            "WEIGHT_W29": [1.0, 1.0, 1.0],
        }
    )
    pyreadstat.write_sav(wave26, raw / "ATP W26.sav", variable_value_labels=LABELS_26)
    pyreadstat.write_sav(wave29, raw / "ATP W29.sav", variable_value_labels=LABELS_29)


@pytest.fixture
def entry(tmp_path):
    _write_texts(tmp_path)
    _write_waves(tmp_path / "raw_data")
    return {
        "format": "opinionqa",
        "dir": str(tmp_path),
        "prefix": "opinionqa",
        "traits": ["age", "sex", "income", "relig"],
        "min_answers": 1,
    }


def test_options_drop_refusals_but_keep_a_valid_last_option(entry, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_opinionqa("opinionqa", entry)
    options = data.options_of()
    assert options == {
        "ECON_W26": [1, 2, 3],
        "EVO_W26": [1, 2, 8],
        "GUN_W26": [1, 2],
        "TRUST_W29": [1, 2, 3],
    }
    # Only valid codes are answers: 99 and NaN are skipped, the non-default code 8 is kept.
    answers = data.responses.set_index(["individual", "question"])["code"]
    assert answers[("101_W26", "EVO_W26")] == 8
    assert ("102_W26", "GUN_W26") not in answers.index
    assert ("102_W26", "EVO_W26") not in answers.index
    assert ("104_W26", "GUN_W26") not in answers.index
    assert answers[("104_W26", "ECON_W26")] == 3
    assert len(data.responses) == 4 * 3 - 3 + 3

    table = data.options.set_index("choice")
    # Shipped choice texts where the option set matches; regenerated (with all letters) otherwise.
    assert table.loc["GUN_W26_option_2", "choice_text"] == choice_block(
        QUESTION_TEXTS["GUN_W26"], ["Yes", "No"], 1
    )
    assert table.loc["ECON_W26_option_3", "choice_text"].endswith("C. Poor\n\nAnswer: C. Poor")
    assert table.loc["ECON_W26_option_1", "choice_text"].count("\n") == 5
    assert "ECON_W26" in caplog.text and "regenerated" in caplog.text
    assert list(data.questions["wave"]) == [26, 26, 26, 29]


def test_individuals_are_per_wave_with_weights_and_mapped_traits(entry, caplog):
    entry["traits"] = ["age", "sex", "income", "relig"]
    with caplog.at_level(logging.WARNING):
        data = load_opinionqa("opinionqa", entry)
    people = data.individuals.set_index("individual")
    assert list(people.index) == [
        "101_W26",
        "102_W26",
        "103_W26",
        "104_W26",
        "101_W29",
        "102_W29",
        "105_W29",
    ]
    assert people.loc["101_W29", "wave"] == 29
    assert people.loc["102_W26", "weight"] == 1.5
    assert people.loc["103_W26", "weight"] == 2.0
    assert people.loc["101_W26", "age"] == "18-29"
    assert pd.isna(people.loc["103_W26", "age"])  # refusal: missing, not unknown
    assert people.loc["101_W26", "income"] == "less than $30,000"
    assert people.loc["102_W26", "income"] == "$30,000-$50,000"
    assert people.loc["103_W26", "income"] == "$100,000 or more"
    assert people.loc["101_W26", "relig"] == "roman catholic"
    assert people.loc["102_W26", "relig"] == "other"
    # An unknown valid label: missing trait and a warning naming it.
    assert pd.isna(people.loc["103_W26", "relig"])
    assert "Pastafarian" in caplog.text and "F_RELIG" in caplog.text
    # Wave 29 only has F_GENDER; "in some other way" is a real category here.
    assert people.loc["102_W29", "sex"] == "other"
    assert people.loc["101_W29", "sex"] == "male"
    assert dict(zip(data.trait_names, [t.categories[0] for t in data.traits], strict=True)) == {
        "age": "18-29",
        "sex": "male",
        "income": "less than $30,000",
        "relig": "protestant",
    }


def test_traits_as_mapping_pin_a_column_and_description(entry):
    entry["traits"] = {"sex": {"column": "F_SEX", "description": "Sex at birth"}, "age": None}
    data = load_opinionqa("opinionqa", entry)
    assert [(t.name, t.description) for t in data.traits] == [
        ("sex", "Sex at birth"),
        ("age", "Age"),
    ]
    people = data.individuals.set_index("individual")
    # Wave 29 has only F_GENDER, which the pinned column excludes.
    assert people.loc["101_W26", "sex"] == "male"
    assert pd.isna(people.loc["101_W29", "sex"])
    entry["traits"] = ["age", "shoe_size"]
    with pytest.raises(InputDataError, match="shoe_size"):
        load_opinionqa("opinionqa", entry)


def test_unknown_demographic_label_is_an_error_when_strict(entry):
    entry["strict_traits"] = True
    with pytest.raises(InputDataError, match="Pastafarian"):
        load_opinionqa("opinionqa", entry)


def test_min_answers_filter_logs_waves_it_empties_and_pooled_scope_keeps_them(entry, caplog):
    entry["min_answers"] = 2
    with caplog.at_level(logging.WARNING):
        data = load_opinionqa("opinionqa", entry)
    # Wave 29 has one question: per-wave counting removes everybody, and says so.
    assert data.filter_log["waves"]["29"] == {"individuals_before": 3, "removed": 3}
    # 102 answered only ECON_W26 in wave 26 (refused the others).
    assert data.filter_log["waves"]["26"] == {"individuals_before": 4, "removed": 1}
    assert "wave 29 loses all 3 individuals" in caplog.text
    assert list(data.individuals["individual"]) == ["101_W26", "103_W26", "104_W26"]
    assert set(data.responses["individual"]) <= set(data.individuals["individual"])

    entry["min_answers_scope"] = "pooled"
    pooled = load_opinionqa("opinionqa", entry)
    # Respondents 101 and 102 answered enough over both waves; 105 has one answer in total.
    assert set(pooled.individuals["individual"]) == {
        "101_W26",
        "102_W26",
        "103_W26",
        "104_W26",
        "101_W29",
        "102_W29",
    }
    assert pooled.filter_log["waves"]["29"] == {"individuals_before": 3, "removed": 1}
    assert pooled.filter_log["scope"] == "pooled"


def test_waves_setting_restricts_questions_and_source_files(entry, tmp_path):
    files = opinionqa_source_files(entry)
    assert str(tmp_path / "raw_data" / "ATP W26.sav") in files
    assert str(tmp_path / "raw_data" / "ATP W29.sav") in files
    entry["waves"] = [29]
    assert [f for f in opinionqa_source_files(entry) if f.endswith(".sav")] == [
        str(tmp_path / "raw_data" / "ATP W29.sav")
    ]
    data = load_opinionqa("opinionqa", entry)
    assert list(data.questions["question"]) == ["TRUST_W29"]
    entry["waves"] = [30]
    with pytest.raises(InputDataError, match="waves"):
        load_opinionqa("opinionqa", entry)


def test_truncated_wave_file_names_the_file(entry, tmp_path):
    path = tmp_path / "raw_data" / "ATP W29.sav"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(InputDataError, match=r"ATP W29\.sav.*truncated"):
        load_opinionqa("opinionqa", entry)


def test_missing_wave_file_and_missing_weight_column(entry, tmp_path):
    (tmp_path / "raw_data" / "ATP W29.sav").unlink()
    with pytest.raises(InputDataError, match=r"ATP W29\.sav.*wave 29 file not found"):
        load_opinionqa("opinionqa", entry)
    _write_waves(tmp_path / "raw_data", drop_weight=True)
    with pytest.raises(InputDataError, match=r"ATP W26\.sav: field 'WEIGHT_W26'"):
        load_opinionqa("opinionqa", entry)


def test_ordinal_flags_from_list_or_question_meta(entry, tmp_path):
    assert not load_opinionqa("opinionqa", entry).questions["ordinal"].any()
    (tmp_path / "opinionqa_question_meta.json").write_text(
        json.dumps({"ECON_W26": {"ordinal": True}, "GUN_W26": {"ordinal": False}})
    )
    flags = load_opinionqa("opinionqa", entry).questions.set_index("question")["ordinal"]
    assert flags.to_dict() == {
        "ECON_W26": True,
        "EVO_W26": False,
        "GUN_W26": False,
        "TRUST_W29": False,
    }
    entry["ordinal"] = ["TRUST_W29"]
    flags = load_opinionqa("opinionqa", entry).questions.set_index("question")["ordinal"]
    assert flags[flags].index.tolist() == ["TRUST_W29"]


def test_file_pattern_is_configurable(entry, tmp_path):
    raw = tmp_path / "raw_data"
    for wave in (26, 29):
        (raw / f"ATP W{wave}.sav").rename(raw / f"atp_wave{wave}.sav")
    entry["file_pattern"] = "atp_wave{wave}.sav"
    data = load_opinionqa("opinionqa", entry)
    assert len(data.individuals) == 7


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("Less than $10,000", "less than $30,000"),
        ("10 to under $20,000", "less than $30,000"),
        ("$30,000 to less than $40,000", "$30,000-$50,000"),
        ("50 to under $75,000", "$50,000-$75,000"),
        ("$75,000 to less than $100,000", "$75,000-$100,000"),
        ("$150,000 or more", "$100,000 or more"),
        ("Refused", None),
    ],
)
def test_income_brackets_collapse_to_five_categories(label, category):
    assert _income_category(label) == category


def _rewrite_wave26(raw, change, labels=None):
    """Wave 26 of the fixture with one change applied to its table (and value labels)."""
    frame, meta = pyreadstat.read_sav(str(raw / "ATP W26.sav"))
    frame = change(frame)
    pyreadstat.write_sav(
        frame, raw / "ATP W26.sav", variable_value_labels=labels or meta.variable_value_labels
    )


@pytest.mark.parametrize(
    ("change", "drop_labels", "message"),
    [
        (
            lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True),
            None,
            r"ATP W26\.sav: field 'QKEY': 1 respondent id.*102 \(2 cases\)",
        ),
        (
            lambda f: f.assign(QKEY=[101.0, 102.5, 103.0, 104.0]),
            None,
            r"field 'QKEY': respondent id 102\.5 \(case 2\) is not a whole number",
        ),
        (
            lambda f: f.assign(ECON_W26=["Poor", "Excellent", "Good", "Poor"]),
            "ECON_W26",
            r"field 'ECON_W26': a text \(SPSS string\) variable.*'Poor'",
        ),
        (
            lambda f: f.assign(ECON_W26=[3.0, 1.5, 2.0, 3.0]),
            None,
            r"field 'ECON_W26': value 1\.5 is not a whole-number code \(case 2, individual 102_W26",
        ),
    ],
    ids=["duplicate respondent", "fractional id", "text variable", "fractional answer"],
)
def test_a_wrong_value_in_a_wave_is_an_error_naming_file_column_and_case(
    entry, tmp_path, change, drop_labels, message
):
    labels = {k: v for k, v in LABELS_26.items() if k != drop_labels}
    _rewrite_wave26(tmp_path / "raw_data", change, labels)
    with pytest.raises(InputDataError, match=message):
        load_opinionqa("opinionqa", entry)


def test_answer_code_without_a_label_is_an_error_unless_listed_as_invalid(entry, tmp_path):
    raw = tmp_path / "raw_data"
    _rewrite_wave26(raw, lambda f: f.assign(GUN_W26=[1.0, 7.0, 2.0, 7.0]))
    with pytest.raises(
        InputDataError,
        match=r"field 'GUN_W26': code 7 has no value label \(case 2, individual 102_W26; 2 such.*"
        r"invalid_codes",
    ):
        load_opinionqa("opinionqa", entry)
    entry["invalid_codes"] = [99, 7]
    data = load_opinionqa("opinionqa", entry)
    # Code 7 is now a refusal: counted, never an answer.
    assert data.filter_log["refusals"]["waves"]["26"] == 2 + 1  # two 7s and EVO's 99
    assert set(data.responses.query("question == 'GUN_W26'")["code"]) == {1, 2}


def test_refusals_are_counted_per_wave(entry):
    data = load_opinionqa("opinionqa", entry)
    # Wave 26: GUN 99 (102) and EVO 99 (102); wave 29 has none.
    assert data.filter_log["refusals"] == {"total": 2, "waves": {"26": 2, "29": 0}}
    assert data.filter_log["traits"]["refused"] == {"age": 1, "sex": 1, "income": 1}


def test_blank_weight_is_an_error_and_weight_column_null_weighs_everyone_one(entry, tmp_path):
    raw = tmp_path / "raw_data"
    _rewrite_wave26(raw, lambda f: f.assign(WEIGHT_W26=[0.5, np.nan, 2.0, 1.0]))
    with pytest.raises(
        InputDataError,
        match=r"ATP W26\.sav: field 'WEIGHT_W26': row 2 \(individual 102\): weight is blank.*"
        r"weight_column: null",
    ):
        load_opinionqa("opinionqa", entry)
    entry["weight_column"] = None
    data = load_opinionqa("opinionqa", entry)
    assert set(data.individuals["weight"]) == {1.0}


def test_demographic_code_without_a_label_is_counted_and_strict_makes_it_an_error(
    entry, tmp_path, caplog
):
    raw = tmp_path / "raw_data"
    _rewrite_wave26(raw, lambda f: f.assign(F_AGECAT=[1.0, 6.0, 6.0, 2.0]))
    with caplog.at_level(logging.WARNING):
        data = load_opinionqa("opinionqa", entry)
    assert data.filter_log["traits"]["unmapped"]["age (F_AGECAT)"] == {"code 6 (no value label)": 2}
    assert "code 6 (no value label)' x2" in caplog.text
    assert data.individuals.set_index("individual")["age"].isna().sum() == 2 + 3  # + wave 29
    entry["strict_traits"] = True
    with pytest.raises(InputDataError, match=r"age \(F_AGECAT\): 'Pastafarian'|code 6"):
        load_opinionqa("opinionqa", entry)
