"""A tiny random-weight causal LM, built offline, for tests and the default synthetic run.

The tokenizer is a byte-level BPE trained on the dataset's own texts and gemsflow's prompt wording. The
answer letters are made single tokens, with and without the leading space, so that letter scoring needs
one forward pass (the scorer still handles multi-token letters for real tokenizers).
"""

from __future__ import annotations

import logging
import string
from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.methods.llm import templates

log = logging.getLogger(__name__)

# "<|endoftext|>" is unused by gemsflow but reserved: transformers loads a qwen2-type model's tokenizer as
# Qwen2Tokenizer, which would otherwise append it beyond the model's embedding table.
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|endoftext|>"]


def corpus(data: SurveyData) -> list[str]:
    texts = [str(t) for t in data.questions["text"]]
    texts += [str(t) for t in data.options["text"]]
    texts += [t.description for t in data.traits]
    texts += [
        value
        for value in (getattr(templates, name) for name in dir(templates) if name.isupper())
        if isinstance(value, str)
    ]
    texts += list(templates.EXPERTS.values())
    return texts


def build_tokenizer(texts: list[str], vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    # " A" .. " Z" become single tokens by adding them to the BPE vocabulary as merges would have.
    letter_tokens = [f"\u0120{c}" for c in string.ascii_uppercase]
    vocab = tokenizer.get_vocab()
    missing = [t for t in letter_tokens if t not in vocab]
    if missing:
        model = tokenizer.model
        merges = [tuple(m) for m in _merges_of(tokenizer)]
        merges += [("\u0120", t[1]) for t in missing]
        full = dict(vocab)
        for token in missing:
            full[token] = len(full)
        tokenizer.model = models.BPE(vocab=full, merges=merges)
        del model
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    # The model sees a BOS token first, like Llama-family tokenizers add by default.
    from tokenizers import processors

    fast._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", fast.bos_token_id)]
    )
    return fast


def _check_reload(out_dir: Path, built) -> None:
    """AutoTokenizer may load the files through an architecture-specific class (Qwen2Tokenizer brings its
    own pre-tokenizer); what it loads is what every stage uses, so that is what must fit the model."""
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(out_dir)
    bad = [
        c
        for c in string.ascii_uppercase
        if len(loaded.encode(f" {c}", add_special_tokens=False)) != 1
    ]
    if len(loaded) != len(built) or bad:
        raise RuntimeError(
            f"{out_dir}: the saved tokenizer reloads as {type(loaded).__name__} with {len(loaded)} tokens "
            f"(built {len(built)}; multi-token letters {bad}); use architecture llama"
        )


def _merges_of(tokenizer) -> list[tuple[str, str]]:
    import json

    state = json.loads(tokenizer.to_str())
    return [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]
    ]


def build_tiny_model(
    data: SurveyData,
    out_dir: str | Path,
    *,
    architecture: str = "llama",
    hidden_size: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    vocab_size: int = 1024,
    max_positions: int = 4096,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> Path:
    """Train the tokenizer, build a random-weight model and ``save_pretrained`` both into ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer(corpus(data), vocab_size)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=max(1, n_heads // 2),
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # Wider than the usual 0.02: with hidden size 64 and tied embeddings, 0.02 caps every logit near
        # 1, so no fine-tuning could make the model confident about an answer letter.
        initializer_range=initializer_range,
    )
    if architecture == "llama":
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    elif architecture == "qwen2":
        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    else:
        raise ValueError(f"unknown tiny architecture {architecture!r} (use llama or qwen2)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The config goes first: AutoTokenizer reads its model_type to pick the tokenizer class.
    config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _check_reload(out_dir, tokenizer)
    torch.manual_seed(seed)
    model = cls(config)
    model.save_pretrained(out_dir)
    log.info(
        "tiny %s model: %d parameters, vocabulary %d, saved to %s",
        architecture,
        sum(p.numel() for p in model.parameters()),
        len(tokenizer),
        out_dir,
    )
    return out_dir
