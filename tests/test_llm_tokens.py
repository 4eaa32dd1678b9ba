"""Prompt and label tokens checked on real tokenizer styles (Llama-2, Llama-3, Qwen) and the tiny model's."""

from __future__ import annotations

import math

import pytest
import torch
from llm_toy import make_survey
from tokenizer_styles import STYLES

from gemsflow.errors import InputDataError
from gemsflow.methods.llm.backends import VLLMBackend
from gemsflow.methods.llm.finetune import continuation_nll
from gemsflow.methods.llm.tiny_model import build_tiny_model, build_tokenizer, corpus
from gemsflow.methods.llm.tokens import (
    LetterTokens,
    check_prompt_tokens,
    encode_prompts,
    format_prompt,
)

PROMPT = "Question: How often do you agree?\nA. never\nB. often\nC. always\nAnswer:"
BOS = {
    "llama2": "<s>",
    "llama3": "<|begin_of_text|>",
    "qwen": None,
    "chatml_bos": "<|im_start|>",
    "tiny": "<s>",
}
# BOS tokens a chat prompt holds: one in front, or one per turn (system, user, assistant) where the
# ChatML turn marker is the BOS.
CHAT_BOS = {"llama2": 1, "llama3": 1, "chatml_bos": 3}


def _tokenizer(style: str):
    if style == "tiny":
        return build_tokenizer(corpus(make_survey()))
    return STYLES[style]()


def _specials_doubled(tok, ids: list[int]) -> bool:
    special = set(tok.all_special_ids)
    return any(a == b and a in special for a, b in zip(ids, ids[1:], strict=False))


# The tiny model is a base model (no chat template); the three family styles are tested both ways.
CASES = [(s, c) for s in ("llama2", "llama3", "qwen", "chatml_bos") for c in (False, True)]
CASES += [("tiny", False)]


@pytest.mark.parametrize(("style", "is_chat"), CASES)
def test_final_prompt_has_one_bos_and_no_doubled_specials(style, is_chat):
    tok = _tokenizer(style)
    texts, (ids,) = encode_prompts(tok, [PROMPT], model=style, is_chat=is_chat)
    assert texts[0] == format_prompt(tok, PROMPT, is_chat)
    if BOS[style] is None:
        assert tok.bos_token_id is None
    elif is_chat:
        assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == CHAT_BOS[style]
    elif style == "chatml_bos":
        assert tok.bos_token_id not in ids  # a plain prompt has no turns
    else:
        assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert not _specials_doubled(tok, ids)
    if is_chat and style == "qwen":
        assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3  # system, user, assistant
    # The classic mistake, a rendered chat template tokenised with the tokenizer's specials once more,
    # is caught and named (a ChatML tokenizer adds no BOS of its own, so it cannot make it).
    if is_chat and style in ("llama2", "llama3"):
        twice = tok(texts, add_special_tokens=True)["input_ids"]
        assert twice[0][:2] == [tok.bos_token_id] * 2
        with pytest.raises(InputDataError, match=f"model {style}: prompt 0 .*2 BOS.*expected 1"):
            check_prompt_tokens(tok, texts, twice, style, is_chat)
    # A BOS doubled in front of a per-turn-BOS chat prompt is refused too.
    if is_chat and style == "chatml_bos":
        with pytest.raises(InputDataError, match="prompt 0 .*4 BOS.*expected 3"):
            check_prompt_tokens(tok, texts, [[tok.bos_token_id, *ids]], style, is_chat)


def test_doubled_special_token_without_bos_is_refused():
    tok = STYLES["qwen"]()
    texts, (ids,) = encode_prompts(tok, [PROMPT], model="qwen-x", is_chat=True)
    start = tok.convert_tokens_to_ids("<|im_start|>")
    with pytest.raises(InputDataError, match="qwen-x.*'<\\|im_start\\|>' twice in a row"):
        check_prompt_tokens(tok, texts, [[start] + ids], "qwen-x", True)


