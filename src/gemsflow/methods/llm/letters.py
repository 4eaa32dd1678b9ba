"""From next-token log-probabilities to a distribution over a question's answer letters.

Shared by every backend: transformers hands over the full log-softmax row (plus exact scores of multi-token
letter continuations), vLLM and the OpenAI API hand over their top-k log-probabilities. In every case the
probability of a letter is the summed probability of its continuations after the prompt (``" B"`` and
``"B"``, as ``gemsflow.methods.llm.tokens.LetterTokens`` tokenises them), the
distribution is restricted to the question's real letters and renormalised, and the pre-normalisation sum
is reported as the probability mass on valid letters. A pair with no mass on any real letter is marked
``abstained`` (scored 0 for accuracy, uniform for the distribution metrics; docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LetterScores:
    probs: np.ndarray  # over the prompt's letters, sums to 1
    mass: float  # probability the model put on valid letters before renormalising

    @property
    def abstained(self) -> bool:
        """No mass on any real option letter (or an unparsable reply): the model did not answer."""
        return not self.mass > 0.0

    @property
    def choice(self) -> int:
        return int(np.argmax(self.probs))


def from_letter_probs(raw: Iterable[float]) -> LetterScores:
    """Renormalise raw per-letter probabilities; no mass at all gives a uniform distribution."""
    raw = np.asarray(list(raw), dtype=np.float64)
    mass = float(raw.sum())
    if not mass > 0.0 or not math.isfinite(mass):
        return LetterScores(np.full(len(raw), 1.0 / len(raw)), 0.0)
    return LetterScores(raw / mass, mass)


def from_token_id_logprobs(
    top: Mapping[int, object], letters: list[str], table: dict[str, list[tuple[int, ...]]]
) -> LetterScores:
    """Top-k ``{token_id: logprob}`` (floats or objects with ``.logprob``, as vLLM returns) to letter scores.

    Only single-token continuations can be read from one position's log-probabilities; letters missing
    from the top-k get probability 0.
    """
    values = {int(tok): float(getattr(lp, "logprob", lp)) for tok, lp in top.items()}
    raw = []
    for letter in letters:
        ids = {seq[0] for seq in table[letter] if len(seq) == 1}
        raw.append(sum(math.exp(values[i]) for i in ids if i in values))
    return from_letter_probs(raw)


def from_token_string_logprobs(
    top: Iterable[tuple[str, float]], letters: list[str]
) -> LetterScores:
    """Top-k ``(token_text, logprob)`` pairs (the OpenAI API) to letter scores; ``" B"`` and ``"B"`` both count."""
    index = {letter: i for i, letter in enumerate(letters)}
    raw = np.zeros(len(letters))
    seen = set()
    for token, logprob in top:
        if token in seen:
            continue
        seen.add(token)
        key = token.strip()
        if key in index and token in (key, f" {key}"):
            raw[index[key]] += math.exp(logprob)
    return from_letter_probs(raw)


def letter_predictions(records: list[dict], scores: list[LetterScores]) -> pd.DataFrame:
    """One row per option of each record: ``individual, question, part, code, prob, abstained``."""
    rows = []
    for record, score in zip(records, scores, strict=True):
        for code, prob in zip(record["codes"], score.probs, strict=True):
            rows.append(
                (
                    record["individual"],
                    record["question"],
                    record["part"],
                    int(code),
                    float(prob),
                    score.abstained,
                )
            )
    columns = ["individual", "question", "part", "code", "prob", "abstained"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"code": "int64", "prob": "float64", "abstained": bool})
