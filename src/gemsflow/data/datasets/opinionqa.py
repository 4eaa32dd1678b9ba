"""OpinionQA: Pew American Trends Panel waves (``.sav``) plus the OpinionQA text files.

Pew's terms of use forbid redistributing the answers, so the user downloads the ATP waves and puts
them in ``raw_dir`` (file names from ``file_pattern``, default ``"ATP W{wave}.sav"``). The shipped text
files (``<prefix>_question_keys.json``, ``<prefix>_question_strings.json``,
``<prefix>_option_strings.json``) name the questions and hold the texts that were embedded.

Decisions that differ from the reference implementation (spec 1.5, weaknesses 4 and 11):

* The options of a question are its value labels minus *invalid* entries, decided explicitly: a
  code in ``invalid_codes`` (default 99) or a label in ``invalid_labels`` (default: refusals). A valid
  option is never dropped because it happens to come last. Where the options differ from the shipped
  option strings, the question's choice texts are regenerated and the questions are listed in a warning.
* Demographic labels are mapped to the common category vocabulary by :data:`TRAIT_TABLES`; a valid
  label the table does not know is reported in one warning (the individual gets a missing trait), or
  raises when ``strict_traits`` is set.
* An individual is a (respondent, wave) pair with id ``"{respondent}_W{wave}"``. The min-answers filter
  counts answers per wave (``min_answers_scope: wave``, as the reference, which empties waves with
  fewer questions than ``min_answers``) or over all waves of a respondent (``pooled``); what it removes
  is logged per wave and stored in the dataset's filter log, with the questions left without answers.

The reader is as strict as the GEMS-layout reader; every value is an answer, a counted refusal, an
empty cell, or an error naming the file, the column, the case and the fix:

* answer, demographic and weight columns must be numeric (an SPSS string variable is an error);
* an answer is one of the question's option codes; a refusal (code in ``invalid_codes`` or label in
  ``invalid_labels``) is counted per wave; any other value (a code without a value label, a fraction)
  is an error, whose fix is to list the code in ``invalid_codes`` if it means no answer;
* a respondent id appears once per wave and is a whole number or a string;
* weights (``weight_column``, a pattern with ``{wave}``, default ``WEIGHT_W{wave}``; null weighs
  everyone 1) are finite and > 0, a blank weight is an error;
* demographic refusals, empty cells and labels without a category (a code without a value label
  included) are counted in individuals and stored under ``filter.traits`` in ``dataset.json``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from gemsflow.data.datasets.gems_layout import filter_min_answers, ordinal_flags
from gemsflow.data.datasets.strict import parse_weights
from gemsflow.data.survey import SurveyData, Trait, build_options_table, validate
from gemsflow.errors import InputDataError

log = logging.getLogger(__name__)

DEFAULT_WEIGHT_COLUMN = "WEIGHT_W{wave}"

# Trait -> (description, candidate columns tried in order, categories of the common vocabulary).
TRAIT_COLUMNS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "age": ("Age", ("F_AGECAT_FINAL", "F_AGECAT"), ("18-29", "30-49", "50-64", "65+")),
    "race": (
        "Race or ethnicity",
        ("F_RACETHNMOD", "F_RACETHN_RECRUITMENT", "F_RACETHN"),
        ("white", "black", "asian", "hispanic", "other"),
    ),
    "sex": ("Gender", ("F_SEX_FINAL", "F_SEX", "F_GENDER"), ("male", "female", "other")),
    "education": (
        "Education level",
        ("F_EDUCCAT2", "F_EDUCCAT2_FINAL"),
        (
            "less than high school",
            "high school graduate",
            "some college, no degree",
            "associate's degree",
            "college graduate/some postgrad",
            "postgraduate",
        ),
    ),
    "income": (
        "Income level",
        ("F_INCOME", "F_INC_SDT1", "F_INCOME_FINAL", "INC_SDT1_W54"),
        (
            "less than $30,000",
            "$30,000-$50,000",
            "$50,000-$75,000",
            "$75,000-$100,000",
            "$100,000 or more",
        ),
    ),
    "cregion": (
        "Region of residence",
        ("F_CREGION", "F_CREGION_FINAL"),
        ("northeast", "midwest", "south", "west"),
    ),
    "relig": (
        "Religion",
        ("F_RELIG", "F_RELIG_FINAL"),
        (
            "protestant",
            "roman catholic",
            "mormon",
            "orthodox",
            "jewish",
            "muslim",
            "buddhist",
            "hindu",
            "atheist",
            "agnostic",
            "other",
            "nothing in particular",
        ),
    ),
    "polparty": (
        "Political party affiliation",
        ("F_PARTY_FINAL",),
        ("republican", "democrat", "independent", "something else"),
    ),
    "polideology": (
        "Political ideology",
        ("F_IDEO", "F_IDEO_FINAL"),
        ("very conservative", "conservative", "moderate", "liberal", "very liberal"),
    ),
}

# Normalised Pew value label -> category, for labels that are not already a category of the trait.
# Normalisation (see _normalise): lower case, straight quotes, cut at the first "(", no underscores,
# collapsed spaces, no trailing ":". Income is not listed: its brackets are parsed (_income_category).
TRAIT_TABLES: dict[str, dict[str, str]] = {
    "age": {
        "18-29": "18-29",
        "30-49": "30-49",
        "50-64": "50-64",
        "65+": "65+",
        "65 or older": "65+",
    },
    "race": {
        "white non-hispanic": "white",
        "white, non-hispanic": "white",
        "black non-hispanic": "black",
        "black, non-hispanic": "black",
        "asian non-hispanic": "asian",
        "asian, non-hispanic": "asian",
        "hispanic": "hispanic",
        "other": "other",
        "other non-hispanic": "other",
        "other, non-hispanic": "other",
        "other race, non-hispanic": "other",
        "mixed race": "other",
    },
    "sex": {
        "male": "male",
        "female": "female",
        "a man": "male",
        "a woman": "female",
        "man": "male",
        "woman": "female",
        # The reference maps this to a string outside the vocabulary (spec 1.5 quirk); here it is a
        # real subgroup.
        "in some other way": "other",
    },
    "education": {
        "less than high school": "less than high school",
        "high school graduate": "high school graduate",
        "high school graduate/ged": "high school graduate",
        "some college, no degree": "some college, no degree",
        "associate's degree": "associate's degree",
        "college graduate/some postgrad": "college graduate/some postgrad",
        "college graduate/some post grad": "college graduate/some postgrad",
        "postgraduate": "postgraduate",
        "postgraduate degree": "postgraduate",
    },
    "cregion": {"northeast": "northeast", "midwest": "midwest", "south": "south", "west": "west"},
    "relig": {
        "protestant": "protestant",
        "roman catholic": "roman catholic",
        "catholic": "roman catholic",
        "mormon": "mormon",
        "orthodox": "orthodox",
        "jewish": "jewish",
        "muslim": "muslim",
        "buddhist": "buddhist",
        "hindu": "hindu",
        "atheist": "atheist",
        "agnostic": "agnostic",
        "nothing in particular": "nothing in particular",
        "something else": "other",
        "something else, specify": "other",
        "other": "other",
        # Pew's religious-tradition coding groups non-denominational Christians with Protestants.
        "christian": "protestant",
        "unitarian": "other",
    },
    "polparty": {
        "republican": "republican",
        "democrat": "democrat",
        "independent": "independent",
        "something else": "something else",
        "other": "something else",
        "no preference": "something else",
    },
    "polideology": {
        "very conservative": "very conservative",
        "conservative": "conservative",
        "moderate": "moderate",
        "liberal": "liberal",
        "very liberal": "very liberal",
    },
}

# Income brackets collapse into five: a Pew bracket goes to the category containing its lower bound.
INCOME_BOUNDS = (30_000, 50_000, 75_000, 100_000)


def _normalise(label: str) -> str:
    text = str(label).lower().replace("\u2019", "'").replace("\u2018", "'")
    text = text.split("(", 1)[0].replace("_", " ")
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip()


def _income_category(label: str) -> str | None:
    """Parse a Pew income bracket such as "$40,000 to less than $50,000" or "10 to under $20,000"."""
    text = _normalise(label)
    amounts = [float(a.replace(",", "")) for a in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]
    if not amounts:
        return None
    # Pew writes "10 to under $20,000" for thousands; bare small numbers are thousands.
    amounts = [a * 1000 if a < 1000 else a for a in amounts]
    if text.startswith(("less than", "under", "below")):
        lower = 0.0
    elif len(amounts) >= 2 or any(m in text for m in ("or more", "or over", "and over", "+")):
        # A bracket "a to under b" or an open top "a or more" starts at its first amount.
        lower = amounts[0]
    else:
        return None
    bucket = int(np.searchsorted(INCOME_BOUNDS, lower, side="right"))
    return TRAIT_COLUMNS["income"][2][bucket]


def _category(trait: str, label: str) -> str | None:
    if trait == "income":
        return _income_category(label)
    normalised = _normalise(label)
    if normalised in TRAIT_COLUMNS[trait][2]:
        return normalised
    return TRAIT_TABLES[trait].get(normalised)


def _wave_of(question: str) -> int | None:
    _, sep, tail = question.rpartition("_W")
    return int(tail) if sep and tail.isdigit() else None


def _read_text_json(path: Path, kind: str) -> Any:
    if not path.exists():
        raise InputDataError(
            path,
            None,
            f"OpinionQA {kind} file not found",
            "point the dataset's dir/prefix at the OpinionQA text files (gems_data_dir/opinionqa)",
        )
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputDataError(path, None, f"not valid JSON ({exc.msg})", "repair the file") from exc


def _settings(entry: Mapping[str, Any]) -> dict[str, Any]:
    from gemsflow.data.datasets import with_defaults

    entry = with_defaults(entry)
    directory = Path(entry["dir"])
    prefix = entry.get("prefix", "opinionqa")
    scope = entry["min_answers_scope"]
    if scope not in ("wave", "pooled"):
        raise InputDataError(
            None, "min_answers_scope", f"unknown scope {scope!r}", "use 'wave' or 'pooled'"
        )
    # traits: a list of names (default columns), or name -> {column, description} to pin a column.
    given = entry.get("traits", list(TRAIT_COLUMNS))
    specs = given if isinstance(given, Mapping) else dict.fromkeys(given)
    traits: dict[str, tuple[str, tuple[str, ...]]] = {}
    for trait, spec in specs.items():
        if trait not in TRAIT_COLUMNS:
            raise InputDataError(
                None,
                "traits",
                f"unknown OpinionQA trait {trait!r}",
                f"use some of {list(TRAIT_COLUMNS)}",
            )
        spec = spec or {}
        description, candidates, _ = TRAIT_COLUMNS[trait]
        column = spec.get("column")
        traits[trait] = (spec.get("description", description), (column,) if column else candidates)
    return {
        "dir": directory,
        "prefix": prefix,
        "raw_dir": Path(entry.get("raw_dir") or directory / "raw_data"),
        "file_pattern": entry["file_pattern"],
        "waves": entry.get("waves"),
        "id_column": entry["id_column"],
        # A pattern with {wave}; null weighs everyone 1.
        "weight_column": entry.get("weight_column", DEFAULT_WEIGHT_COLUMN),
        "min_answers": int(entry["min_answers"]),
        "scope": scope,
        "invalid_codes": {int(c) for c in entry["invalid_codes"]},
        "invalid_labels": {_normalise(x) for x in entry["invalid_labels"]},
        "strict_traits": bool(entry["strict_traits"]),
        "traits": traits,
        "ordinal": entry["ordinal"],
    }


def _text_files(settings: Mapping[str, Any]) -> dict[str, Path]:
    return {
        kind: settings["dir"] / f"{settings['prefix']}_{kind}.json"
        for kind in ("question_keys", "question_strings", "option_strings")
    }


def _wave_file(settings: Mapping[str, Any], wave: int) -> Path:
    return settings["raw_dir"] / settings["file_pattern"].format(wave=wave)


def _selected_questions(
    settings: Mapping[str, Any], keys: list[str], path: Path
) -> dict[int, list[str]]:
    by_wave: dict[int, list[str]] = {}
    for key in sorted(set(keys)):
        wave = _wave_of(key)
        if wave is None:
            raise InputDataError(
                path, key, "question key does not end with _W<wave>", "fix the question key"
            )
        by_wave.setdefault(wave, []).append(key)
    if settings["waves"] is not None:
        wanted = [int(w) for w in settings["waves"]]
        unknown = [w for w in wanted if w not in by_wave]
        if unknown:
            raise InputDataError(
                path,
                "waves",
                f"waves {unknown} have no question in the question keys",
                f"choose among {sorted(by_wave)}",
            )
        by_wave = {w: by_wave[w] for w in wanted}
    return dict(sorted(by_wave.items()))


def opinionqa_wave_files(entry: Mapping[str, Any]) -> list[str]:
    """The wave files the adapter reads (known once the question keys are readable)."""
    settings = _settings(entry)
    texts = _text_files(settings)
    if settings["waves"] is not None:
        waves = sorted(int(w) for w in settings["waves"])
    elif texts["question_keys"].exists():
        keys = _read_text_json(texts["question_keys"], "question keys")
        waves = sorted({w for w in map(_wave_of, keys) if w is not None})
    else:
        waves = []
    return [str(_wave_file(settings, w)) for w in waves]


def opinionqa_text_files(entry: Mapping[str, Any]) -> list[str]:
    """The shipped OpinionQA text files the adapter reads."""
    return [str(p) for p in _text_files(_settings(entry)).values()]


def opinionqa_source_files(entry: Mapping[str, Any]) -> list[str]:
    """Text files and wave files the adapter reads."""
    return opinionqa_text_files(entry) + opinionqa_wave_files(entry)


def wave_layout(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Where an entry's files are: text ``dir`` and ``prefix``, ``raw_dir``, ``file_pattern`` and the
    selected ``waves`` (None = all), with the reader's defaults filled in."""
    settings = _settings(entry)
    return {key: settings[key] for key in ("dir", "prefix", "raw_dir", "file_pattern", "waves")}


