"""Differences between groups (contrasts): what a simulated breakdown is read for.

A breakdown by party is read as "Republicans favour this 20 points less than Democrats", so the figure
that matters is the contrast, group a's share of an option minus group b's, not each group's distance to
its truth: a prediction that gives every group the population's shares has small per-group distances and
no contrast at all. Given answer shares per (question, trait, group, option), observed and predicted:

* every pair of categories of a trait (both with at least ``min_n`` people) and every option gives one
  contrast, weighted by ``n_a n_b / (n_a + n_b)`` (the inverse of a difference of two proportions'
  sampling variance, up to ``p(1 - p)``);
* correlation of predicted and observed contrasts, pooled over questions: ``Σ w x y / sqrt(Σ w x² Σ w
  y²)``, about zero because a pair's orientation (a - b or b - a) is arbitrary; undefined (NaN) for a
  prediction without contrasts;
* sign agreement on contrasts whose observed size is at least ``min_size``, a zero prediction counting
  one half (the expected credit of a coin toss, as tie-aware accuracy does);
* contrast RMSE, beside the no-contrast prediction's (every group equal to the population: contrast 0);
* coverage: the share of (question, group, option) rows whose observed share lies in a method's interval.

The noise ceiling (:func:`split_halves`) is the same statistic between two random halves of the observed
people: how well one sample of the panel predicts another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL = "all"
OVERALL = "overall"
KEYS = ["question", "trait", "group", "position"]


def pair_contrasts(shares: pd.DataFrame, columns: list[str], min_n: int) -> pd.DataFrame:
    """One row per (question, trait, pair of groups, option): ``weight`` and each column's contrast.

    ``shares``: ``question``, ``trait``, ``group``, ``position``, ``n`` and the share columns; the
    whole-population rows (trait ``all``) and groups under ``min_n`` people are left out.
    """
    rows = shares.loc[(shares["trait"] != ALL) & (shares["n"] >= min_n), [*KEYS, "n", *columns]]
    pairs = rows.merge(rows, on=["question", "trait", "position"], suffixes=("_a", "_b"))
    pairs = pairs.loc[pairs["group_a"].astype(str) < pairs["group_b"].astype(str)]
    out = pairs[["question", "trait", "group_a", "group_b", "position"]].copy()
    n_a, n_b = pairs["n_a"].to_numpy(float), pairs["n_b"].to_numpy(float)
    out["weight"] = n_a * n_b / (n_a + n_b)
    for column in columns:
        out[column] = pairs[f"{column}_a"].to_numpy(float) - pairs[f"{column}_b"].to_numpy(float)
    return out.reset_index(drop=True)


def contrast_statistics(
    observed: np.ndarray, predicted: np.ndarray, weight: np.ndarray, min_size: float
) -> dict[str, float]:
    """Correlation, sign agreement (on ``|observed| >= min_size``), RMSE and the no-contrast RMSE."""
    ok = ~np.isnan(predicted) & ~np.isnan(observed)
    x, y, w = observed[ok], predicted[ok], weight[ok]
    denominator = np.sqrt((w * x * x).sum() * (w * y * y).sum())
    large = np.abs(x) >= min_size
    agree = np.where(y[large] == 0, 0.5, (np.sign(y[large]) == np.sign(x[large])).astype(float))
    return {
        "correlation": float((w * x * y).sum() / denominator) if denominator > 0 else np.nan,
        "sign_agreement": float(np.average(agree, weights=w[large])) if large.any() else np.nan,
        "n_large": int(large.sum()),
        "rmse": float(np.sqrt(np.average((y - x) ** 2, weights=w))) if len(w) else np.nan,
        "rmse_no_contrast": float(np.sqrt(np.average(x * x, weights=w))) if len(w) else np.nan,
        "n_contrasts": int(len(w)),
    }


def summarise(
    contrasts: pd.DataFrame, observed: str, methods: list[str], min_size: float
) -> pd.DataFrame:
    """Per method, per trait and over all traits (``overall``): :func:`contrast_statistics`."""
    records = []
    groups = [(OVERALL, contrasts), *contrasts.groupby("trait", sort=True)]
    for trait, rows in groups:
        for method in methods:
            stats = contrast_statistics(
                rows[observed].to_numpy(float),
                rows[method].to_numpy(float),
                rows["weight"].to_numpy(float),
                min_size,
            )
            records.append({"trait": trait, "method": method, **stats})
    return pd.DataFrame(records)


def coverage(
    shares: pd.DataFrame, observed: str, intervals: dict[str, tuple[str, str]], min_n: int
) -> pd.DataFrame:
    """Per method and trait (and ``overall``, subgroups only): how often the observed share lies in
    the method's interval (columns ``lo``, ``hi``)."""
    rows = shares.loc[(shares["trait"] != ALL) & (shares["n"] >= min_n)]
    records = []
    for trait, part in [(OVERALL, rows), *rows.groupby("trait", sort=True)]:
        value = part[observed].to_numpy(float)
        for method, (lo, hi) in intervals.items():
            inside = (part[lo].to_numpy(float) <= value) & (value <= part[hi].to_numpy(float))
            records.append(
                {"trait": trait, "method": method, "coverage": float(inside.mean()), "n": len(part)}
            )
    return pd.DataFrame(records)


def split_halves(people: np.ndarray, seed: int) -> np.ndarray:
    """[n] bool: a seeded random half of ``people`` (sorted first, so the order they come in does not
    matter)."""
    order = np.argsort(np.asarray(people, dtype=str), kind="stable")
    half = np.zeros(len(people), dtype=bool)
    pick = np.random.default_rng(seed).permutation(len(people))[: len(people) // 2]
    half[order[pick]] = True
    return half


MIN_SIZE = 0.05  # contrasts of at least 5 points count for sign agreement
HELD_UP_CORRELATION = 0.4  # below it a trait's simulated contrasts are marked as not held up


def pooled(shares: pd.DataFrame) -> pd.DataFrame:
    """Seeds' held-out questions as one set of questions (a question can be held out by two seeds)."""
    return shares.assign(question=shares["seed"].astype(str) + ":" + shares["question"].astype(str))


def heldout_contrasts(
    shares: pd.DataFrame, methods: list[str], target: str, min_n: int
) -> pd.DataFrame:
    """Contrast statistics of ``methods`` against ``target`` (observed or true shares) per seed and
    pooled over seeds (``seed`` = ``pooled``), by trait and overall; the noise ceiling (the same
    statistic between two random halves of the observed people) beside them where halves are given."""
    frames = []
    for seed, rows in [*shares.groupby("seed"), ("pooled", pooled(shares))]:
        pairs = pair_contrasts(rows, [target, *methods], min_n)
        table = summarise(pairs, target, methods, MIN_SIZE)
        if target == "observed" and "half_a" in rows:
            halves = rows.drop(columns="n").rename(columns={"n_half": "n"})
            ceiling = summarise(
                pair_contrasts(halves, ["half_a", "half_b"], min_n), "half_a", ["half_b"], MIN_SIZE
            )
            ceiling = ceiling.drop(columns="method").set_index("trait").add_prefix("ceiling_")
            table = table.join(ceiling, on="trait")
        frames.append(table.assign(seed=str(seed), target=target))
    return pd.concat(frames, ignore_index=True)


def held_up(row: pd.Series) -> bool:
    """A trait's contrasts held up: pooled correlation at least :data:`HELD_UP_CORRELATION` and an RMSE
    below the no-contrast prediction's."""
    return bool(row["correlation"] >= HELD_UP_CORRELATION and row["rmse"] < row["rmse_no_contrast"])
