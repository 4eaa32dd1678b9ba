"""Config checks that run when the workflow is parsed, before any job (torch-free, no Snakemake import).

The schema (config/schema.yaml) fixes the shape of every block; this module adds what a schema cannot
say: names that must refer to configured datasets, traits, questions and method kinds, and rules across
fields. Every error names the config file the value came from (the ``--configfile`` given, or
config/config.yaml), the key path and the fix.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gemsflow.config import gnn_variants
from gemsflow.errors import InputDataError
from gemsflow.methods import registry
from gemsflow.methods.registry import GNN_ARCHS
from gemsflow.yaml_files import FAST_LOADER, load_schema

# Datasets whose files are larger than this are not read when the config is checked (the reader
# itself checks them in the prepare_dataset job).
CHEAP_FILE_BYTES = 20_000_000


class ConfigSource:
    """Which config file (or ``--config`` override) a key path came from."""

    def __init__(
        self, configfiles: Sequence[str | Path], overrides: Mapping[str, Any] | None = None
    ):
        self.files = [Path(f) for f in configfiles] or [Path("config/config.yaml")]
        self.overrides = dict(overrides or {})
        self._loaded: dict[Path, Any] = {}

    def check_files(self) -> None:
        """Read every config file strictly: a key given twice is an error (YAML keeps the last)."""
        from gemsflow.yaml_files import load_yaml

        for path in self.files:
            if path.exists():
                self._loaded[path] = load_yaml(path, "config") or {}

    def _load(self, path: Path) -> Any:
        if path not in self._loaded:
            try:
                self._loaded[path] = yaml.load(path.read_text(), Loader=FAST_LOADER) or {}
            except (OSError, yaml.YAMLError):
                self._loaded[path] = {}
        return self._loaded[path]

    @staticmethod
    def _depth(tree: Any, keys: Sequence[Any]) -> int:
        depth = 0
        for key in keys:
            if (
                isinstance(tree, Mapping)
                and key in tree
                or isinstance(tree, list)
                and isinstance(key, int)
                and key < len(tree)
            ):
                tree, depth = tree[key], depth + 1
            else:
                break
        return depth

    def of(self, keys: Sequence[Any]) -> str:
        """The last source that holds the longest prefix of ``keys`` (later files override earlier)."""
        candidates = [(self._depth(self.overrides, keys), "--config")]
        candidates += [(self._depth(self._load(f), keys), str(f)) for f in self.files]
        best = max(depth for depth, _ in candidates)
        return [name for depth, name in candidates if depth == best][-1]


def _key(keys: Iterable[Any]) -> str:
    text = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)
    return text.lstrip(".") or "<top level>"


# results/<setting>/<dataset> sits beside these folders, so a setting may not take their names.
RESULT_FOLDERS = frozenset(
    {
        "benchmarks",
        "cache",
        "data",
        "embeddings",
        "graphs",
        "hidden_states",
        "leaderboards",
        "models",
        "prompts",
        "reports",
        "runs",
        "splits",
    }
)


def check_config(
    config: dict[str, Any],
    schema_path: str | Path,
    configfiles: Sequence[str | Path],
    cli_configfiles: Sequence[str | Path] = (),
    cli_config: Mapping[str, Any] | None = None,
    local: bool = False,
) -> None:
    """Schema, names and cross-field rules; raises :class:`InputDataError` on the first problem.

    Fills in the schema's defaults in place on the way (the one place defaults are applied; the schema
    is their only owner). ``configfiles`` are all files read (Snakemake's ``workflow.configfiles``),
    ``cli_configfiles`` those given with ``--configfile`` (they override the Snakefile's
    ``configfile:``), ``cli_config`` the ``--config`` overrides; together they say which file a wrong
    value came from. ``local``: jobs run on this machine, so a GPU asked for must be here.
    """
    cli = [str(f) for f in cli_configfiles]
    ordered = [f for f in map(str, configfiles) if f not in cli] + cli
    source = ConfigSource(ordered, cli_config)
    source.check_files()
    check_schema(config, schema_path, source)
    check_names(config, source)
    check_rules(config, source)
    if local:
        check_devices(config, source)


@functools.cache
def default_filling_validator(schema_path: str | Path):
    """A validator of the schema that also sets each missing property that has a ``default`` (what
    Snakemake's ``validate(..., set_default=True)`` does, with each default copied, not shared)."""
    schema = load_schema(schema_path)
    base = jsonschema.validators.validator_for(schema)

    def set_defaults(validator, properties, instance, schema):
        for name, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})(schema)


