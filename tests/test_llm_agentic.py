"""Agentic CoT: answer parsing, one reflection per person, retry, invalid answers."""

from __future__ import annotations

import numpy as np
import pytest
from llm_toy import make_split, make_survey

from gemsflow.methods.llm.agentic import parse_answer, run_cot
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts, persona_texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Reasoning...\n{"answer": "C"}', "C"),
        ('{"Response": "b. rarely"}', "B"),
        ('<think>{"answer": "A"}</think>\nfinal: {"answer": "D"}', "D"),
        ('first {"answer": "A"} then corrected {"answer": "B"}', "B"),
        ('{"answer": "Z"}', None),  # not an option of this question
        ('{"answer": ""}', None),  # the reference crashed on this
        ("{answer: C}", None),  # not JSON
        ("I pick C", None),
        ('{"answer": "(E)"}', "E"),
    ],
)
def test_parse_answer(text, expected):
    assert parse_answer(text, ["A", "B", "C", "D", "E"]) == expected


class ScriptedBackend:
    """Replies by prompt type; the first prediction for q05 is garbage and its retry is valid."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, max_new_tokens, temperature=0.0, seed=0):
        self.calls.append((len(prompts), max_new_tokens, temperature))
        out = []
        for prompt in prompts:
            if "notes on what they reveal" in prompt:
                out.append("- likes option B")
            elif "q05 things" in prompt:
                out.append('{"answer": "C"}' if temperature > 0 else "no idea")
            elif "q06 things" in prompt:
                out.append("still no idea")
            else:
                out.append('{"answer": "B"}')
        return out


def test_cot_reflects_once_per_person_retries_and_counts_invalid():
    data = make_survey()
    split = make_split(data)
    records = build_prompts(data, split, "val", PromptStyle(0), seed=1) + build_prompts(
        data, split, "test", PromptStyle(0), seed=1
    )
    backend = ScriptedBackend()
    predictions, info = run_cot(
        backend,
        data,
        records,
        split,
        persona_texts(data, header=False),
        expert="psychologist",
        reflection_tokens=7,
        answer_tokens=9,
        retry_temperature=0.7,
    )
    people = {r["individual"] for r in records}
    assert backend.calls[0] == (len(people), 7, 0.0)  # one reflection per person, one batch
    assert backend.calls[1] == (len(records), 9, 0.0)
    n_retry = sum(r["question"] in ("q05", "q06") for r in records)
    assert backend.calls[2] == (n_retry, 9, 0.7)
    assert info["n_reflections"] == len(people)
    assert info["n_invalid"] == sum(r["question"] == "q06" for r in records) > 0
    assert info["invalid_rate"] == info["n_invalid"] / len(records)
    sums = predictions.groupby(["individual", "question", "part"])["prob"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)
    q6 = predictions[predictions["question"] == "q06"]
    np.testing.assert_allclose(q6["prob"], 0.5)  # invalid: uniform over its two options
    q5 = predictions[predictions["question"] == "q05"].sort_values(["individual", "code"])
    assert (
        q5.groupby("individual")["prob"].apply(list)
        == [[0.0, 0.0, 1.0, 0.0]] * q5["individual"].nunique()
    ).all()
