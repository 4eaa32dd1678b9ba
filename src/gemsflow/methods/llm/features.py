"""Read and write the choice-feature files shared by text embeddings and hidden states.

Layout (docs/ARCHITECTURE.md): tensor ``choice_states`` ``[n_choices, n_layers, dim]`` with metadata
``choices`` and ``layers``; text embeddings also carry ``question_states`` ``[n_questions, dim]`` with
metadata ``questions``, and other variants of the choice features as tensors ``variant.<name>``
``[n_choices, n_layers, dim']`` (the setting-3 mapping picks one on validation questions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gemsflow.errors import InputDataError
from gemsflow.io import atomic_path, read_safetensors

if TYPE_CHECKING:  # torch is imported by the writers only: a study's simulation reads without it
    import torch


@dataclass
class ChoiceFeatures:
    choice_states: torch.Tensor
    choices: list[str]
    layers: list[int]
    question_states: torch.Tensor | None = None
    questions: list[str] | None = None
    info: dict | None = None
    variants: dict[str, torch.Tensor] | None = None


VARIANT_PREFIX = "variant."


def save_features(features: ChoiceFeatures, path: str | Path) -> None:
    from safetensors.torch import save_file

    tensors = {"choice_states": features.choice_states.contiguous()}
    metadata = {
        "choices": json.dumps(features.choices),
        "layers": json.dumps([int(x) for x in features.layers]),
        "info": json.dumps(features.info or {}),
    }
    if features.choice_states.shape[:2] != (len(features.choices), len(features.layers)):
        raise ValueError("choice_states shape does not match the choices and layers metadata")
    if features.question_states is not None:
        tensors["question_states"] = features.question_states.contiguous()
        metadata["questions"] = json.dumps(features.questions)
    for name, states in (features.variants or {}).items():
        tensors[VARIANT_PREFIX + name] = states.contiguous()
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_features(path: str | Path, framework: str = "pt") -> ChoiceFeatures:
    """The one reader of the feature-file layout (text embeddings and hidden states alike).

    Checks the metadata and that every tensor's shape matches the choices and layers it names, so
    that each consumer (prompts' kNN examples, the setting-3 mapping, study simulation) gets a
    consistent file or a clear error. ``framework``: ``pt`` gives torch tensors as stored, ``np``
    numpy arrays without importing torch (bfloat16 widened exactly to float32).
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(path, None, "feature file is missing", "build it with the workflow")
    if framework == "np":
        tensors, meta = read_safetensors(path)
    else:
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        meta = _metadata(path)
    for field in ("choices", "layers"):
        if field not in meta:
            raise InputDataError(path, field, "metadata entry missing", "rebuild the feature file")
    if "choice_states" not in tensors:
        raise InputDataError(path, "choice_states", "tensor missing", "rebuild the features file")
    features = ChoiceFeatures(
        choice_states=tensors["choice_states"],
        choices=[str(c) for c in json.loads(meta["choices"])],
        layers=[int(layer) for layer in json.loads(meta["layers"])],
        question_states=tensors.get("question_states"),
        questions=json.loads(meta["questions"]) if "questions" in meta else None,
        info=json.loads(meta.get("info", "{}")),
        variants={
            n.removeprefix(VARIANT_PREFIX): tensors[n]
            for n in sorted(tensors)
            if n.startswith(VARIANT_PREFIX)
        },
    )
    _check_shapes(path, features)
    return features


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata() or {}


def _check_shapes(path: Path, features: ChoiceFeatures) -> None:
    states, n_choices = features.choice_states, len(features.choices)
    if states.ndim != 3 or tuple(states.shape[:2]) != (n_choices, len(features.layers)):
        raise InputDataError(
            path,
            "choice_states",
            f"shape {tuple(states.shape)} does not match {n_choices} choices x "
            f"{len(features.layers)} layers",
            "rebuild the features file",
        )
    for name, value in (features.variants or {}).items():
        if value.ndim != 3 or len(value) != n_choices:
            raise InputDataError(
                path,
                VARIANT_PREFIX + name,
                f"shape {tuple(value.shape)} is not [{n_choices} choices, layers, dim]",
                "rebuild the features file",
            )
