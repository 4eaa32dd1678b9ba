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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemsflow.config import PROJECT_ROOT
from gemsflow.errors import InputDataError
from gemsflow.yaml_files import load_yaml

STUDY_SCHEMA_FILE = PROJECT_ROOT / "config" / "studies" / "study.schema.json"


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
    raw: Any = field(default=None, compare=False, repr=False)  # the parsed file, for field names

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


class StudyErrors(InputDataError):
    """Every problem of one study file at once. ``field``, ``problem`` and ``fix`` are the first
    problem's; ``errors`` holds them all, in file order."""

    def __init__(self, source: str, errors: Sequence[InputDataError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(source, first.field, first.problem, first.fix)
        lines = [f"{source}: {len(self.errors)} problem(s) in this study file:"]
        lines += [
            f"  {i}. field {e.field!r}: {e.problem}. Fix: {e.fix}"
            if e.field
            else f"  {i}. {e.problem}. Fix: {e.fix}"
            for i, e in enumerate(self.errors, 1)
        ]
        self.args = ("\n".join(lines),)

    def __str__(self) -> str:
        return self.args[0]


def _schema_error(source: str, error) -> InputDataError:
    field = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "required":
        fix = f"add the missing key ({error.message})"
    elif error.validator == "additionalProperties":
        fix = "remove or rename the key; see config/studies/study.schema.json for the allowed keys"
    elif error.validator == "pattern":
        fix = "use only letters, digits and underscores"
    elif error.validator in ("type", "oneOf") and _holds_boolean(error.instance):
        # YAML 1.1 reads unquoted yes/no/true/false/on/off as booleans: [Yes, No] is [True, False].
        fix = (
            "quote it: YAML reads unquoted Yes, No, True, False, On and Off as booleans, so write"
            ' options: ["Yes", "No"]'
        )
    else:
        fix = "follow config/studies/study.schema.json"
    return InputDataError(source, field, error.message, fix)


def _holds_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and any(isinstance(v, bool) for v in value)


def _merge_booleans(source: str, errors: Sequence[Any]) -> list[InputDataError]:
    """Schema errors as InputDataErrors; the booleans of one list (``[Yes, No]``) as one problem."""
    problems: list[InputDataError] = []
    merged: dict[tuple, list] = {}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "type" and isinstance(error.instance, bool) and len(path) > 1:
            parent = path[:-1]
            if parent not in merged:
                merged[parent] = []
                problems.append(parent)  # placeholder, filled below
            merged[parent].append(error.instance)
            continue
        problems.append(_schema_error(source, error))
    return [
        InputDataError(
            source,
            ".".join(str(p) for p in item),
            f"{', '.join(map(str, merged[item]))} read as booleans, not text",
            "quote them: YAML reads unquoted Yes, No, True, False, On and Off as booleans, so write"
            ' options: ["Yes", "No"]',
        )
        if isinstance(item, tuple)
        else item
        for item in problems
    ]


def _as_study_object(obj: Any) -> Any:
    return {"questions": obj} if isinstance(obj, list) else obj  # a bare list: notebook use


def study_problems(
    obj: Any,
    source: str,
    traits: Mapping[str, Sequence[str] | None] | None = None,
    dataset: str | None = None,
) -> list[InputDataError]:
    """Every problem of a study's parsed YAML, in file order: the schema's, the structure's (fewer than
    two options, duplicate keys or options), the traits' (``traits``: trait -> categories, ``None``
    where unknown; ``None`` altogether skips the check) and the ``dataset:`` key's (``dataset``: the
    dataset it is run on)."""
    import jsonschema

    obj = _as_study_object(obj)
    validator = jsonschema.Draft202012Validator(json.loads(STUDY_SCHEMA_FILE.read_text()))
    problems = _merge_booleans(
        source,
        sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]),
    )
    if not isinstance(obj, dict):
        return problems
    named = obj.get("dataset")
    if dataset is not None and isinstance(named, str) and named != dataset:
        problems.insert(
            0,
            InputDataError(
                source,
                "dataset",
                f"the study is written for dataset {named!r} but is run on {dataset!r}",
                f"run results/simulate/{named}/{Path(source).stem}, or change 'dataset:' to"
                f" {dataset!r} (and its traits with it)",
            ),
        )
    questions = obj.get("questions")
    questions = questions if isinstance(questions, list) else []
    if traits is not None:
        problems += _trait_problems(source, "", obj, traits)
    seen: dict[str, int] = {}
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            continue
        where = f"questions.{i}"
        key = q.get("key")
        if isinstance(key, str) and key in seen:
            problems.append(
                InputDataError(
                    source,
                    f"{where}.key",
                    f"duplicate question key {key!r} (also questions.{seen[key]})",
                    "give every question its own key",
                )
            )
        elif isinstance(key, str):
            seen[key] = i
        options = q.get("options")
        if isinstance(options, list):
            if len(options) < 2:
                problems.append(
                    InputDataError(
                        source,
                        f"{where}.options",
                        f"question {key!r} has {len(options)} option(s)",
                        "list at least 2 options in display order",
                    )
                )
            dup = next((o for o in options if options.count(o) > 1), None)
            if dup is not None:
                problems.append(
                    InputDataError(
                        source,
                        f"{where}.options",
                        f"option {dup!r} appears twice in question {key!r}",
                        "make every option text distinct",
                    )
                )
        if traits is not None:
            problems += _trait_problems(source, f"{where}.", q, traits)
    return problems


