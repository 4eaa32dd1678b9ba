"""API keys come from the environment only, and a missing key is named with its fix."""

from __future__ import annotations

import pytest

from gemsflow.errors import InputDataError
from gemsflow.methods.llm.backends import OpenAIBackend
from gemsflow.methods.llm.embeddings import OpenAIEmbedder


@pytest.mark.parametrize(
    "build",
    [
        lambda tmp: OpenAIBackend("gpt-4o-mini"),
        lambda tmp: OpenAIEmbedder("text-embedding-3-small", cache_dir=tmp),
    ],
)
def test_missing_api_key_is_named(monkeypatch, tmp_path, build):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputDataError) as err:
        build(tmp_path)
    assert err.value.field == "OPENAI_API_KEY"
    assert "export OPENAI_API_KEY" in str(err.value)


def test_key_is_read_from_the_named_environment_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MY_GATEWAY_KEY", "sk-test-not-a-real-key")
    backend = OpenAIBackend("gpt-4o-mini", api_key_env="MY_GATEWAY_KEY")
    assert backend.client.api_key == "sk-test-not-a-real-key"
