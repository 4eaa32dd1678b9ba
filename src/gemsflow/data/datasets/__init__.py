"""Dataset adapters: each turns a source (files on disk) into a canonical :class:`SurveyData`.

A dataset is a config entry, not code. ``format`` selects the adapter:

- ``gems``: the GEMS file layout (Twin-2K-500, Dunning–Kruger, the synthetic default, any user dataset);
- ``opinionqa``: Pew American Trends Panel ``.sav`` waves plus the OpinionQA text files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gemsflow.config import SCHEMA_FILE
from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.yaml_files import load_schema


def resolve_paths(entry: Mapping[str, Any], gems_data_dir: str | Path) -> dict[str, Any]:
    """Fill ``{gems_data_dir}`` in the entry's path values."""
    resolved = dict(entry)
    for key, value in entry.items():
        if isinstance(value, str) and "{gems_data_dir}" in value:
            resolved[key] = value.replace("{gems_data_dir}", str(gems_data_dir))
    return resolved


def with_defaults(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with the defaults of config/schema.yaml's dataset entries (their one owner) filled in,
    as the workflow's config check fills them; so a notebook may give a partial entry."""
    fields = load_schema(SCHEMA_FILE)["properties"]["datasets"]["additionalProperties"][
        "properties"
    ]
    defaults = {key: spec["default"] for key, spec in fields.items() if "default" in spec}
    return {**defaults, **entry}


def source_files(entry: Mapping[str, Any]) -> list[str]:
    """The files an adapter reads, so the workflow can declare them as inputs."""
    fmt = entry["format"]
    if fmt == "gems":
        directory, prefix = Path(entry["dir"]), entry["prefix"]
        names = [
            "responses.csv",
            "question_keys.json",
            "question_strings.json",
            "options_map.json",
            "option_strings.json",
        ]
        return [str(directory / f"{prefix}_{name}") for name in names]
    if fmt == "opinionqa":
        from gemsflow.data.datasets.opinionqa import opinionqa_source_files

        return opinionqa_source_files(entry)
    raise InputDataError(None, "format", f"unknown dataset format {fmt!r}", "use gems or opinionqa")


def load_source(name: str, entry: Mapping[str, Any]) -> SurveyData:
    """Build the canonical dataset ``name`` from its (path-resolved) config entry."""
    entry = with_defaults(entry)
    fmt = entry["format"]
    if fmt == "gems":
        from gemsflow.data.datasets.gems_layout import load_gems_layout

        return load_gems_layout(
            name,
            entry["dir"],
            entry["prefix"],
            entry.get("traits", {}),
            id_column=entry["id_column"],
            weight_column=entry.get("weight_column"),
            min_answers=entry["min_answers"],
            ordinal=entry["ordinal"],
        )
    if fmt == "opinionqa":
        from gemsflow.data.datasets.opinionqa import load_opinionqa

        return load_opinionqa(name, entry)
    raise InputDataError(None, "format", f"unknown dataset format {fmt!r}", "use gems or opinionqa")
