"""Study files: new questions to ask a dataset's population (``config/studies/<study>.yaml``).

A study lists questions the dataset never asked, each with its text, its options in display order,
optionally ``ordinal: true``, a ``population`` filter (trait -> accepted values) and the ``breakdown``
traits; study-level ``population``/``breakdown`` are the defaults of every question. The shape is
checked against ``config/studies/study.schema.json``; what a schema cannot say (fewer than two options,
duplicate keys or options, traits and values the dataset does not have) is checked here. Every error
names the file, the field and the fix.

Torch-free: the workflow imports this module while planning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemsflow.errors import InputDataError
from gemsflow.yaml_files import load_yaml

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "studies" / "study.schema.json"


@dataclass(frozen=True)
class StudyQuestion:
    key: str
    text: str
    options: tuple[str, ...]
    ordinal: bool
    population: dict[str, tuple[str, ...]]  # trait -> accepted values; empty = everyone
    breakdown: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "text": self.text,
            "options": list(self.options),
            "ordinal": self.ordinal,
            "population": {t: list(v) for t, v in self.population.items()},
            "breakdown": list(self.breakdown),
        }


@dataclass(frozen=True)
class Study:
    name: str
    source: str
    title: str
    questions: tuple[StudyQuestion, ...]

    @property
    def fingerprint(self) -> str:
        """SHA-1 of the questions as simulated (not of comments or formatting)."""
        payload = json.dumps([q.to_json() for q in self.questions], sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()


def _population(value: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    return {
        str(t): (v,) if isinstance(v, str) else tuple(str(x) for x in v)
        for t, v in (value or {}).items()
    }


def _schema_error(source: str, error) -> InputDataError:
    field = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "required":
        fix = f"add the missing key ({error.message})"
    elif error.validator == "additionalProperties":
        fix = "remove or rename the key; see config/studies/study.schema.json for the allowed keys"
    elif error.validator == "pattern":
        fix = "use only letters, digits and underscores"
    else:
        fix = "follow config/studies/study.schema.json"
    return InputDataError(source, field, error.message, fix)


def parse_study(obj: Any, source: str, name: str | None = None) -> Study:
    """Validate a study's parsed YAML (or a notebook's dict) and return it; ``source`` names the file."""
    import jsonschema

    if isinstance(obj, list):  # a bare list of questions (notebook use)
        obj = {"questions": obj}
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        raise _schema_error(source, errors[0])
    seen: dict[str, int] = {}
    questions = []
    for i, q in enumerate(obj["questions"]):
        where = f"questions.{i}"
        if q["key"] in seen:
            raise InputDataError(
                source,
                f"{where}.key",
                f"duplicate question key {q['key']!r} (also questions.{seen[q['key']]})",
                "give every question its own key",
            )
        seen[q["key"]] = i
        options = tuple(q["options"])
        if len(options) < 2:
            raise InputDataError(
                source,
                f"{where}.options",
                f"question {q['key']!r} has {len(options)} option(s)",
                "list at least 2 options in display order",
            )
        if len(set(options)) < len(options):
            dup = next(o for o in options if options.count(o) > 1)
            raise InputDataError(
                source,
                f"{where}.options",
                f"option {dup!r} appears twice in question {q['key']!r}",
                "make every option text distinct",
            )
        questions.append(
            StudyQuestion(
                key=q["key"],
                text=q["text"],
                options=options,
                ordinal=bool(q.get("ordinal", False)),
                population=_population(q.get("population", obj.get("population"))),
                breakdown=tuple(q.get("breakdown", obj.get("breakdown", []))),
            )
        )
    name = name or Path(source).stem
    return Study(name, source, str(obj.get("title", name)), tuple(questions))


def load_study(path: str | Path) -> Study:
    path = Path(path)
    if not path.exists():
        raise InputDataError(
            path, None, "study file not found", "create it (see config/studies/*.yaml)"
        )
    return parse_study(load_yaml(path, "study"), str(path))


def check_traits(study: Study, traits: Mapping[str, Sequence[str] | None]) -> None:
    """Every population and breakdown trait must be a dataset trait; population values its categories.

    ``traits``: trait name -> its categories (``None``: categories unknown yet, e.g. while planning).
    """
    for i, q in enumerate(study.questions):
        where = f"questions.{i}"
        for field, names in (("population", list(q.population)), ("breakdown", q.breakdown)):
            for trait in names:
                if trait not in traits:
                    raise InputDataError(
                        study.source,
                        f"{where}.{field}",
                        f"unknown trait {trait!r} in question {q.key!r}",
                        f"use one of the dataset's traits: {sorted(traits)}",
                    )
        for trait, values in q.population.items():
            categories = traits[trait]
            if categories is None:
                continue
            for value in values:
                if value not in categories:
                    raise InputDataError(
                        study.source,
                        f"{where}.population.{trait}",
                        f"{trait!r} has no value {value!r}",
                        f"use one of {list(categories)}",
                    )


def dataset_traits(dataset_json: Mapping[str, Any]) -> dict[str, list[str]]:
    """Trait name -> categories from a canonical ``dataset.json``."""
    return {t["name"]: list(t["categories"]) for t in dataset_json["traits"]}