def _read_wave(path: Path, wave: int, columns: list[str]) -> tuple[pd.DataFrame, Any]:
    import pyreadstat

    if not path.exists():
        raise InputDataError(
            path,
            None,
            f"Pew ATP wave {wave} file not found",
            "download the wave from pewresearch.org and save it under this name, or drop the wave "
            "with the dataset's `waves` setting (file_pattern sets the name)",
        )
    try:
        _, meta = pyreadstat.read_sav(str(path), metadataonly=True)
        present = [c for c in dict.fromkeys(columns) if c in meta.column_names]
        frame, meta = pyreadstat.read_sav(str(path), usecols=present)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError) as exc:
        raise InputDataError(
            path,
            None,
            f"cannot read the SPSS file ({exc}); it is truncated or not a .sav file",
            "download the wave again from pewresearch.org",
        ) from exc
    return frame, meta


def _require_numeric(frame: pd.DataFrame, path: Path, columns: list[str], ids: list[str]) -> None:
    """Answer, demographic and weight columns hold numbers; an SPSS string variable is an error."""
    for column in columns:
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            filled = frame[column].astype("string").str.strip().fillna("") != ""
            first = int(np.flatnonzero(filled.to_numpy())[0]) if filled.any() else 0
            raise InputDataError(
                path,
                column,
                f"a text (SPSS string) variable, not numeric codes (case {first + 1}, respondent "
                f"{ids[first]}: {frame[column].iloc[first]!r})",
                "use the original Pew release, whose answers and demographics are numeric codes "
                "with value labels",
            )


