"""Glue between the workflow and the LLM library: model entries, per-run outputs, the common scorer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gemsflow.io import write_json, write_parquet
from gemsflow.methods.llm.backends import Backend
from gemsflow.methods.llm.letters import letter_predictions

log = logging.getLogger(__name__)


def score_records(backend: Backend, records: list[dict]) -> tuple[pd.DataFrame, dict]:
    log.info("scoring %d prompts", len(records))
    scores = backend.letter_scores([r["prompt"] for r in records], [r["letters"] for r in records])
    masses = np.array([s.mass for s in scores])
    info = {
        "n_prompts": len(records),
        "valid_letter_mass_mean": float(masses.mean()) if len(masses) else None,
        "valid_letter_mass_std": float(masses.std()) if len(masses) else None,
        "mean_examples": float(np.mean([len(r.get("examples", [])) for r in records]))
        if records
        else 0.0,
        "n_invalid": int((masses == 0).sum()),
    }
    log.info(
        "scored %d prompts; mean mass on valid letters %.4f",
        len(records),
        info["valid_letter_mass_mean"] or 0,
    )
    return letter_predictions(records, scores), info


def validation_credit(
    data, split: pd.DataFrame, unit: str = "individual"
) -> Callable[[pd.DataFrame], tuple[pd.Series, np.ndarray]]:
    """The scorer's tie-aware credit of a predictions table's validation pairs, with each pair's unit
    (its individual, or its question on a question-axis setting) for cross-fitting.

    Only the ``val`` rows are read, so a selection made with it cannot see test answers.
    """
    from gemsflow.evaluation.run_metrics import part_credit

    def evaluate(predictions: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
        return part_credit(predictions, data, split, "val", unit)

    return evaluate


def write_run(
    predictions: pd.DataFrame, info: dict, predictions_path: str | Path, info_path: str | Path
) -> None:
    write_parquet(predictions, predictions_path)
    write_json(info, info_path)


def subsample_individuals(records: list[dict], limit: int | None, seed: int) -> list[dict]:
    if limit is None:
        return records
    people = sorted({r["individual"] for r in records})
    if len(people) <= limit:
        return records
    keep = set(np.random.default_rng(seed).choice(people, limit, replace=False).tolist())
    return [r for r in records if r["individual"] in keep]
