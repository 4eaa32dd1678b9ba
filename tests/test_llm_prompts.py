"""Prompt records: structure, few-shot example choice, option shuffling."""

from __future__ import annotations

import pytest
import torch
from llm_toy import QUESTION_SIZES, make_split, make_survey

from gemsflow.errors import InputDataError
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts, select_examples

QUESTIONS = list(QUESTION_SIZES)


def _states():
    # Question i points at angle i*0.3 rad: similarity to q06 falls with distance in index.
    angles = torch.arange(len(QUESTIONS), dtype=torch.float32) * 0.3
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def test_zeroshot_records_are_complete_and_labelled():
    data, split = make_survey(), None
    split = make_split(data)
    records = build_prompts(data, split, "test", PromptStyle(0), seed=1)
    assert len(records) == (split["part"] == "test").sum() == 8
    answers = data.responses.set_index(["individual", "question"])["code"]
    for r in records:
        assert r["codes"] == list(range(1, QUESTION_SIZES[r["question"]] + 1))
        assert (
            r["letters"][r["codes"].index(answers[(r["individual"], r["question"])])] == r["label"]
        )
        assert r["prompt"].endswith("Answer:")
        assert r["examples"] == [] and r["prompt"].count("Question:") == 1
        assert f"Respondent id: {r['individual']}" in r["prompt"]
    p11 = records[0]["prompt"]
    assert "Sex: Male" in p11 or "Sex: Female" in p11
    # p11 has no age value: the line is left out rather than printed empty.
    assert all("Age group" not in r["prompt"] for r in records if r["individual"] == "p11")


def test_fewshot_picks_most_similar_own_training_answers_least_similar_first():
    data = make_survey()
    split = make_split(data)
    records = build_prompts(
        data,
        split,
        "test",
        PromptStyle(2),
        seed=1,
        question_states=_states(),
        question_keys=QUESTIONS,
    )
    by_q = {(r["individual"], r["question"]): r for r in records}
    # p10's training answers are q01 and q02 only; for target q06 the closer is q02, placed last.
    assert by_q[("p10", "q06")]["examples"] == ["q01", "q02"]
    record = by_q[("p10", "q03")]
    assert record["examples"] == ["q01", "q02"]
    assert record["prompt"].count("Question:") == 3
    assert (
        record["prompt"].index("do you q01")
        < record["prompt"].index("do you q02")
        < record["prompt"].index("do you q03")
    )
    answer_q02 = int(
        data.responses.query("individual == 'p10' and question == 'q02'")["code"].iloc[0]
    )
    assert f"Answer: {'ABCDE'[answer_q02 - 1]}. " in record["prompt"]


def test_train_prompts_never_use_the_target_and_k_is_clamped():
    data = make_survey()
    split = make_split(data)
    records = build_prompts(
        data,
        split,
        "train",
        PromptStyle(10),
        seed=1,
        question_states=_states(),
        question_keys=QUESTIONS,
    )
    for r in records:
        assert r["question"] not in r["examples"]
        pool = set(split.query("individual == @r['individual'] and part == 'train'")["question"])
        assert set(r["examples"]) == pool - {
            r["question"]
        }  # k larger than the pool: all of it, no more


def test_empty_pool_gives_no_examples_instead_of_all():
    data = make_survey()
    split = make_split(data)
    held = split["individual"].isin(["p10", "p11"])
    split.loc[held, "part"] = "test"  # setting-2 style: nothing of theirs is in train
    idx = {q: i for i, q in enumerate(QUESTIONS)}
    targets = split[held][["individual", "question"]]
    pool = split[split["part"] == "train"][["individual", "question"]]
    assert all(e == [] for e in select_examples(targets, pool, idx, _states(), 3))


def test_shuffled_options_are_deterministic_and_keep_labels():
    data = make_survey()
    split = make_split(data)
    a = build_prompts(data, split, "val", PromptStyle(0), seed=5, shuffle_options=True)
    b = build_prompts(data, split, "val", PromptStyle(0), seed=5, shuffle_options=True)
    c = build_prompts(data, split, "val", PromptStyle(0), seed=6, shuffle_options=True)
    assert a == b and a != c
    answers = data.responses.set_index(["individual", "question"])["code"]
    for r in a:
        code = r["codes"][r["letters"].index(r["label"])]
        assert code == answers[(r["individual"], r["question"])]
        assert sorted(r["codes"]) == list(range(1, len(r["codes"]) + 1))
    assert any(r["codes"] != sorted(r["codes"]) for r in a)


def test_fewshot_without_embeddings_and_bad_style_fail_clearly():
    data = make_survey()
    with pytest.raises(InputDataError, match="question embeddings"):
        build_prompts(data, make_split(data), "val", PromptStyle(3), seed=1)
    with pytest.raises(InputDataError, match="fewshot<k>"):
        PromptStyle.parse("fewshot0")
    assert PromptStyle.parse("fewshot3").k == 3 and PromptStyle.parse("zeroshot").name == "zeroshot"


def test_max_individuals_keeps_whole_people():
    data = make_survey()
    split = make_split(data)
    records = build_prompts(data, split, "train", PromptStyle(0), seed=3, max_individuals=5)
    people = {r["individual"] for r in records}
    assert len(people) == 5
    n_answers = split[(split["part"] == "train") & split["individual"].isin(people)].shape[0]
    assert len(records) == n_answers