def _respondent_ids(values: pd.Series, path: Path, column: str) -> list[str]:
    """Respondent ids as text: integer-valued numbers without ".0", or the strings as written."""
    if values.isna().any():
        first = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputDataError(
            path,
            column,
            f"respondent id missing in {int(values.isna().sum())} case(s), the first is case "
            f"{first + 1}",
            "use the original Pew release, where every case has its respondent id",
        )
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype="float64")
        fractional = ~np.isfinite(numbers) | (numbers != np.round(numbers))
        if fractional.any():
            first = int(np.flatnonzero(fractional)[0])
            raise InputDataError(
                path,
                column,
                f"respondent id {numbers[first]:g} (case {first + 1}) is not a whole number",
                "set the dataset's id_column to the respondent-id column (Pew: QKEY)",
            )
        out = [str(int(v)) for v in numbers]
    else:
        out = [str(v).strip() for v in values]
    counts = pd.Series(out).value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        shown = ", ".join(f"{rid} ({n} cases)" for rid, n in repeated.head(5).items())
        raise InputDataError(
            path,
            column,
            f"{len(repeated)} respondent id(s) appear more than once in the wave: {shown}",
            "keep one case per respondent and wave (a repeated export or an appended file doubles "
            "them), or set id_column to the column that identifies respondents",
        )
    return out


