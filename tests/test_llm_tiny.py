"""The tiny offline model: reproducible build, single-token answer letters, reload."""

from __future__ import annotations

import hashlib

import torch
from llm_toy import make_survey
from transformers import AutoModelForCausalLM, AutoTokenizer

from gemsflow.methods.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)


def _digest(directory):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(directory.iterdir())}


def test_tiny_model_is_reproducible_and_letters_are_single_tokens(tmp_path):
    data = make_survey()
    a = build_tiny_model(data, tmp_path / "a", architecture="qwen2", seed=5)
    b = build_tiny_model(data, tmp_path / "b", architecture="qwen2", seed=5)
    assert _digest(a) == _digest(b)
    assert "model.safetensors" in _digest(a)
    tokenizer = AutoTokenizer.from_pretrained(a)
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        assert len(tokenizer.encode(f" {letter}", add_special_tokens=False)) == 1
        assert len(tokenizer.encode(letter, add_special_tokens=False)) == 1
    ids = tokenizer.encode("Answer: B")
    assert (
        ids[0] == tokenizer.bos_token_id
        and tokenizer.decode(ids, skip_special_tokens=True) == "Answer: B"
    )
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.model_type == "qwen2" and model.config.hidden_size == 64
    assert model.config.vocab_size == len(tokenizer)
