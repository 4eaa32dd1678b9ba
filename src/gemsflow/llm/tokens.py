"""The token ids a model really sees: the final prompt tokenised once, and the answer letters after it.

Every backend (transformers, vLLM) and LoRA training go through :func:`encode_prompts`: a chat prompt is
rendered by the model's chat template (which already writes the special tokens the model expects) and
tokenised with ``add_special_tokens=False``; a plain prompt is tokenised with the tokenizer's own special
tokens. :func:`check_prompt_tokens` then asserts what is otherwise assumed: exactly one BOS at the start
when the tokenizer uses one, and no special token twice in a row (the classic doubled ``<s><s>`` of a
chat template rendered to text and tokenised again).

:func:`letter_ids` gives the tokens of an answer letter *after the prompt's end*: the letter is
tokenised together with the end of the prompt, never alone, because tokenizers of the Llama-2 family
(metaspace) tokenise a lone ``" B"`` as ``['▁▁', 'B']`` but ``"Answer: B"`` as ``[..., ':', '▁B']``.
"""

from __future__ import annotations

from collections.abc import Iterable

from gemsflow.errors import InputDataError

# Enough of the prompt's end for any tokenizer's merges to settle before the letter; only the tokens
# after this context are read, so where the context starts does not matter.
CONTEXT_CHARS = 64


def chat_messages(prompt: str) -> list[dict]:
    from gemsflow.llm import templates

    return [
        {"role": "system", "content": templates.SYSTEM_MESSAGE},
        {"role": "user", "content": prompt},
    ]


def format_prompt(
    tokenizer, prompt: str, is_chat: bool, chat_template_kwargs: dict | None = None
) -> str:
    """The final prompt text: the chat template's rendering for chat models, the prompt itself otherwise."""
    if not is_chat:
        return prompt
    return tokenizer.apply_chat_template(
        chat_messages(prompt),
        tokenize=False,
        add_generation_prompt=True,
        **(chat_template_kwargs or {}),
    )


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts a BOS token in front of plain text (Llama-2/3 do, Qwen has none)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("x", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def check_prompt_tokens(tokenizer, ids: Iterable[list[int]], model: str, is_chat: bool) -> None:
    """Exactly one BOS first (when the tokenizer or its chat template uses one); no doubled specials."""
    bos = getattr(tokenizer, "bos_token_id", None)
    wants_bos = adds_bos(tokenizer) or (
        is_chat and bos is not None and tokenizer.bos_token in (tokenizer.chat_template or "")
    )
    special = set(tokenizer.all_special_ids)
    for n, row in enumerate(ids):
        problem = None
        n_bos = sum(t == bos for t in row) if bos is not None else 0
        if wants_bos and (n_bos != 1 or row[0] != bos):
            problem = f"{n_bos} BOS tokens ({tokenizer.bos_token!r}), expected exactly one, first"
        elif not wants_bos and bos is not None and bos not in (tokenizer.eos_token_id,) and n_bos:
            problem = f"{n_bos} BOS tokens ({tokenizer.bos_token!r}) where the tokenizer adds none"
        else:
            doubled = [a for a, b in zip(row, row[1:], strict=False) if a == b and a in special]
            if doubled:
                problem = (
                    f"special token {tokenizer.convert_ids_to_tokens(doubled[0])!r} twice in a row"
                )
        if problem:
            raise InputDataError(
                None,
                "llm.models",
                f"model {model}: prompt {n} tokenises to {problem}",
                "check the model's chat flag and chat template (a chat template must not be "
                "tokenised with add_special_tokens=True)",
            )


def encode_prompts(
    tokenizer,
    prompts: list[str],
    *,
    model: str,
    is_chat: bool = False,
    chat_template_kwargs: dict | None = None,
) -> tuple[list[str], list[list[int]]]:
    """The final texts and their token ids (tokenised once, checked) of ``prompts``."""
    texts = [format_prompt(tokenizer, p, is_chat, chat_template_kwargs) for p in prompts]
    # A chat template already contains the special tokens the model expects.
    ids = [list(x) for x in tokenizer(texts, add_special_tokens=not is_chat)["input_ids"]]
    check_prompt_tokens(tokenizer, ids, model, is_chat)
    return texts, ids


class LetterTokens:
    """Token ids of answer letters after a prompt's end, cached by the prompt's last characters."""

    def __init__(self, tokenizer, model: str):
        self.tokenizer, self.model = tokenizer, model
        self._cache: dict[tuple[str, str], tuple[int, ...]] = {}

    def after(self, text: str, continuation: str) -> tuple[int, ...]:
        """Ids that ``continuation`` (e.g. ``" B"``) adds when it follows ``text``."""
        context = text[-CONTEXT_CHARS:]
        key = (context, continuation)
        if key not in self._cache:
            base = self.tokenizer.encode(context, add_special_tokens=False)
            full = self.tokenizer.encode(context + continuation, add_special_tokens=False)
            if full[: len(base)] != base or len(full) == len(base):
                raise InputDataError(
                    None,
                    "llm.models",
                    f"model {self.model}: the answer {continuation!r} merges with the prompt's end "
                    f"{context[-20:]!r} into other tokens",
                    "end the answer cue with a character the tokenizer keeps apart (e.g. ':')",
                )
            self._cache[key] = tuple(full[len(base) :])
        return self._cache[key]

    def scoring_table(self, text: str, letters: list[str]) -> dict[str, list[tuple[int, ...]]]:
        """Each letter's distinct continuations after ``text``, with and without a space (" B", "B")."""
        table = {}
        for letter in letters:
            seqs: list[tuple[int, ...]] = []
            for cont in (f" {letter}", letter):
                ids = self.after(text, cont)
                if ids not in seqs:
                    seqs.append(ids)
            table[letter] = seqs
        return table

    def training_target(
        self, text: str, letters: list[str], label: str, is_chat: bool
    ) -> tuple[int, ...]:
        """The full continuation of ``label`` to supervise; refuses when options share a first token."""
        # After a base model's "Answer:" the letter comes with its space; a chat model's reply starts bare.
        spacer = "" if is_chat else " "
        firsts: dict[int, str] = {}
        for letter in letters:
            first = self.after(text, f"{spacer}{letter}")[0]
            if first in firsts:
                token = self.tokenizer.convert_ids_to_tokens(first)
                raise InputDataError(
                    None,
                    "llm.models",
                    f"model {self.model}: options {firsts[first]!r} and {letter!r} both start with "
                    f"{token!r} after the prompt, so the answer's first token does not tell them apart",
                    "use a model whose tokenizer keeps answer letters apart, or another answer cue",
                )
            firsts[first] = letter
        return self.after(text, f"{spacer}{label}")