def check_schema(config: dict[str, Any], schema_path: str | Path, source: ConfigSource) -> None:
    """Validate ``config`` against the schema, filling in its defaults in place, in one pass."""
    schema = load_schema(schema_path)
    errors = sorted(
        default_filling_validator(schema_path).iter_errors(config),
        key=lambda e: (len(e.path), list(map(str, e.path))),
    )
    if not errors:
        return
    error = errors[0]
    if error.validator in ("oneOf", "anyOf") and error.context:
        # "is not valid under any of the given schemas" names no key; the alternative that got
        # furthest into the value says what is wrong with it (a misspelled key, a missing one).
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    keys = list(error.absolute_path)
    problem = error.message
    unexpected = re.findall(r"'([^']+)' (?:was|were) unexpected", problem)
    if error.validator in ("additionalProperties", "unevaluatedProperties") and unexpected:
        allowed = sorted(_allowed_keys(error.schema, schema))
        keys = [*keys, unexpected[0].split("', '")[0]]
        problem = f"unknown key {keys[-1]!r}"
        close = difflib.get_close_matches(str(keys[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        fix = f"{hint}remove or rename the key (allowed here: {', '.join(allowed)})"
    else:
        fix = f"see {Path(schema_path).name} for the allowed values ({error.schema.get('description', error.validator)})"
    raise InputDataError(source.of(keys), _key(keys), problem, fix)


def _allowed_keys(node: Mapping[str, Any], root: Mapping[str, Any]) -> set[str]:
    """Property names a schema node allows, following a local ``$ref`` (the GNN blocks use one)."""
    keys = set(node.get("properties", {}))
    ref = node.get("$ref", "")
    if ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        keys |= _allowed_keys(target, root)
    return keys


def known_method_patterns(config: Mapping[str, Any]) -> list[str]:
    """Human-readable list of valid method names for this config."""
    return registry.human_patterns(config)


def is_known_method(name: str, config: Mapping[str, Any]) -> bool:
    return registry.resolve(name, config) is not None


def check_archs(config: Mapping[str, Any], source: ConfigSource) -> None:
    """Arch names (gnn.archs, gnn.datasets.<dataset>.archs, simulate.arch) are names of the registry's
    GNN_ARCHS, which the schema does not list so that adding an arch touches no schema."""
    gnn = config.get("gnn") or {}
    named = [(["gnn", "archs", name], name) for name in gnn.get("archs") or {}]
    for dataset, block in (gnn.get("datasets") or {}).items():
        named += [
            (["gnn", "datasets", dataset, "archs", name], name)
            for name in (block or {}).get("archs") or {}
        ]
    if "arch" in (config.get("simulate") or {}):
        named.append((["simulate", "arch"], config["simulate"]["arch"]))
    for keys, name in named:
        if name not in GNN_ARCHS:
            close = difflib.get_close_matches(str(name), list(GNN_ARCHS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputDataError(
                source.of(keys),
                _key(keys),
                f"unknown arch {name!r}",
                f"{hint}use one of {', '.join(GNN_ARCHS)}",
            )


def check_variants(config: Mapping[str, Any], source: ConfigSource) -> None:
    """``gnn.variants``: a known arch, a name no built-in method has, no graph options (the cached
    graph is shared by every arch and variant); per-dataset variant blocks name configured variants."""
    gnn = config.get("gnn") or {}
    variants = gnn_variants(gnn)
    for name, block in variants.items():
        keys = ["gnn", "variants", name]
        if registry.claims_name(name):
            raise InputDataError(
                source.of(keys),
                _key(keys),
                f"variant name {name!r} clashes with a built-in method name or kind",
                "rename the variant, e.g. "
                f"'{block.get('arch', 'sage')}-{name}' (not one of {', '.join(known_method_patterns(config))})",
            )
        if block.get("arch") not in GNN_ARCHS:
            close = difflib.get_close_matches(str(block.get("arch")), list(GNN_ARCHS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputDataError(
                source.of([*keys, "arch"]),
                _key([*keys, "arch"]),
                f"unknown arch {block.get('arch')!r}",
                f"{hint}use one of {', '.join(GNN_ARCHS)}",
            )
        if "graph" in block:
            raise InputDataError(
                source.of([*keys, "graph"]),
                _key([*keys, "graph"]),
                "the graph is shared by all archs and variants, so a variant cannot change it",
                "remove the graph block here; set graph options in gnn.defaults or gnn.datasets.<dataset>",
            )
    for dataset, block in (gnn.get("datasets") or {}).items():
        for name, override in ((block or {}).get("variants") or {}).items():
            keys = ["gnn", "datasets", dataset, "variants", name]
            if name not in variants:
                raise InputDataError(
                    source.of(keys),
                    _key(keys),
                    f"{name!r} is not a variant under gnn.variants",
                    f"use one of {sorted(variants)} or declare it (with its arch) under gnn.variants",
                )
            if "graph" in (override or {}):
                raise InputDataError(
                    source.of([*keys, "graph"]),
                    _key([*keys, "graph"]),
                    "the graph is shared by all archs and variants, so a variant cannot change it",
                    f"move the graph block to gnn.datasets.{dataset}",
                )


def check_names(config: Mapping[str, Any], source: ConfigSource) -> None:
    """Names that must refer to configured datasets, settings and method kinds."""
    datasets = set(config["datasets"])
    settings = set(config["settings"])

    def need(value: str, allowed: set[str], keys: list[Any], what: str) -> None:
        if value not in allowed:
            raise InputDataError(
                source.of(keys),
                _key(keys),
                f"{value!r} is not a configured {what}",
                f"use one of {sorted(allowed)} (or add it under '{what}s' first)",
            )

    for i, name in enumerate(config["run"]["datasets"]):
        need(name, datasets, ["run", "datasets", i], "dataset")
    clash = sorted(RESULT_FOLDERS & settings)
    if clash:
        raise InputDataError(
            source.of(["settings"]),
            "settings",
            f"{clash} name a results/ folder",
            f"rename the setting (not one of {sorted(RESULT_FOLDERS)})",
        )
    unknown_settings = sorted(set(config["run"]["settings"]) - settings)
    if unknown_settings:
        raise InputDataError(
            source.of(["run", "settings"]),
            "run.settings",
            f"{unknown_settings} have no block under 'settings'",
            f"use one of {sorted(settings)} or add a block for it under 'settings'",
        )
    dataset_maps = {
        ("gnn", "datasets"): (config.get("gnn", {}) or {}).get("datasets", {}),
        ("dataset_methods",): config.get("dataset_methods", {}),
        ("evaluation", "retest"): (config.get("evaluation", {}) or {}).get("retest", {}),
    }
    for keys, mapping in dataset_maps.items():
        for name in mapping or {}:
            need(name, datasets, [*keys, name], "dataset")
    check_archs(config, source)
    check_variants(config, source)
    method_lists = [(["methods", s], m) for s, m in config["methods"].items()]
    for dataset, per_setting in (config.get("dataset_methods") or {}).items():
        method_lists += [(["dataset_methods", dataset, s], m) for s, m in per_setting.items()]
    for keys, methods in method_lists:
        need(keys[-1], settings, keys, "setting")
        axis = config["settings"][keys[-1]]["axis"]
        for i, method in enumerate(methods):
            resolved = registry.resolve(method, config)
            if resolved is None:
                raise InputDataError(
                    source.of([*keys, i]),
                    _key([*keys, i]),
                    f"unknown method {method!r}",
                    f"use one of: {', '.join(known_method_patterns(config))}",
                )
            if axis not in resolved.family.axes:
                able = [
                    s
                    for s, spec in config["settings"].items()
                    if spec["axis"] in resolved.family.axes
                ]
                raise InputDataError(
                    source.of([*keys, i]),
                    _key([*keys, i]),
                    f"method {method!r} answers only settings with axis "
                    f"{' or '.join(resolved.family.axes)}, and {keys[-1]} has axis {axis}",
                    f"list it under a setting it can answer ({', '.join(able) or 'none configured'})",
                )


def check_rules(config: Mapping[str, Any], source: ConfigSource) -> None:
    """Rules across fields that would otherwise fail inside a job."""
    for name, spec in config["settings"].items():
        if spec["val_ratio"] + spec["test_ratio"] >= 1:
            keys = ["settings", name]
            raise InputDataError(
                source.of([*keys, "test_ratio"]),
                _key([*keys, "val_ratio+test_ratio"]),
                f"val_ratio {spec['val_ratio']} + test_ratio {spec['test_ratio']} leaves no training data",
                "make val_ratio + test_ratio smaller than 1",
            )
    trait = config["baselines"]["subgroup_trait"]
    # Every configured dataset, not only those in run.datasets: a target path reaches any of them.
    for name, entry in config["datasets"].items():
        traits = entry.get("traits")
        if trait != "auto" and isinstance(traits, Mapping) and trait not in traits:
            raise InputDataError(
                source.of(["baselines", "subgroup_trait"]),
                "baselines.subgroup_trait",
                f"{trait!r} is not a trait of dataset {name!r}",
                f"use auto or one of {sorted(traits)}",
            )
        check_weight_column(name, entry, source)
        check_dataset_files(name, entry, config.get("gems_data_dir", ""), source)


def check_weight_column(name: str, entry: Mapping[str, Any], source: ConfigSource) -> None:
    """A survey weight is its own column: a trait's codes read as weights would change every weighted
    figure without a word."""
    weight = entry.get("weight_column")
    traits = entry.get("traits")
    if not weight or not isinstance(traits, Mapping):
        return
    for trait, spec in traits.items():
        if isinstance(spec, Mapping) and spec.get("column") == weight:
            keys = ["datasets", name, "weight_column"]
            raise InputDataError(
                source.of(keys),
                _key(keys),
                f"{weight!r} is the column of trait {trait!r}, not a survey weight",
                "name the column that holds each person's weight, or set weight_column: null to "
                "weigh everyone 1",
            )


def gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU, read without torch (planning stays torch-free)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def check_devices(config: Mapping[str, Any], source: ConfigSource) -> None:
    """``device: cuda`` in the gnn block on a machine without a GPU, for jobs that run on this machine
    (a cluster's head node may have none while its GPU nodes do; there the job itself says so)."""
    if gpu_visible():
        return

    def walk(node: Any, keys: list[Any]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "device" and isinstance(value, str) and value.startswith("cuda"):
                    path = [*keys, key]
                    raise InputDataError(
                        source.of(path),
                        _key(path),
                        f"device {value!r} was asked for, but this machine shows no NVIDIA GPU",
                        "set device: auto (CUDA when present, else CPU) or cpu, or run on a GPU "
                        "node with --profile profiles/slurm",
                    )
                walk(value, [*keys, key])

    walk(config.get("gnn", {}), ["gnn"])


def check_dataset_files(
    name: str, entry: Mapping[str, Any], gems_data_dir: str, source: ConfigSource
) -> None:
    """Cheap checks against a GEMS-layout dataset's files when they already exist and are small:
    ``ordinal`` names are questions, and someone is left after ``min_answers``."""
    if entry.get("format") != "gems":
        return
    from gemsflow.data.datasets import resolve_paths
    from gemsflow.data.datasets.strict import read_csv_strict, read_json_strict

    entry = resolve_paths(entry, gems_data_dir)
    directory, prefix = Path(entry["dir"]), entry["prefix"]
    keys_path = directory / f"{prefix}_question_keys.json"
    responses_path = directory / f"{prefix}_responses.csv"
    if not keys_path.exists():
        return
    questions = read_json_strict(keys_path, "question keys")
    if not isinstance(questions, list):
        return  # the reader names this in the prepare_dataset job
    ordinal = entry.get("ordinal", "auto")
    if isinstance(ordinal, list):
        unknown = [q for q in ordinal if q not in set(questions)]
        if unknown:
            keys = ["datasets", name, "ordinal"]
            raise InputDataError(
                source.of(keys),
                _key(keys),
                f"{len(unknown)} name(s) are not questions of {keys_path}: {unknown[:3]}",
                "list question keys exactly as in the question-keys file (or use auto/all/none)",
            )
    if not responses_path.exists() or responses_path.stat().st_size > CHEAP_FILE_BYTES:
        return
    table = read_csv_strict(responses_path)
    present = [q for q in questions if q in table.columns]
    min_answers = int(entry.get("min_answers", 0))
    kept = int((table[present].notna().sum(axis=1) >= max(min_answers, 1)).sum()) if present else 0
    if kept == 0:
        keys = ["datasets", name, "min_answers"]
        raise InputDataError(
            source.of(keys),
            _key(keys),
            f"no person in {responses_path} ({len(table)} rows) has {max(min_answers, 1)} or more "
            "answers, so there is nothing to train or test on",
            "lower min_answers or add responses",
        )


def _merged(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Snakemake's merge of a --configfile over the Snakefile's configfile: nested keys, later wins."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merged(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gemsflow.config_checks [FILE ...]``: check config files without planning a run.

    Snakemake parses ``--configfile`` files itself, before gemsflow runs, and reports a YAML syntax
    error as "Config file is not valid JSON or YAML" with no file or line; this command names both, then
    runs every check the workflow runs at parse time on config/config.yaml with the files over it.
    """
    import argparse
    import sys

    from gemsflow.yaml_files import load_yaml

    parser = argparse.ArgumentParser(
        prog="python -m gemsflow.config_checks", description=main.__doc__
    )
    parser.add_argument("files", nargs="*", help="config files given with --configfile, in order")
    parser.add_argument("--root", default=".", help="the project folder (default: here)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    default = root / "config" / "config.yaml"
    try:
        config = load_yaml(default, "config") or {}
        for path in args.files:
            _merged(config, load_yaml(path, "config") or {})
        check_config(config, root / "config" / "schema.yaml", [default, *args.files], args.files)
    except InputDataError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"ok: {', '.join(map(str, [default, *args.files]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