@pytest.mark.parametrize("is_chat", [False, True])
def test_vllm_receives_checked_token_ids(fake_vllm, is_chat):
    """vLLM gets ``TokensPrompt`` inputs ({"prompt_token_ids": ids}), never text it would tokenise again."""
    tok = STYLES["llama2"]()
    recorded = fake_vllm(tok, {tok.convert_tokens_to_ids("▁B"): 0.6}, "B")
    backend = VLLMBackend("llama2-style", is_chat=is_chat)
    (score,) = backend.letter_scores([PROMPT], [["A", "B", "C"]])
    (sent,) = recorded["prompts"]
    assert set(sent) == {"prompt_token_ids"}
    ids = sent["prompt_token_ids"]
    assert ids == encode_prompts(tok, [PROMPT], model="m", is_chat=is_chat)[1][0]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    if not is_chat:  # " B" after "Answer:" is '▁B', the token the engine's top-k reports
        assert score.probs.tolist() == [0.0, 1.0, 0.0] and math.isclose(score.mass, 0.6)


def test_vllm_input_types_accept_what_the_backend_passes():
    """Where vLLM is installed (GPU machines), its own types take the backend's inputs unchanged.

    The token ids themselves are tested above against a stand-in engine; only this type check needs vLLM.
    """
    vllm = pytest.importorskip("vllm", reason="vLLM is installed on GPU machines only")
    from vllm.inputs import TokensPrompt

    tok = STYLES["llama3"]()
    ids = encode_prompts(tok, [PROMPT], model="m", is_chat=True)[1][0]
    assert TokensPrompt(prompt_token_ids=ids) == {"prompt_token_ids": ids}
    params = vllm.SamplingParams(max_tokens=1, temperature=1.0, logprobs=20)
    assert params.max_tokens == 1 and params.logprobs == 20


def test_letters_are_tokenised_after_the_prompt_not_alone():
    tok = STYLES["llama2"]()
    letters = LetterTokens(tok, "llama2-style")
    alone = tok.convert_ids_to_tokens(tok.encode(" B", add_special_tokens=False))
    assert alone == ["▁▁", "B"]  # the pitfall: every lone " <letter>" starts with the same token
    assert tok.convert_ids_to_tokens(list(letters.after(PROMPT, " B"))) == ["▁B"]
    target = letters.training_target(PROMPT, ["A", "B", "C"], "B", is_chat=False)
    assert tok.convert_ids_to_tokens(list(target)) == ["▁B"]
    # A letter without a merge is supervised as its full continuation.
    target = letters.training_target(PROMPT, ["A", "B", "Z"], "Z", is_chat=False)
    assert tok.convert_ids_to_tokens(list(target)) == ["▁", "Z"]
    table = letters.scoring_table(PROMPT, ["B", "Z"])
    assert [tok.convert_ids_to_tokens(list(s)) for s in table["Z"]] == [["▁", "Z"], ["Z"]]


@pytest.mark.parametrize("style", ["llama3", "qwen", "tiny"])
def test_letter_targets_differ_per_option(style):
    tok = _tokenizer(style)
    letters = LetterTokens(tok, style)
    firsts = {letters.training_target(PROMPT, list("ABCD"), x, False)[0] for x in "ABCD"}
    assert len(firsts) == 4


def test_training_refuses_options_sharing_a_first_token():
    tok = STYLES["llama2"]()
    letters = LetterTokens(tok, "meta-llama/Llama-2-7b-hf")
    with pytest.raises(
        InputDataError, match="Llama-2-7b-hf: options 'Y' and 'Z' both start with '▁'"
    ):
        letters.training_target(PROMPT, ["X", "Y", "Z"], "X", is_chat=False)
    # Chat replies start bare ("Z", not " Z"): no shared first token, so the same options train.
    chat = format_prompt(tok, PROMPT, True)
    assert tok.convert_ids_to_tokens(
        list(letters.training_target(chat, ["Y", "Z"], "Z", True))
    ) == ["Z"]


def test_continuation_loss_is_the_full_continuation_nll(tmp_path):
    path = build_tiny_model(make_survey(), tmp_path / "tiny", seed=0)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    prompts, conts = [[1, 40, 41, 42], [1, 50]], [(60, 61), (70,)]
    with torch.no_grad():
        nll = continuation_nll(model, prompts, conts, pad_id=2)
        expected = []
        for p, c in zip(prompts, conts, strict=True):
            logp = torch.log_softmax(model(torch.tensor([p + list(c)])).logits[0].float(), -1)
            expected.append(-sum(float(logp[len(p) - 1 + k, t]) for k, t in enumerate(c)))
    assert torch.allclose(nll, torch.tensor(expected), atol=1e-5)