def load_opinionqa(name: str, entry: Mapping[str, Any]) -> SurveyData:
    """Build the canonical dataset from Pew ATP waves and the OpinionQA text files."""
    settings = _settings(entry)
    texts = _text_files(settings)
    keys = _read_text_json(texts["question_keys"], "question keys")
    question_strings = _read_text_json(texts["question_strings"], "question strings")
    option_strings = _read_text_json(texts["option_strings"], "option strings")
    by_wave = _selected_questions(settings, keys, texts["question_keys"])

    waves = _Waves()
    for wave, questions in tqdm(by_wave.items(), desc="ATP waves", unit="wave"):
        waves.add(settings, wave, questions, question_strings)
    trait_log = waves.traits.report(settings)
    log.info(
        "dropped %d invalid value labels (refusal codes/labels) from question options; "
        "%d answers were refusals (not answers), per wave: %s",
        waves.invalid_dropped,
        sum(waves.refusals.values()),
        waves.refusals,
    )

    question_options, question_texts = waves.question_options, waves.question_texts
    choice_texts = _choice_texts(question_options, option_strings, texts["option_strings"].name)
    options = build_options_table(question_options, question_texts, choice_texts)

    individuals = pd.concat(waves.individuals, ignore_index=True)
    individuals = individuals.astype({t: "string" for t in settings["traits"]})
    responses = pd.concat(waves.responses, ignore_index=True)
    individuals, responses, filter_log = filter_min_answers(
        individuals, responses, settings["min_answers"], settings["scope"]
    )
    if individuals.empty:
        raise InputDataError(
            settings["raw_dir"],
            "min_answers",
            f"no individual has {settings['min_answers']} or more answers "
            f"(scope {settings['scope']}), so the dataset would be empty",
            "lower min_answers, use min_answers_scope: pooled, or choose other waves",
        )
    unanswered = sorted(set(question_options) - set(responses["question"]))
    if unanswered:
        log.warning(
            "%d question(s) have no answers left after min_answers (waves %s); they stay in the "
            "question table and no split holds them",
            len(unanswered),
            sorted({_wave_of(q) for q in unanswered}),
        )
    filter_log.update(
        unanswered_questions=unanswered,
        refusals={"total": sum(waves.refusals.values()), "waves": waves.refusals},
        invalid_value_labels=waves.invalid_dropped,
        traits=trait_log,
    )
    traits = tuple(
        Trait(t, description, TRAIT_COLUMNS[t][2])
        for t, (description, _) in settings["traits"].items()
    )
    data = SurveyData(
        name=name,
        source=f"opinionqa:{settings['raw_dir']}",
        individuals=individuals.reset_index(drop=True),
        questions=_question_table(settings, question_options, question_texts),
        options=options,
        responses=responses.reset_index(drop=True),
        traits=traits,
        filter_log=filter_log,
    )
    validate(data)
    return data


