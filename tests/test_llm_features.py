"""Hidden states and text-embedding files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from llm_toy import make_survey

from gemsflow.errors import InputDataError
from gemsflow.methods.llm import hidden_states as hs
from gemsflow.methods.llm.backends import load_causal_lm
from gemsflow.methods.llm.embeddings import OpenAIEmbedder, question_texts
from gemsflow.methods.llm.features import ChoiceFeatures, load_features, save_features
from gemsflow.methods.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = make_survey()
    path = build_tiny_model(data, tmp_path_factory.mktemp("tiny"), architecture="qwen2", seed=1)
    tokenizer, model = load_causal_lm(str(path))
    return data, tokenizer, model


@pytest.mark.parametrize("position", ["last", "eos"])
def test_batched_hidden_states_equal_single_text_forward(tiny, position):
    data, tokenizer, model = tiny
    texts = data.options["choice_text"].tolist()[:7]
    states, layers = hs.extract(
        model,
        tokenizer,
        texts,
        position=position,
        layers=[0, -1],
        batch_size=3,
        store_dtype="float32",
    )
    assert layers == [0, model.config.num_hidden_layers]
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text) + ([tokenizer.eos_token_id] if position == "eos" else [])
        with torch.no_grad():
            ref = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        torch.testing.assert_close(states[i, 0], ref[0][0, -1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(states[i, 1], ref[-1][0, -1], rtol=1e-4, atol=1e-5)


def test_feature_file_round_trip_and_bad_layer(tiny, tmp_path):
    data, tokenizer, model = tiny
    features = hs.choice_hidden_states(data, model, tokenizer, layers=[1, 2], batch_size=4)
    assert features.choice_states.dtype == torch.bfloat16
    save_features(features, tmp_path / "h.safetensors")
    back = load_features(tmp_path / "h.safetensors")
    assert back.choices == data.options["choice"].tolist()
    assert back.layers == [1, 2]
    assert torch.equal(back.choice_states, features.choice_states)
    with pytest.raises(InputDataError, match="layer 7 out of range"):
        hs.choice_hidden_states(data, model, tokenizer, layers=[7])


def test_question_texts_end_with_answer_cue():
    keys, texts = question_texts(make_survey())
    assert keys == ["q01", "q02", "q03", "q04", "q05", "q06"]
    assert all(t.endswith("Answer:") and t.startswith("Question:") for t in texts)
    assert "K. unsure q03" in texts[2]


class _FakeClient:
    """Stands in for openai.OpenAI: times out twice, then embeds by text length."""

    def __init__(self):
        self.calls = []
        self.failures = 2
        self.embeddings = self

    def create(self, model, input):
        if self.failures:
            self.failures -= 1
            raise TimeoutError("boom")
        self.calls.append(list(input))

        class Item:
            def __init__(self, index, text):
                self.index, self.embedding = index, [float(len(text)), 1.0]

        class Response:
            data = [Item(i, t) for i, t in reversed(list(enumerate(input)))]

        return Response()


def test_openai_embedder_batches_retries_and_caches(tmp_path):
    client, waits = _FakeClient(), []
    embedder = OpenAIEmbedder("m", tmp_path, batch_size=2, client=client, sleep=waits.append)
    texts = ["a", "bbb", "cc", "a", "dddd"]
    out = embedder.embed(texts)
    np.testing.assert_array_equal(out[:, 0], [1, 3, 2, 1, 4])
    assert waits == [1.0, 2.0]
    assert client.calls == [["a", "bbb"], ["cc", "dddd"]]
    again = OpenAIEmbedder("m", tmp_path, batch_size=2, client=client, sleep=waits.append).embed(
        texts
    )
    np.testing.assert_array_equal(again, out)
    assert len(client.calls) == 2  # everything came from the cache


def test_feature_file_shape_check(tmp_path):
    bad = ChoiceFeatures(torch.zeros(3, 1, 4), ["a", "b"], [0])
    with pytest.raises(ValueError):
        save_features(bad, tmp_path / "x.safetensors")
