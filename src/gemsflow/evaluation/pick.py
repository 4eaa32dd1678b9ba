"""Leads over the best floor with paired intervals, and the leaderboard's noise-honest pick.

A method's *lead* is its accuracy minus the best floor's on the same held-out pairs (every method predicts
every held-out pair of the split, so the two are always scored on the same people and questions). Its
interval is a **paired** bootstrap: each draw resamples one split's held-out people with replacement and
recomputes both methods' accuracy on the drawn people, so what the people have in common (easy or hard
people, easy or hard questions) cancels, as it does in the lead itself. With several seeds, each draw
resamples every seed's people independently and averages the seeds' leads, so the interval is that of the
seed-mean lead (the figure the leaderboard shows). It covers the sampling of people only: not how the
split or the training seed could have come out otherwise (the ± std over seeds shows that).

The pick rule (what ``Val. pick`` marks), made on validation only:

1. the *best floor* is the model-free floor (:data:`FLOOR_METHODS`) with the highest mean validation
   accuracy;
2. a method is *clear of the floors* when the lower end of the paired interval of its validation lead over
   the best floor is above 0;
3. the pick is the method clear of the floors with the highest mean validation accuracy. Floors and
   placeholder models (random weights, built for tests) are never picked;
4. when no method is clear of the floors, nothing is picked, and the leaderboard says so: on that
   validation set, no method's lead is distinguishable from noise.

Validation on a setting-1 Dunning-Kruger split is 5 % of the people (about 1,900 pairs), so a lead of
half a point is usually inside its interval, and this rule declines to crown such a lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.evaluation.metrics import part_credit
from gemsflow.methods.registry import FLOOR_METHODS


def person_credit(
    predictions: pd.DataFrame, data: SurveyData, split: pd.DataFrame, part: str
) -> pd.DataFrame:
    """Per held-out person of ``part``: the sum of the tie-aware credit of their pairs and their count.

    Indexed by individual id; the credit is the scorer's own (:func:`gemsflow.evaluation.metrics.
    part_credit`), so the leads agree with the metrics.json accuracies.
    """
    individuals, credit = part_credit(predictions, data, split, part)
    frame = pd.DataFrame({"credit": credit, "n": 1.0}, index=individuals.to_numpy())
    return frame.groupby(level=0, sort=True).sum()


@dataclass(frozen=True)
class Lead:
    mean: float  # seed mean of (method accuracy - reference accuracy) on the same pairs
    low: float
    high: float


def paired_leads(
    credits: Mapping[tuple[str, int], pd.DataFrame],
    reference: str,
    methods: Iterable[str],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    where: str = "leaderboard",
) -> dict[str, Lead]:
    """The lead of each method over ``reference`` with its paired percentile interval.

    ``credits[(method, seed)]``: :func:`person_credit` of one run on one part. Seeds are those of
    ``reference``; every method needs every one of them, on the same people.
    """
    seeds = sorted(s for m, s in credits if m == reference)
    methods = list(methods)
    rng = np.random.default_rng(seed)
    point = {m: np.zeros(len(seeds)) for m in methods}
    draws = {m: np.zeros((len(seeds), n_boot)) for m in methods}
    tail = (1.0 - level) / 2.0
    for i, s in enumerate(seeds):
        ref = credits[(reference, s)]
        # One set of resampled people per seed, shared by every method: the draws are paired.
        counts = rng.multinomial(len(ref), np.full(len(ref), 1.0 / len(ref)), size=n_boot)
        drawn_n = counts @ ref["n"].to_numpy()
        for m in methods:
            if (m, s) not in credits:
                raise InputDataError(
                    where, "seed", f"{m} has no run for seed {s}", f"run {m} for every seed"
                )
            own = credits[(m, s)].reindex(ref.index)
            if own["n"].isna().any() or not np.array_equal(own["n"], ref["n"]):
                raise InputDataError(
                    where,
                    "individual",
                    f"{m} seed {s} was scored on other pairs than {reference}",
                    "score every run on the split's held-out pairs",
                )
            diff = own["credit"].to_numpy() - ref["credit"].to_numpy()
            point[m][i] = diff.sum() / ref["n"].sum()
            draws[m][i] = counts @ diff / drawn_n
    leads = {}
    for m in methods:
        mean_draws = draws[m].mean(axis=0)
        low, high = np.quantile(mean_draws, [tail, 1.0 - tail]) if n_boot else (np.nan, np.nan)
        leads[m] = Lead(float(point[m].mean()), float(low), float(high))
    return leads


def best_floor(val_accuracy: pd.Series) -> str | None:
    """The floor with the highest mean validation accuracy (first in ``FLOOR_METHODS`` order on ties;
    without any validation figure, the first floor present stands in as the reference)."""
    floors = [m for m in FLOOR_METHODS if m in val_accuracy.index]
    usable = val_accuracy.loc[floors].astype("float64").dropna()
    if len(usable):
        return usable.idxmax()
    return floors[0] if floors else None


@dataclass(frozen=True)
class Pick:
    method: str | None  # None: no method is clear of the floors
    floor: str | None
    note: str


def pick(
    val_accuracy: pd.Series,
    val_leads: Mapping[str, Lead],
    placeholders: Iterable[str] = (),
    level: float = 0.95,
) -> Pick:
    """The rule of this module's docstring. ``val_accuracy``: mean validation accuracy per method;
    ``val_leads``: the validation lead over the best floor of every candidate method; ``level``: the
    intervals' confidence level (for the note)."""
    interval = f"paired {100 * level:g}% interval"
    floor = best_floor(val_accuracy)
    if floor is None:
        return Pick(None, None, "No pick: no model-free floor ran, so no lead can be measured.")
    if val_accuracy.isna().all():
        return Pick(None, floor, "No pick: the runs have no validation figures to pick on.")
    candidates = [m for m in val_leads if m not in FLOOR_METHODS and m not in set(placeholders)]
    clear = [m for m in candidates if val_leads[m].low > 0]
    if clear:
        chosen = max(clear, key=lambda m: (val_accuracy[m], -sorted(clear).index(m)))
        lead = val_leads[chosen]
        return Pick(
            chosen,
            floor,
            f"Pick: {chosen}, the most accurate on validation of the methods whose validation lead"
            f" over the best floor ({floor}) is above 0 with its whole {interval}"
            f" ({_points(lead.mean)} pts [{_points(lead.low)}, {_points(lead.high)}]).",
        )
    if not candidates:
        return Pick(None, floor, f"No pick: no method besides the floors; best floor {floor}.")
    closest = max(candidates, key=lambda m: (val_leads[m].mean, -sorted(candidates).index(m)))
    lead = val_leads[closest]
    bounds = f"{interval} of [{_points(lead.low)}, {_points(lead.high)}]"
    if lead.high < 0:
        # Every method trails the floor beyond noise: saying "indistinguishable" would hide that.
        return Pick(
            None,
            floor,
            f"No pick: every method trails the best floor ({floor}) on validation. The closest,"
            f" {closest}, leads it by {_points(lead.mean)} pts, with a {bounds}: below 0 throughout.",
        )
    return Pick(
        None,
        floor,
        f"No pick: no method leads the best floor ({floor}) on validation beyond noise. The largest"
        f" validation lead, {closest} {_points(lead.mean)} pts, has a {bounds}, which includes 0; on"
        " these validation people the methods are indistinguishable from the floor.",
    )


def _points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return "n/a" if not np.isfinite(value) else f"{100 * value:+.2f}"