def _trait_problems(
    source: str, prefix: str, block: Mapping[str, Any], traits: Mapping[str, Sequence[str] | None]
) -> list[InputDataError]:
    """Unknown traits and values in the ``population`` and ``breakdown`` of one block (the study's
    top level or one question), named where they are written."""
    problems = []
    population = block.get("population")
    population = population if isinstance(population, dict) else {}
    breakdown = block.get("breakdown")
    breakdown = breakdown if isinstance(breakdown, list) else []
    for key, names in (("population", list(population)), ("breakdown", breakdown)):
        for trait in names:
            if isinstance(trait, str) and trait not in traits:
                problems.append(
                    InputDataError(
                        source,
                        f"{prefix}{key}",
                        f"unknown trait {trait!r}",
                        f"use one of the dataset's traits: {sorted(traits)}",
                    )
                )
    for trait, values in _population(
        {t: v for t, v in population.items() if t in traits and isinstance(v, str | list)}
    ).items():
        categories = traits[trait]
        for value in values if categories is not None else ():
            if value not in categories:
                problems.append(
                    InputDataError(
                        source,
                        f"{prefix}population.{trait}",
                        f"{trait!r} has no value {value!r}",
                        f"use one of {list(categories)}",
                    )
                )
    return problems


def _raise_all(source: str, problems: Sequence[InputDataError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise StudyErrors(source, problems)


def parse_study(
    obj: Any,
    source: str,
    name: str | None = None,
    traits: Mapping[str, Sequence[str] | None] | None = None,
    dataset: str | None = None,
) -> Study:
    """Validate a study's parsed YAML (or a notebook's dict) and return it; ``source`` names the file.
    Every problem is reported at once (:func:`study_problems`; ``traits`` and ``dataset`` as there)."""
    obj = _as_study_object(obj)
    _raise_all(source, study_problems(obj, source, traits, dataset))
    questions = tuple(
        StudyQuestion(
            key=q["key"],
            text=q["text"],
            options=tuple(q["options"]),
            ordinal=bool(q.get("ordinal", False)),
            population=_population(q.get("population", obj.get("population"))),
            breakdown=tuple(q.get("breakdown", obj.get("breakdown", []))),
        )
        for q in obj["questions"]
    )
    name = name or Path(source).stem
    return Study(name, source, str(obj.get("title", name)), questions, obj)


def load_study(
    path: str | Path,
    traits: Mapping[str, Sequence[str] | None] | None = None,
    dataset: str | None = None,
) -> Study:
    """Read and check a study file; every problem at once (see :func:`parse_study`)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(
            path, None, "study file not found", "create it (see config/studies/*.yaml)"
        )
    return parse_study(load_yaml(path, "study"), str(path), traits=traits, dataset=dataset)


def check_traits(study: Study, traits: Mapping[str, Sequence[str] | None]) -> None:
    """Every population and breakdown trait must be a dataset trait; population values its categories.

    ``traits``: trait name -> its categories (``None``: categories unknown yet, e.g. while planning).
    Each problem names the field where it is written (the study's top level or a question).
    """
    raw = study.raw if study.raw is not None else [q.to_json() for q in study.questions]
    _raise_all(study.source, study_problems(raw, study.source, traits))


def dataset_traits(dataset_json: Mapping[str, Any]) -> dict[str, list[str]]:
    """Trait name -> categories from a canonical ``dataset.json``."""
    return {t["name"]: list(t["categories"]) for t in dataset_json["traits"]}


def planning_traits(
    entry: Mapping[str, Any], dataset_json: str | Path | None = None
) -> dict[str, list[str] | None] | None:
    """A dataset's traits as known before any job: with categories from its prepared ``dataset.json``
    when that exists, else the trait names of its config entry (categories unknown); ``None`` when
    neither says (a format whose traits come from its files)."""
    if dataset_json is not None and Path(dataset_json).exists():
        return dataset_traits(json.loads(Path(dataset_json).read_text()))
    if isinstance(entry.get("traits"), dict):
        return dict.fromkeys(entry["traits"])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gemsflow.simulation.studies <study.yaml> [--dataset D]``: check a study file, run nothing."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Check a study file; nothing is run.")
    parser.add_argument("study", type=Path)
    parser.add_argument(
        "--dataset", help="the dataset to check it against (default: its dataset: key)"
    )
    parser.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    try:
        raw = load_yaml(args.study, "study") if args.study.exists() else None
        dataset = args.dataset or (raw.get("dataset") if isinstance(raw, dict) else None)
        traits = None
        if dataset:
            entries = (load_yaml(args.configfile) or {}).get("datasets", {})
            if dataset not in entries:
                raise InputDataError(
                    args.configfile,
                    "datasets",
                    f"no dataset {dataset!r}",
                    f"name one of {sorted(entries)} with --dataset",
                )
            prepared = args.results / "data" / dataset / "dataset.json"
            traits = planning_traits(entries[dataset], prepared)
        study = load_study(args.study, traits=traits, dataset=args.dataset)
    except InputDataError as error:
        print(error, file=sys.stderr)
        return 1
    checked = (
        f"dataset {dataset}'s traits"
        if traits is not None
        else "no dataset named: traits unchecked"
    )
    print(f"{args.study}: OK, {len(study.questions)} question(s) ({checked})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
