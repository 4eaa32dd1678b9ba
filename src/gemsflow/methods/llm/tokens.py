"""The token ids a model really sees: the final prompt tokenised once, and the answer letters after it.

Every backend (transformers, vLLM) and LoRA training go through :func:`encode_prompts`: a chat prompt is
rendered by the model's chat template (which already writes the special tokens the model expects) and
tokenised with ``add_special_tokens=False``; a plain prompt is tokenised with the tokenizer's own special
tokens. :func:`check_prompt_tokens` then asserts what is otherwise assumed: as many BOS tokens as the final text
holds (one at the start for Llama-style models; one per turn where a ChatML template's BOS is
``<|im_start|>``, as SmolLM2's is), and no special token twice in a row (the classic doubled ``<s><s>`` of
a chat template rendered to text and tokenised again).

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
    from gemsflow.methods.llm import templates

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


def expected_bos(tokenizer, text: str, is_chat: bool) -> int:
    """How many BOS tokens the final prompt must hold: each one the chat template wrote into the text
    (ChatML templates whose BOS is ``<|im_start|>`` write one per turn), plus the tokenizer's own for a
    plain prompt."""
    bos_text = getattr(tokenizer, "bos_token", None)
    written = text.count(bos_text) if bos_text else 0
    return written if is_chat else written + int(adds_bos(tokenizer))


def check_prompt_tokens(
    tokenizer, texts: list[str], ids: Iterable[list[int]], model: str, is_chat: bool
) -> None:
    """BOS exactly where the final text puts it (first, when the prompt starts with one), never added
    twice, and no special token doubled."""
    bos = getattr(tokenizer, "bos_token_id", None)
    # A tokenizer whose BOS is its EOS (GPT-2 style) marks document ends with it, not prompt starts.
    counts_bos = bos is not None and (bos != tokenizer.eos_token_id or adds_bos(tokenizer))
    special = set(tokenizer.all_special_ids)
    for n, (text, row) in enumerate(zip(texts, ids, strict=True)):
        problem = None
        if counts_bos:
            n_bos = sum(t == bos for t in row)
            wanted = expected_bos(tokenizer, text, is_chat)
            starts = (not is_chat and adds_bos(tokenizer)) or text.startswith(tokenizer.bos_token)
            if n_bos != wanted or (starts and row[0] != bos):
                problem = f"{n_bos} BOS tokens ({tokenizer.bos_token!r}), expected {wanted}" + (
                    ", the first one opening the prompt" if starts else ""
                )
        if problem is None:
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
    check_prompt_tokens(tokenizer, texts, ids, model, is_chat)
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
