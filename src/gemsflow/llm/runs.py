"""Glue between the workflow and the LLM library: model entries, per-run outputs, the common scorer."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.io import write_json, write_parquet
from gemsflow.llm.backends import Backend
from gemsflow.llm.letters import predictions_frame

log = logging.getLogger(__name__)

TINY_MODEL_DIR = "results/models/tiny"


def model_entry(llm_config: dict, key: str) -> dict:
    models = llm_config.get("models", {})
    if key not in models:
        raise InputDataError(
            "config/config.yaml",
            "llm.models",
            f"unknown model {key!r}",
            f"use one of {sorted(models)} or add it",
        )
    return models[key]


def model_location(entry: dict) -> str:
    """A built model (``build: tiny``) lives under results/; others name a local path or hub id."""
    if entry.get("build") == "tiny":
        return TINY_MODEL_DIR
    if "path" not in entry:
        raise InputDataError(
            "config/config.yaml", "llm.models.path", "model has no path", "set path or build: tiny"
        )
    return str(entry["path"])


def method_settings(llm_config: dict, key: str, section: str) -> dict:
    """``llm.<section>`` with the model's own ``<section>`` entries on top (e.g. a smaller CoT budget)."""
    return {**llm_config.get(section, {}), **model_entry(llm_config, key).get(section, {})}


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
    return predictions_frame(records, scores), info


def validation_accuracy(data, split: pd.DataFrame) -> Callable[[pd.DataFrame], float]:
    """The scorer's tie-aware accuracy of a predictions table's validation pairs.

    Only the ``val`` rows are read, so a selection made with it cannot see test answers.
    """
    from gemsflow.evaluation import part_accuracy

    def evaluate(predictions: pd.DataFrame) -> float:
        return part_accuracy(predictions, data, split, "val")

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


PROMPT_FILE = "results/prompts/{setting}/{dataset}/seed{seed}/{style}/{part}.jsonl"
TEXT_EMBEDDINGS = "results/embeddings/{dataset}/{embedder}/text_embeddings.safetensors"


class RuleHelpers:
    """Input, params and resource functions of ``workflow/rules/llm.smk``, from ``config["llm"]``.

    Each method takes Snakemake's ``wildcards`` object (anything with the named attributes).
    """

    def __init__(self, llm_config: dict):
        self.llm = llm_config

    def wildcard_pattern(self, section: str) -> str:
        """Regex of the keys of ``llm.<section>``, so rules only match configured models/embedders."""
        keys = self.llm.get(section, {})
        return "|".join(re.escape(key) for key in keys) or f"no_{section}_configured"

    def entry(self, wildcards) -> dict:
        return model_entry(self.llm, wildcards.model)

    def location(self, wildcards) -> str:
        return model_location(self.entry(wildcards))

    def model_files(self, wildcards) -> list[str]:
        """The tiny model is built by the workflow; other models are read from their path or hub id."""
        return [TINY_MODEL_DIR] if self.entry(wildcards).get("build") == "tiny" else []

    def _local_cpu(self, wildcards) -> bool:
        entry = self.entry(wildcards)
        return entry.get("build") == "tiny" or entry.get("backend") == "openai"

    def threads(self, wildcards) -> int:
        # The tiny model runs best on one thread (two threads beside other busy jobs ran several times
        # slower); GPU jobs use a few CPU threads for tokenisation and data handling.
        return 1 if self._local_cpu(wildcards) else 4

    def gpu(self, wildcards) -> int:
        return 0 if self._local_cpu(wildcards) else 1

    def mem_mb(self, wildcards) -> int:
        return (
            4000 if self._local_cpu(wildcards) else int(self.entry(wildcards).get("mem_mb", 64000))
        )

    def runtime(self, wildcards) -> int:
        return 30 if self._local_cpu(wildcards) else int(self.entry(wildcards).get("runtime", 720))

    def fewshot_style(self) -> str:
        return f"fewshot{int(self.llm['fewshot']['k'])}"

    def prompting_style(self, wildcards) -> str:
        return "zeroshot" if wildcards.kind == "zeroshot" else self.fewshot_style()

    def lora_style(self, wildcards) -> str:
        return method_settings(self.llm, wildcards.model, "lora")["prompt_style"]

    def prompt_embeddings(self, wildcards) -> str | list[str]:
        """Few-shot prompts need the text embeddings (one file); zero-shot prompts need none."""
        if wildcards.style == "zeroshot":
            return []
        return TEXT_EMBEDDINGS.format(
            dataset=wildcards.dataset, embedder=self.llm["prompts"]["embedder"]
        )

    def prompt_file(self, wildcards, style: str, part: str) -> str:
        return PROMPT_FILE.format(
            setting=wildcards.setting,
            dataset=wildcards.dataset,
            seed=wildcards.seed,
            style=style,
            part=part,
        )

    def eval_prompts(self, wildcards, style: str) -> dict[str, str]:
        return {part: self.prompt_file(wildcards, style, part) for part in ("val", "test")}

    def prompting_inputs(self, wildcards) -> dict[str, str]:
        return self.eval_prompts(wildcards, self.prompting_style(wildcards))

    def cot_inputs(self, wildcards) -> dict[str, str]:
        return self.eval_prompts(wildcards, "zeroshot")

    def lora_inputs(self, wildcards) -> dict[str, str]:
        style = self.lora_style(wildcards)
        return {
            **self.eval_prompts(wildcards, style),
            "train": self.prompt_file(wildcards, style, "train"),
        }

    def cot_options(self, wildcards) -> dict:
        return method_settings(self.llm, wildcards.model, "cot")

    def lora_options(self, wildcards) -> dict:
        return method_settings(self.llm, wildcards.model, "lora")

    def expert(self, wildcards) -> str:
        experts = self.llm["cot"]["experts"]
        return experts.get(wildcards.dataset, experts["default"])

    def embedder(self, wildcards) -> dict:
        return self.llm["embedders"][wildcards.embedder]
