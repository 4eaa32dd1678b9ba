"""How far a study's simulated shares can be trusted: the held-out evidence shown on the study page.

A study asks questions nobody answered, so nothing on its page can be checked against answers. What can
be checked is the same method on questions that *were* answered but held out (setting 3, one split per
seed): its accuracy there against chance (``uniform``) and the position prior (the floors), and how far
its subgroup shares were from the observed ones (the held-out table, ``simulation.tsv``, which also
scores three alternatives). This module reads those figures and writes the page's section about them;
it computes nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from gemsflow.io import read_json

FLOORS = ("uniform", "position_prior")


@dataclass(frozen=True)
class Evidence:
    method: str  # the setting-3 method behind the production model, e.g. mapping-sage-minilm
    setting: str
    seeds: list[int]
    accuracy: dict[str, list[float]]  # method or floor -> test accuracy per seed
    heldout: pd.DataFrame  # the held-out table (simulation.tsv)
    table_link: str  # the held-out table's page, relative to the study page


def read_evidence(
    method: str,
    setting: str,
    metrics: Mapping[str, Sequence[str | Path]],
    heldout_tsv: str | Path,
    table_link: str,
) -> Evidence:
    """``metrics``: method or floor -> its setting-3 runs' metrics.json files (one per seed)."""
    accuracy, seeds = {}, []
    for name, paths in metrics.items():
        runs = sorted((read_json(p) for p in paths), key=lambda m: m["seed"])
        accuracy[name] = [float(m["accuracy"]) for m in runs]
        seeds = [int(m["seed"]) for m in runs]
    return Evidence(
        method, setting, seeds, accuracy, pd.read_csv(heldout_tsv, sep="\t"), table_link
    )


def _mean(values: list[float]) -> str:
    spread = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
    return f"{np.mean(values):.3f}{spread}"


def verdict(evidence: Evidence) -> str:
    """One sentence: is the method above chance and the position prior on held-out questions?"""
    own = np.asarray(evidence.accuracy[evidence.method])
    beats = {f: int((own > np.asarray(evidence.accuracy[f])).sum()) for f in FLOORS}
    n = len(own)
    if beats["uniform"] == n and beats["position_prior"] == n:
        splits = "the one held-out split" if n == 1 else f"every one of the {n} held-out splits"
        return f"above chance and the position prior on {splits}"
    if beats["uniform"] == 0:
        return "not above chance on any held-out split: its shares are no better than a guess"
    return (
        f"above chance on {beats['uniform']} of {n} held-out splits and above the position prior"
        f" on {beats['position_prior']} of {n}: weak evidence"
    )


def validation_notes(validation: Mapping[str, Mapping]) -> list[str]:
    """Per production model with a chance figure: its validation accuracy against chance on the same
    validation pairs (a mapping's; other production models record no chance figure)."""
    notes = []
    for seed, v in validation.items():
        chance = v.get("mapping_val_chance")
        if chance is None:
            continue
        accuracy = v["mapping_val_accuracy"]
        side = "below" if accuracy < chance else "above"
        notes.append(
            f"seed {seed}: mapping val acc {accuracy:.3f} on {v.get('n_val_questions', '?')}"
            f" validation question(s), chance {chance:.3f}: {side} chance"
        )
    return notes


INTERVALS = (
    "What the ranges cover: <i>seeds</i> is the range of the share over the production models"
    " (one per training seed); <i>bootstrap</i> resamples the population's people only, so it shows"
    " how much a share moves with who is in the population, <b>not</b> how wrong the model can be on a"
    " new question. That error is measured on held-out questions, below."
)


def evidence_html(evidence: Evidence | None, validation: Mapping[str, Mapping]) -> str:
    """The page's "How far to trust these shares" section."""
    parts = ['<h2 id="trust">How far to trust these shares</h2>', f"<p>{INTERVALS}</p>"]
    if evidence is None:
        parts.append(
            "<p>No held-out evidence was built with this simulation (config simulate.evidence:"
            " false); the production model's own validation, below, rests on a few questions.</p>"
        )
    else:
        rows = "".join(
            f"<tr><td>{escape(name)}{' (floor)' if name in FLOORS else ''}</td>"
            f"<td>{_mean(evidence.accuracy[name])}</td></tr>"
            for name in (evidence.method, *FLOORS)
        )
        parts += [
            f"<p>The same method ({escape(evidence.method)}) on questions held out of training"
            f" ({escape(evidence.setting)}, seeds {evidence.seeds}): "
            f"<b>{escape(verdict(evidence))}</b>.</p>",
            "<table><tr><th>held-out questions</th><th>test accuracy (mean ± std over"
            f" seeds)</th></tr>{rows}</table>",
            _heldout_sentence(evidence),
        ]
    notes = validation_notes(validation)
    if notes:
        joined = "; ".join(escape(n) for n in notes)
        parts.append(f"<p>Production model validation against chance: {joined}.</p>")
    return "\n".join(parts)


def _heldout_sentence(evidence: Evidence) -> str:
    table = evidence.heldout.set_index("method")
    column = "subgroup_tv" if table["subgroup_tv"].notna().any() else "subgroup_w1"
    label = "total variation" if column == "subgroup_tv" else "Wasserstein-1"
    figures = ", ".join(
        f"{escape(str(m))} {v:.3f}" for m, v in table[column].items() if pd.notna(v)
    )
    return (
        f"<p>Subgroup answer shares on those held-out questions, distance to the observed shares"
        f" ({label}, lower is better): {figures}. Full table: <a href='{escape(evidence.table_link)}'>"
        "held-out trust table</a>.</p>"
    )
