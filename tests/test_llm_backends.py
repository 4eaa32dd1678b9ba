"""The vLLM and OpenAI backends' glue, run against stand-ins of their engines (neither runs here)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from llm_toy import make_survey

from gemsflow.methods.llm.backends import OpenAIBackend, VLLMBackend
from gemsflow.methods.llm.tiny_model import build_tokenizer, corpus

ROOT = Path(__file__).resolve().parents[1]


def test_vllm_backend_scores_only_real_letters(fake_vllm):
    tokenizer = build_tokenizer(corpus(make_survey()))
    # The next token is " B" (0.5), "C" (0.3) or " Z" (0.2).
    first = {t: tokenizer.encode(t, add_special_tokens=False)[0] for t in (" B", "C", " Z")}
    top = {first[" B"]: 0.5, first["C"]: 0.3, first[" Z"]: 0.2}
    recorded = fake_vllm(tokenizer, top, '{"answer": "B"}')
    backend = VLLMBackend("some/model", max_logprobs=20, max_model_len=2048)
    scores = backend.letter_scores(["p1", "p2"], [["A", "B", "C"], ["A", "B"]])
    np.testing.assert_allclose(scores[0].probs, [0.0, 0.5 / 0.8, 0.3 / 0.8])
    assert math.isclose(scores[0].mass, 0.8)
    np.testing.assert_allclose(
        scores[1].probs, [0.0, 1.0]
    )  # C is not an option of a 2-option question
    assert recorded["params"] == {"max_tokens": 1, "temperature": 1.0, "logprobs": 20}
    assert (
        recorded["engine"]["max_model_len"] == 2048 and recorded["engine"]["enable_lora"] is False
    )
    assert backend.generate(["p"], 5) == ['{"answer": "B"}']


class _FakeChat:
    def __init__(self):
        self.failures = 1
        self.requests = []
        self.chat = types.SimpleNamespace(completions=self)

    def create(self, model, messages, **kwargs):
        if self.failures:
            self.failures -= 1
            raise TimeoutError("slow")
        self.requests.append((messages, kwargs))
        top = [
            types.SimpleNamespace(token=t, logprob=math.log(p))
            for t, p in ((" A", 0.6), ("B", 0.1), ("C", 0.3))
        ]
        content = [types.SimpleNamespace(top_logprobs=top)]
        choice = types.SimpleNamespace(
            logprobs=types.SimpleNamespace(content=content),
            message=types.SimpleNamespace(content="text"),
        )
        return types.SimpleNamespace(choices=[choice])


def test_openai_backend_retries_and_restricts_letters():
    client, waits = _FakeChat(), []
    backend = OpenAIBackend("gpt-x", client=client, sleep=waits.append)
    (score,) = backend.letter_scores(["Question: ...\n\nAnswer:"], [["A", "B"]])
    np.testing.assert_allclose(score.probs, [6 / 7, 1 / 7])
    assert math.isclose(score.mass, 0.7)
    assert waits == [1.0]
    messages, kwargs = client.requests[0]
    assert messages[0]["role"] == "system" and messages[1]["content"].endswith("Answer:")
    assert kwargs["max_tokens"] == 1 and kwargs["logprobs"] is True


@pytest.mark.slow
def test_throughput_benchmark_runs_on_cpu_with_tiny_config():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "llm_scoring_throughput.py"),
            "--model",
            "tiny",
            "--n-prompts",
            "8",
            "--prompt-tokens",
            "40",
            "--batch-size",
            "4",
            "--threads",
            "1",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(proc.stdout)
    assert report["batched"]["prompts"] == report["one_at_a_time"]["prompts"] == 8
    assert report["batched"]["tokens_per_s"] > 0 and report["speedup_prompts_per_s"] > 0
