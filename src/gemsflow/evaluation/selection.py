"""Validation figures that a method's own choices do not flatter: cross-fitting over validation folds.

A method that picks something on validation answers (a GNN's epoch, logreg's C and feature set, the
ensemble's weights, the new-question model's candidate) and then reports the accuracy of its pick on those
same answers reports a maximum over candidates: noise in its favour, larger the more candidates it tried.
The leaderboard picks a method on that figure, so methods with many candidates would win on luck.

The cure is the same everywhere. Validation units (people, or questions on a question-axis setting) are
split into folds (:func:`validation_folds`); the validation predictions of fold ``j`` come from the
candidate chosen on the other folds (:func:`cross_fitted_choice`), so the validation accuracy the scorer
computes from a predictions file is out-of-fold. Test predictions use the candidate chosen on all
validation pairs.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# Folds when a caller gives none (notebooks); the workflow passes the config's validation_folds.
DEFAULT_FOLDS = 2


def validation_folds(units: pd.Series, n_folds: int, seed: int, kind: str = "people") -> np.ndarray:
    """[pairs] fold of each validation pair: its unit's, by a seeded shuffle of the sorted units.

    A unit is what the split holds out: a person (settings on the individual axis) or a question (the
    question axis). Folds split units, not pairs: pairs of one unit are correlated, so a fold must not
    share a unit with the folds its choice is made on. The folds depend on which units are in
    validation, never on answers. Fewer units than ``n_folds`` give one fold per unit; a single unit
    cannot be cross-fitted (see :func:`held_out_accuracy`).
    """
    ids = np.sort(units.unique())
    if len(ids) < n_folds:
        log.warning(
            "%d validation %s: %d cross-fitting folds instead of %d",
            len(ids),
            kind,
            len(ids),
            n_folds,
        )
    fold = np.random.default_rng(seed).permutation(len(ids)) % max(min(n_folds, len(ids)), 1)
    return pd.Series(fold, index=ids).loc[units].to_numpy()


def n_folds_of(fold: np.ndarray) -> int:
    return int(fold.max()) + 1 if len(fold) else 1


def held_out_accuracy(credit: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """[folds] mean credit over the validation pairs outside each fold (what fold j's choice may see).

    With a single fold (one validation unit) there is nothing outside it: the choice is then made on
    the fold itself, i.e. the figure stays in-sample, as it must where validation holds one unit.
    """
    n_folds = n_folds_of(fold)
    if n_folds == 1:
        return np.array([credit.mean() if len(credit) else 0.0])
    totals = np.bincount(fold, weights=credit, minlength=n_folds)
    counts = np.bincount(fold, minlength=n_folds)
    return (totals.sum() - totals) / np.maximum(counts.sum() - counts, 1)


def cross_fitted_choice(credit: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """[folds] index of the candidate (row of ``credit``, [candidates, pairs] tie-aware credit) with the
    highest accuracy outside each fold; the earliest candidate on ties."""
    scores = np.stack([held_out_accuracy(row, fold) for row in credit])
    return scores.argmax(axis=0)


def out_of_fold_predictions(
    probs: np.ndarray, credit: np.ndarray, fold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validation predictions of every candidate ([candidates, pairs, options]) and their credit
    ([candidates, pairs]) -> (the out-of-fold prediction of each pair, the candidate chosen per fold)."""
    chosen = cross_fitted_choice(credit, fold)
    return probs[chosen[fold], np.arange(len(fold))], chosen


def out_of_fold_frame(
    frames: list[pd.DataFrame], credit: np.ndarray, units: pd.Series, fold: np.ndarray, unit: str
) -> tuple[pd.DataFrame, int, np.ndarray]:
    """Long predictions of candidates (``frames``: the same rows in the same order, each with ``part``
    and the ``unit`` column) -> (the frame of the candidate best on all validation pairs with its
    validation rows of each fold replaced by the candidate chosen on the other folds, that best
    candidate, the candidate chosen per fold). ``credit`` is [candidates, validation pairs] and
    ``units``/``fold`` give each validation pair's unit and fold."""
    best = int(credit.mean(axis=1).argmax())
    chosen = cross_fitted_choice(credit, fold)
    out = frames[best].copy()
    fold_of = pd.Series(fold, index=units.to_numpy()).groupby(level=0).first()
    row_fold = out[unit].astype(str).map(fold_of.rename(index=str))
    for j, c in enumerate(chosen):
        rows = (out["part"] == "val") & (row_fold == j)
        out.loc[rows] = frames[c].loc[rows]
    return out, best, chosen
