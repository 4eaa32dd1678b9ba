"""Parsing of the Hugging Face sources (Twin-2K-500 personas, Psych-101 transcripts) on fabricated records."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from gemsflow.data.datasets.gems_layout import load_gems_layout
from gemsflow.data.datasets.huggingface import (
    DatasetParseError,
    dunning_kruger_layout,
    parse_dk_transcript,
    twin_layout,
    write_gems_layout,
)


def _question(qid, text, options, position=None, selected=None):
    question = {"QuestionID": qid, "QuestionText": text, "QuestionType": "MC"}
    if options is not None:
        question["Options"] = options
    if position is not None:
        question["Answers"] = {"SelectedByPosition": position, "SelectedText": selected}
    return question


AGES = ["18-29 (young adult)", "30-49", "50-64", "65+"]


def _persona(region, age, cats, colours, colour_texts, pick, pick_text):
    return [
        {
            "BlockName": "Demographics",
            "Questions": [
                _question(
                    "QID11",
                    "Region?",
                    ["Northeast", "Midwest", "South", "West", "Pacific"],
                    region,
                    ["Northeast", "Midwest", "South", "West", "Pacific"][region - 1],
                ),
                _question("QID13", "Age?", AGES, age, AGES[age - 1]),
            ],
        },
        {"BlockName": "Intro", "Questions": [_question("QID1", "Welcome to the study.", None)]},
        {
            "BlockName": "Attitudes",
            "Questions": [
                _question(
                    "QID56", "Do you like cats?", [" Yes ", "No"], cats, ["Yes", "No"][cats - 1]
                ),
                _question("QID57", "", ["Red", "Green", "Blue"], colours, colour_texts),
                _question("QID58", "Pick one.", ["x", "y"], pick, pick_text),
            ],
        },
    ]


PERSONAS = [
    _persona(5, 1, 1, [2, 3], ["Green", "Blue"], 2, "y"),
    _persona(2, 3, 2, [1], ["Red"], 2, "x"),  # pick: position and text disagree
    _persona(3, 4, 1, 3, "Blue", None, None),  # pick: unanswered
]


def test_twin_keys_texts_and_option_maps():
    layout = twin_layout([json.dumps(p) for p in PERSONAS])
    assert layout.question_keys == ["BLOCK2QID56_W1", "BLOCK2QID57_W1", "BLOCK2QID58_W1"]
    assert layout.question_strings["BLOCK2QID56_W1"] == "Do you like cats?"
    # Demographic options: lower case, no parenthesis, pacific is west.
    assert list(layout.options_map["BLOCK0QID11_W1"].values()) == [
        "northeast",
        "midwest",
        "south",
        "west",
        "west",
    ]
    assert layout.options_map["BLOCK0QID13_W1"]["1.0"] == "18-29"
    assert layout.options_map["BLOCK2QID56_W1"] == {"1.0": "Yes", "2.0": "No"}
    assert layout.option_strings["BLOCK2QID56_W1_option_2"] == (
        "Question: Do you like cats?\nA. Yes\nB. No\n\nAnswer: B. No"
    )
    assert not any(key.startswith("BLOCK0") for key in layout.option_strings)


def test_twin_answers_multi_select_and_inconsistent_answers(caplog):
    with caplog.at_level(logging.WARNING):
        layout = twin_layout(PERSONAS)
    table = layout.responses
    assert list(table.columns) == [
        "QKEY",
        "BLOCK0QID11_W1",
        "BLOCK0QID13_W1",
        "BLOCK2QID56_W1",
        "BLOCK2QID57_W1",
        "BLOCK2QID58_W1",
        "WEIGHT_W1",
    ]
    assert table["QKEY"].tolist() == [10000001, 10000002, 10000003]
    assert table["BLOCK2QID57_W1"].tolist() == [2, 1, 3]  # multi-select -> first choice
    assert table["BLOCK2QID58_W1"].isna().tolist() == [False, True, True]
    assert "multi-select" in caplog.text and "BLOCK2QID57_W1" in caplog.text
    assert "disagrees with the selected text" in caplog.text
    assert "empty text: BLOCK2QID57_W1" in caplog.text

    dropped = twin_layout(PERSONAS, multi_select="drop").responses
    assert dropped["BLOCK2QID57_W1"].isna().tolist() == [True, False, False]


def test_twin_layout_is_readable_by_the_gems_loader(tmp_path):
    write_gems_layout(twin_layout(PERSONAS), tmp_path, "twin")
    traits = {
        "cregion": {"column": "BLOCK0QID11_W1", "description": "Region"},
        "age": {"column": "BLOCK0QID13_W1", "description": "Age"},
    }
    data = load_gems_layout(
        "twin", tmp_path, "twin", traits,
        id_column="QKEY", weight_column="WEIGHT_W1", min_answers=1, ordinal="auto",
    )  # fmt: skip
    assert data.individuals["cregion"].tolist() == ["west", "midwest", "south"]
    assert data.individuals["age"].tolist() == ["18-29", "50-64", "65+"]
    assert len(data.responses) == 3 + 3 + 1


QUESTIONS = {
    "dog": "The dog [run fast] yesterday.",
    "tea": "She [don't like] tea.",
}


def _transcript(order, displays, chosen, estimates=((1, 60, 5, 4), (2, 70, 3, 2)), letters="KBM"):
    """A Psych-101-like transcript: questions in ``order``, options in ``displays``, ``chosen`` texts."""
    pre, post = estimates
    lines = [
        "In this task you answer 2 grammar questions.",
        f"How many questions will you get right? You say <<{pre[0]}>>.",
        f"Your percentile among participants? You say <<{pre[1]}>>%.",
        f"Difficulty for an average participant (1-10)? <<{pre[2]}>>",
        f"Difficulty for you (1-10)? <<{pre[3]}>>",
        "",
    ]
    for n, (name, display, pick) in enumerate(zip(order, displays, chosen, strict=True)):
        lines += [f"Q{n + 1}. {QUESTIONS[name]}", "The choices are:"]
        lines += [f"{letters[i]}: {text}" for i, text in enumerate(display)]
        lines += [f"You press <<{letters[display.index(pick)]}>>.", ""]
    lines += [
        f"How many did you get right? <<{post[0]}>>",
        f"Your percentile? <<{post[1]}>>%",
        f"Difficulty for an average participant? <<{post[2]}>>",
        f"Difficulty for you? <<{post[3]}>>",
    ]
    return "\n".join(lines)


FIRST = _transcript(
    ["dog", "tea"],
    [["run fast", "ran fast", "runs fast"], ["don't like", "doesn't like", "not like"]],
    ["ran fast", "doesn't like"],
)
# Another participant: questions and options in other orders, other letters.
SECOND = _transcript(
    ["tea", "dog"],
    [["not like", "doesn't like", "don't like"], ["runs fast", "run fast", "ran fast"]],
    ["not like", "runs fast"],
    estimates=((0, 5, 9, 10), (1, 100, 8, 7)),
    letters="QRS",
)


def test_dk_transcript_parsing():
    parsed = parse_dk_transcript(FIRST)
    assert parsed.pre == [1, 60, 5, 4]
    assert parsed.post == [2, 70, 3, 2]
    assert parsed.sentences == ["The dog [run fast] yesterday.", "She [don't like] tea."]
    assert parsed.choices[0] == [("K", "run fast"), ("B", "ran fast"), ("M", "runs fast")]
    assert parsed.chosen == ["B", "B"]


def test_dk_layout_codes_answers_by_text_whatever_the_display_order(tmp_path):
    layout = dunning_kruger_layout([FIRST, SECOND])
    assert layout.question_keys == ["Q1_W1", "Q2_W1"]
    assert layout.question_strings["Q1_W1"].endswith("\n\nThe dog [run fast] yesterday.")
    assert layout.question_strings["Q1_W1"].startswith("Some part of the sentence")
    assert layout.options_map["Q1_W1"] == {"1.0": "run fast", "2.0": "ran fast", "3.0": "runs fast"}
    table = layout.responses.set_index("QKEY")
    assert table.loc[2000001, ["Q1_W1", "Q2_W1"]].tolist() == [2, 2]
    # Second participant chose "runs fast" (code 3 of Q1) and "not like" (code 3 of Q2).
    assert table.loc[2000002, ["Q1_W1", "Q2_W1"]].tolist() == [3, 3]
    assert table.loc[2000002, ["pre_accuracy", "pre_percentile", "post_percentile"]].tolist() == [
        0,
        5,
        100,
    ]
    assert layout.options_map["pre_percentile"]["100"] == "percentile between 91% and 100%"
    assert layout.options_map["pre_percentile"]["60"] == "percentile between 51% and 60%"
    assert layout.options_map["post_accuracy"]["2"] == "get 2 correct"

    write_gems_layout(layout, tmp_path, "dk")
    traits = {"pre_accuracy": {"column": "pre_accuracy", "description": "Expected score"}}
    data = load_gems_layout(
        "dk", tmp_path, "dk", traits,
        id_column="QKEY", weight_column="WEIGHT_W1", min_answers=1, ordinal="auto",
    )  # fmt: skip
    assert data.individuals["pre_accuracy"].tolist() == ["get 1 correct", "get 0 correct"]
    assert pd.read_csv(tmp_path / "dk_responses.csv").columns[-1] == "WEIGHT_W1"


def test_dk_estimate_outside_its_scale_becomes_missing(caplog):
    odd = _transcript(
        ["dog", "tea"],
        [["run fast", "ran fast", "runs fast"], ["don't like", "doesn't like", "not like"]],
        ["ran fast", "doesn't like"],
        estimates=((1, 60, 5, 11), (2, 70, 3, 2)),
    )
    with caplog.at_level(logging.WARNING):
        layout = dunning_kruger_layout([FIRST, odd])
    assert pd.isna(layout.responses.loc[1, "pre_self_difficulty"])
    assert "pre_self_difficulty" in caplog.text


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (FIRST.replace("<<B>>", "<<Z>>", 1), "not one of the choices"),
        (FIRST.replace("<<60>>%", "60%"), "expected 4 estimates"),
        (FIRST.replace("The choices are:", "Options:"), "no question"),
    ],
)
def test_malformed_transcripts_raise(broken, message):
    with pytest.raises(DatasetParseError, match=message):
        parse_dk_transcript(broken)
