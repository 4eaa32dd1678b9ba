"""Letter scoring: batched transformers backend vs a direct full forward, and the shared parsers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from llm_toy import make_split, make_survey

from gemsflow.methods.llm import letters as L
from gemsflow.methods.llm.backends import TransformersBackend
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts
from gemsflow.methods.llm.templates import SYSTEM_MESSAGE as L_SYSTEM
from gemsflow.methods.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = make_survey()
    path = build_tiny_model(data, tmp_path_factory.mktemp("tiny"), seed=3)
    return data, str(path)


def _direct(model, tokenizer, prompt, marks):
    """One unpadded forward pass; softmax at the last token; letters as " X" and "X" single tokens."""
    ids = torch.tensor([tokenizer.encode(prompt)])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].double(), -1)
    raw = []
    for mark in marks:
        tokens = {
            tokenizer.encode(f" {mark}", add_special_tokens=False)[0],
            tokenizer.encode(mark, add_special_tokens=False)[0],
        }
        raw.append(sum(float(probs[t]) for t in tokens))
    raw = np.array(raw)
    return raw / raw.sum(), raw.sum()


def test_batched_scores_equal_direct_forward_for_2_5_11_options(tiny):
    data, path = tiny
    split = make_split(data)
    records = build_prompts(data, split, "train", PromptStyle(0), seed=1)
    by_size = {}
    for r in records:
        by_size.setdefault(len(r["codes"]), []).append(r)
    chosen = by_size[2][:3] + by_size[5][:3] + by_size[11][:3]
    assert {len(r["codes"]) for r in chosen} == {2, 5, 11}
    backend = TransformersBackend(path, batch_size=4)
    scores = backend.letter_scores([r["prompt"] for r in chosen], [r["letters"] for r in chosen])
    for record, score in zip(chosen, scores, strict=True):
        expected, mass = _direct(
            backend.model, backend.tokenizer, record["prompt"], record["letters"]
        )
        assert len(score.probs) == len(record["codes"])
        assert score.choice == int(np.argmax(expected))
        np.testing.assert_allclose(score.probs, expected, rtol=1e-4, atol=1e-6)
        assert math.isclose(score.mass, mass, rel_tol=1e-4)
        assert 0.0 < score.mass < 1.0


def test_multi_token_letters_are_scored_as_continuations(tiny):
    data, path = tiny
    backend = TransformersBackend(path, batch_size=2)
    prompt = "Question: How often?\nAA. yes\nAB. no\n\nAnswer:"
    scores = backend.letter_scores([prompt], [["AA", "AB"]])[0]
    tok, model = backend.tokenizer, backend.model
    ids = tok.encode(prompt)
    raw = []
    for mark in ("AA", "AB"):
        total = 0.0
        for text in (f" {mark}", mark):
            cont = tok.encode(text, add_special_tokens=False)
            assert len(cont) > 1
            with torch.no_grad():
                logp = torch.log_softmax(
                    model(input_ids=torch.tensor([ids + cont])).logits[0].double(), -1
                )
            total += math.exp(sum(float(logp[len(ids) - 1 + k, c]) for k, c in enumerate(cont)))
        raw.append(total)
    np.testing.assert_allclose(scores.probs, np.array(raw) / sum(raw), rtol=1e-4)


def test_token_id_logprobs_restrict_to_valid_letters():
    table = {"A": [(10,), (20,)], "B": [(11,), (21,)], "C": [(12,)]}

    class Lp:
        def __init__(self, value):
            self.logprob = value

    top = {
        10: Lp(math.log(0.2)),
        20: Lp(math.log(0.1)),
        11: Lp(math.log(0.3)),
        12: Lp(math.log(0.25)),
        99: Lp(math.log(0.15)),
    }
    score = L.from_token_id_logprobs(top, ["A", "B"], table)
    np.testing.assert_allclose(score.probs, [0.5, 0.5])
    assert math.isclose(score.mass, 0.6)
    assert score.choice == 0  # ties go to the first option


def test_token_string_logprobs_and_uniform_fallback():
    top = [
        (" B", math.log(0.4)),
        ("B", math.log(0.2)),
        ("A", math.log(0.1)),
        ("Bx", math.log(0.2)),
        (" D", -0.1),
    ]
    score = L.from_token_string_logprobs(top, ["A", "B", "C"])
    np.testing.assert_allclose(score.probs, [0.1 / 0.7, 0.6 / 0.7, 0.0])
    assert math.isclose(score.mass, 0.7)
    empty = L.from_token_string_logprobs([("Z", 0.0)], ["A", "B", "C", "D"])
    np.testing.assert_allclose(empty.probs, [0.25] * 4)
    assert empty.mass == 0.0


def test_chat_models_score_the_templated_conversation(tiny):
    data, path = tiny
    backend = TransformersBackend(path, batch_size=2, is_chat=True)
    backend.tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    prompt = "Question: How often?\nA. never\nB. always\n\nAnswer:"
    (score,) = backend.letter_scores([prompt], [["A", "B"]])
    text = backend.tokenizer.apply_chat_template(
        [{"role": "system", "content": L_SYSTEM}, {"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text.startswith("<s><system>") and text.endswith("<assistant>")
    ids = backend.tokenizer.encode(text, add_special_tokens=False)
    assert ids.count(backend.tokenizer.bos_token_id) == 1  # the template's BOS, none added on top
    with torch.no_grad():
        probs = torch.softmax(
            backend.model(input_ids=torch.tensor([ids])).logits[0, -1].double(), -1
        )
    raw = [
        sum(
            float(probs[backend.tokenizer.encode(t, add_special_tokens=False)[0]])
            for t in (f" {m}", m)
        )
        for m in ("A", "B")
    ]
    np.testing.assert_allclose(score.probs, np.array(raw) / sum(raw), rtol=1e-4)