@dataclass
class _TraitCounts:
    """What the demographic columns held besides a category, counted in individuals: refusals and
    empty cells (a missing trait), labels without a category, traits without a column."""

    refused: dict[str, int] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    unmapped: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    absent: dict[str, list[int]] = field(default_factory=dict)

    def report(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Log the counts (labels without a category fail under ``strict_traits``) and return them
        for the dataset's filter log."""
        if self.absent:
            log.warning(
                "no candidate column for these traits (individuals get a missing value): %s",
                self.absent,
            )
        if self.unmapped:
            listing = "; ".join(
                f"{trait} ({column}): "
                + ", ".join(f"{label!r} x{n}" for label, n in sorted(found.items()))
                for (trait, column), found in sorted(self.unmapped.items())
            )
            if settings["strict_traits"]:
                raise InputDataError(
                    settings["raw_dir"],
                    "traits",
                    f"demographic labels without a category (label x individuals): {listing}",
                    "add them to gemsflow.data.datasets.opinionqa.TRAIT_TABLES, list a refusal label "
                    "in invalid_labels, or set strict_traits: false",
                )
            log.warning(
                "demographic labels without a category, so these individuals get a missing trait "
                "(label x individuals): %s",
                listing,
            )
        log.info(
            "demographic refusals (missing trait), individuals per trait: %s; empty cells: %s",
            self.refused,
            self.empty,
        )
        return {
            "refused": self.refused,
            "empty": self.empty,
            "unmapped": {
                f"{trait} ({column})": found
                for (trait, column), found in sorted(self.unmapped.items())
            },
            "absent": self.absent,
        }


@dataclass
class _Waves:
    """What the waves contribute, gathered wave by wave: question options and texts, individuals and
    responses, and the counts reported once at the end."""

    question_options: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    question_texts: dict[str, str] = field(default_factory=dict)
    individuals: list[pd.DataFrame] = field(default_factory=list)
    responses: list[pd.DataFrame] = field(default_factory=list)
    traits: _TraitCounts = field(default_factory=_TraitCounts)
    refusals: dict[str, int] = field(default_factory=dict)
    invalid_dropped: int = 0

    def add(
        self,
        settings: Mapping[str, Any],
        wave: int,
        questions: list[str],
        question_strings: Mapping[str, str],
    ) -> None:
        """Read one wave file and add its questions, people and answers."""
        path = _wave_file(settings, wave)
        id_column = settings["id_column"]
        pattern = settings["weight_column"]
        weight_column = pattern.format(wave=wave) if pattern else None
        candidates = [c for _, columns in settings["traits"].values() for c in columns]
        frame, meta = _read_wave(
            path,
            wave,
            [id_column, *([weight_column] if weight_column else []), *questions, *candidates],
        )
        for column, fix in (
            (id_column, "set the dataset's id_column to the respondent-id column"),
            (
                weight_column,
                f"use the original Pew release of wave {wave}, which has {weight_column}, or set "
                "weight_column: null to weigh everyone 1",
            ),
        ):
            if column is not None and column not in frame.columns:
                raise InputDataError(path, column, "column missing from the wave file", fix)
        respondents = _respondent_ids(frame[id_column], path, id_column)
        _require_numeric(
            frame, path, [c for c in (weight_column, *questions, *candidates) if c], respondents
        )
        ids = [f"{r}_W{wave}" for r in respondents]

        wave_options, no_answer, wave_texts, dropped = _wave_questions(
            path, questions, frame, meta, settings, question_strings
        )
        self.question_options.update(wave_options)
        self.question_texts.update(wave_texts)
        self.invalid_dropped += dropped

        if weight_column:
            weights = parse_weights(
                frame.assign(**{id_column: respondents}), weight_column, id_column, path, 1
            ).to_numpy()
        else:
            weights = np.ones(len(frame))
        responses, refusals = _wave_responses(
            path, frame, questions, ids, weights, wave_options, no_answer
        )
        self.responses.append(responses)
        self.refusals[str(wave)] = refusals
        self.individuals.append(
            _wave_people(
                frame, ids, wave, weights, settings, meta.variable_value_labels, self.traits
            )
        )


def _question_table(
    settings: Mapping[str, Any],
    question_options: Mapping[str, list[tuple[int, str]]],
    question_texts: Mapping[str, str],
) -> pd.DataFrame:
    questions = sorted(question_options)
    ordinal_set = _ordinal_questions(settings, questions)
    return pd.DataFrame(
        {
            "question": questions,
            "wave": [_wave_of(q) for q in questions],
            "text": [question_texts[q] for q in questions],
            "n_options": [len(question_options[q]) for q in questions],
            "ordinal": [q in ordinal_set for q in questions],
        }
    )


def _is_no_answer(code: float, label: str | None, settings: Mapping[str, Any]) -> bool:
    """A refusal: a code in ``invalid_codes`` or a value label in ``invalid_labels``."""
    return (float(code).is_integer() and int(code) in settings["invalid_codes"]) or (
        label is not None and _normalise(label) in settings["invalid_labels"]
    )


def _wave_questions(
    path: Path,
    questions: list[str],
    frame: pd.DataFrame,
    meta: Any,
    settings: Mapping[str, Any],
    question_strings: Mapping[str, str],
) -> tuple[dict[str, list[tuple[int, str]]], dict[str, set[float]], dict[str, str], int]:
    """Options (valid codes and labels), refusal codes and texts of one wave's questions, and how
    many invalid value labels (refusal codes/labels) were dropped from the options."""
    labels = meta.variable_value_labels
    wave_options: dict[str, list[tuple[int, str]]] = {}
    no_answer: dict[str, set[float]] = {}
    wave_texts: dict[str, str] = {}
    dropped = 0
    for question in questions:
        if question not in frame.columns:
            raise InputDataError(
                path,
                question,
                "question column missing from the wave file",
                "use the original Pew release of the wave or remove the question from the keys",
            )
        value_labels = labels.get(question)
        if not value_labels:
            raise InputDataError(
                path,
                question,
                "question column has no value labels",
                "use the original Pew release",
            )
        options = []
        no_answer[question] = {float(c) for c in settings["invalid_codes"]}
        for code, label in value_labels.items():
            if not isinstance(code, int | float) or not float(code).is_integer():
                raise InputDataError(
                    path,
                    question,
                    f"value label {label!r} has the code {code!r}, not a whole number",
                    "use the original Pew release, whose answer codes are whole numbers",
                )
            if _is_no_answer(code, label, settings):
                dropped += 1
                no_answer[question].add(float(code))
                continue
            options.append((int(code), str(label).strip()))
        if not options:
            raise InputDataError(
                path,
                question,
                "no valid option left after removing invalid codes",
                "check invalid_codes/invalid_labels",
            )
        wave_options[question] = options
        text = question_strings.get(question)
        if text is None:
            text = meta.column_names_to_labels.get(question) or ""
            log.warning("%s: no shipped text for %s; using the .sav variable label", path, question)
        wave_texts[question] = str(text)
    return wave_options, no_answer, wave_texts, dropped


def _wave_responses(
    path: Path,
    frame: pd.DataFrame,
    questions: list[str],
    ids: list[str],
    weights: np.ndarray,
    question_options: Mapping[str, list[tuple[int, str]]],
    no_answer: Mapping[str, set[float]],
) -> tuple[pd.DataFrame, int]:
    """One row per valid answer of the wave (individual, question, code, weight), and the number of
    refusals. An empty cell is no answer; any value that is neither an option nor a refusal is an
    error."""
    codes = frame[questions].to_numpy(dtype="float64")
    valid = np.zeros_like(codes, dtype=bool)
    refused = 0
    for j, question in enumerate(questions):
        column = codes[:, j]
        valid[:, j] = np.isin(column, [c for c, _ in question_options[question]])
        refusal = np.isin(column, list(no_answer[question]))
        refused += int(refusal.sum())
        other = ~(valid[:, j] | refusal | np.isnan(column))
        if other.any():
            first = int(np.flatnonzero(other)[0])
            value = column[first]
            what = (
                f"code {int(value)} has no value label"
                if value.is_integer()
                else f"value {value:g} is not a whole-number code"
            )
            raise InputDataError(
                path,
                question,
                f"{what} (case {first + 1}, individual {ids[first]}; {int(other.sum())} such "
                f"cell(s)); options are {[c for c, _ in question_options[question]]}",
                "use the original Pew release; if the code means no answer, add it to the dataset's "
                "invalid_codes",
            )
    rows, cols = np.nonzero(valid)
    table = pd.DataFrame(
        {
            "individual": np.asarray(ids, dtype=object)[rows],
            "question": np.asarray(questions, dtype=object)[cols],
            "code": codes[rows, cols].astype("int64"),
            "weight": weights[rows],
        }
    )
    return table, refused


def _wave_people(
    frame: pd.DataFrame,
    ids: list[str],
    wave: int,
    weights: np.ndarray,
    settings: Mapping[str, Any],
    labels: Mapping[str, Any],
    counts: _TraitCounts,
) -> pd.DataFrame:
    """The wave's individuals with their traits (first candidate column present wins); refusals,
    empty cells, labels without a category and traits without a column are added to ``counts``."""
    people = pd.DataFrame({"individual": ids, "wave": wave, "weight": weights})
    for trait, (_, columns) in settings["traits"].items():
        column = next((c for c in columns if c in frame.columns), None)
        if column is None:
            counts.absent.setdefault(trait, []).append(wave)
            people[trait] = pd.Series([None] * len(people), dtype="string")
            continue
        values = frame[column].to_numpy(dtype="float64")
        column_labels = labels.get(column, {})
        category_of: dict[float, str | None] = {}
        found, n_found = np.unique(values[~np.isnan(values)], return_counts=True)
        for code, n in zip(found, n_found, strict=True):
            label = column_labels.get(code)
            if label is None and code.is_integer():
                label = column_labels.get(int(code))
            category = None if label is None else _category(trait, label)
            category_of[code] = category
            if _is_no_answer(code, label, settings):
                counts.refused[trait] = counts.refused.get(trait, 0) + int(n)
            elif category is None:
                shown = f"code {code:g} (no value label)" if label is None else str(label)
                unmapped = counts.unmapped.setdefault((trait, column), {})
                unmapped[shown] = unmapped.get(shown, 0) + int(n)
        empty = int(np.isnan(values).sum())
        if empty:
            counts.empty[trait] = counts.empty.get(trait, 0) + empty
        people[trait] = pd.Series(values).map(category_of).astype("string").to_numpy()
    return people


def _choice_texts(
    question_options: Mapping[str, list[tuple[int, str]]],
    option_strings: Mapping[str, str],
    option_file: str,
) -> dict[str, str]:
    """Shipped choice texts of the questions whose option set matches the shipped one."""
    shipped_codes: dict[str, set[int]] = {}
    for choice in option_strings:
        question, sep, code = choice.rpartition("_option_")
        if sep and code.lstrip("-").isdigit():
            shipped_codes.setdefault(question, set()).add(int(code))
    # Shipped choice texts only where the option set matches; otherwise the letters would not match.
    mismatched = [
        q for q, opts in question_options.items() if shipped_codes.get(q) != {c for c, _ in opts}
    ]
    if mismatched:
        log.warning(
            "%d question(s) have options that differ from %s; their choice texts are regenerated: %s",
            len(mismatched),
            option_file,
            ", ".join(sorted(mismatched)),
        )
    return {
        key: text
        for key, text in option_strings.items()
        if key.rpartition("_option_")[0] not in set(mismatched)
    }


def _ordinal_questions(settings: Mapping[str, Any], questions: list[str]) -> set[str]:
    path = settings["dir"] / f"{settings['prefix']}_question_meta.json"
    meta = _read_text_json(path, "question meta") if path.exists() else None
    flags = ordinal_flags(questions, meta, settings["ordinal"])
    return {q for q, is_ordinal in flags.items() if is_ordinal}
