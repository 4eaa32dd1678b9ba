"""Tokenizers in the styles of real model families, built offline with the ``tokenizers`` library.

* ``llama2``: sentencepiece-style (metaspace normaliser: a ``▁`` is prepended and replaces every space),
  BOS ``<s>`` added by the post-processor, ``[INST]`` chat template. The merge ``▁▁`` outranks ``▁B``, so a
  lone ``" B"`` tokenises as ``['▁▁', 'B']`` while ``"Answer: B"`` ends in ``'▁B'``. ``▁Y``/``▁Z`` have no
  merge (``" Z"`` after the prompt is ``['▁', 'Z']``).
* ``llama3``: byte-level BPE, BOS ``<|begin_of_text|>`` added by the post-processor and written again by
  the chat template (``{{ bos_token }}``), header/eot specials.
* ``qwen``: byte-level BPE without BOS, ``<|im_start|>``/``<|im_end|>`` chat template.
"""

from __future__ import annotations

import string

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

from gemsflow.methods.llm import templates

LLAMA2_CHAT = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<<SYS>>\n{{ m['content'] }}"
    "\n<</SYS>>\n\n{% else %}[INST] {{ m['content'] }} [/INST]{% endif %}{% endfor %}"
)
LLAMA3_CHAT = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QWEN_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    templates.SYSTEM_MESSAGE,
    "Question: How often do you agree?\nA. never\nB. often\nC. always\nAnswer: B",
    "Answer: A Answer: C Answer: D",
]


def llama2() -> PreTrainedTokenizerFast:
    chars = sorted(set("".join(CORPUS)) | set(string.printable[:95]) - {" "})
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    merges = [("▁", "▁")] + [("▁", c) for c in string.ascii_uppercase[:24]]  # no ▁Y, ▁Z
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = LLAMA2_CHAT
    return fast


def _byte_level(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    return tok


def llama3() -> PreTrainedTokenizerFast:
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>"]
    specials += ["<|end_header_id|>", "<|eot_id|>"]
    tok = _byte_level(specials)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        additional_special_tokens=specials[2:4],
    )
    fast.chat_template = LLAMA3_CHAT
    return fast


def qwen() -> PreTrainedTokenizerFast:
    tok = _byte_level(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = QWEN_CHAT
    return fast


def chatml_bos() -> PreTrainedTokenizerFast:
    """SmolLM2's arrangement: ChatML whose BOS is ``<|im_start|>``, so every turn opens with a BOS; plain
    text gets none."""
    tok = _byte_level(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = QWEN_CHAT
    return fast


STYLES = {"llama2": llama2, "llama3": llama3, "qwen": qwen, "chatml_bos": chatml_bos}
