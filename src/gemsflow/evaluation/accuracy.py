"""Tie-aware accuracy: the one definition of "right" that every scorer, selector and baseline uses.

A pair's credit is the expected accuracy of a uniformly random tie-break among the options that share
the top score: ``1/t`` when the observed answer is one of the ``t`` tied options, else 0. A flat
prediction therefore earns exactly ``1/K`` (what a random guess earns), never "option A". A pair whose
method abstained earns 0. Scores may be probabilities or logits; options beyond a question's real ones
are excluded with ``valid`` (or carry probability 0, which never ties with a positive maximum).
"""

from __future__ import annotations

import numpy as np

# Scores within this relative distance of the maximum count as tied: a softmax or a normalisation of
# equal inputs can differ in the last bits, and those are ties in every sense a user cares about.
TIE_RTOL = 1e-9


def top_options(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """[n, K] bool: the options sharing each row's top score (never an invalid or NaN option)."""
    scores = np.asarray(scores, dtype=np.float64)
    usable = np.isfinite(scores) if valid is None else np.asarray(valid, bool) & np.isfinite(scores)
    masked = np.where(usable, scores, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    return usable & (masked >= top - TIE_RTOL * np.maximum(1.0, np.abs(top)))


def pair_credit(
    scores: np.ndarray,
    answer: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    abstained: np.ndarray | None = None,
) -> np.ndarray:
    """[n] expected accuracy of each pair under a random tie-break; 0 where the method abstained."""
    tied = top_options(scores, valid)
    n_tied = tied.sum(axis=1)
    answer = np.asarray(answer, dtype=np.int64)
    hit = tied[np.arange(len(answer)), answer]
    credit = np.divide(hit, n_tied, out=np.zeros(len(answer)), where=n_tied > 0)
    if abstained is not None:
        credit = np.where(np.asarray(abstained, bool), 0.0, credit)
    return credit


def accuracy(
    scores: np.ndarray,
    answer: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    abstained: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> float:
    """Mean tie-aware credit over pairs (weighted when ``weights`` is given); NaN for no pairs."""
    credit = pair_credit(scores, answer, valid=valid, abstained=abstained)
    if len(credit) == 0:
        return float("nan")
    return float(np.average(credit, weights=weights))
