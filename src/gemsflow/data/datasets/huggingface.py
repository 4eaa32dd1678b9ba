"""Build the GEMS-layout files of Twin-2K-500 and Dunning–Kruger from the Hugging Face hub.

For users with a network: :func:`download_dataset` fetches the source with ``datasets`` and writes
``<prefix>_{responses.csv,question_keys.json,question_strings.json,options_map.json,option_strings.json}``.
The parsing is split from the fetching (:func:`twin_layout`, :func:`dunning_kruger_layout`) so that it
can be tested on small in-memory records.

Differences from the reference notebooks (spec 1.3, 1.4, weaknesses 14 and 15):

* Twin: a multi-select answer is reduced to its first choice as in the reference (``multi_select:
  "first"``) or dropped (``"drop"``), and either way counted per question in a warning; an answer whose
  position and text disagree becomes missing (the reference stopped in a debugger); questions with an
  empty text are listed in a warning.
* Dunning–Kruger: answers are matched to options by their *text*, and questions by their sentence, so
  a participant who saw the options (or questions) in another order is coded correctly; the reference
  reused participant 0's order for everybody. The eight self-estimate traits get their value maps
  (the reference added them by hand).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from gemsflow.data.datasets.gems_layout import WEIGHT_COLUMN
from gemsflow.data.survey import choice_block
from gemsflow.errors import GemsflowError
from gemsflow.io import atomic_path, write_json

log = logging.getLogger(__name__)

TWIN_REPO, TWIN_CONFIG, TWIN_SPLIT, TWIN_COLUMN = (
    "LLM-Digital-Twin/Twin-2K-500",
    "full_persona",
    "data",
    "persona_json",
)
PSYCH101_REPO, PSYCH101_SPLIT = "marcelbinz/Psych-101", "train"
DK_EXPERIMENT = "jansen2021dunningkruger/exp1.csv"
TWIN_ID_OFFSET = 10000001
DK_ID_OFFSET = 2000001
DEMOGRAPHIC_BLOCK = "BLOCK0"

DK_INTRO = (
    "Some part of the sentence is in square brackets.\n"
    "Five choices for rephrasing that part follow the sentence; one choice repeats the original, "
    "and the other four are different.\n"
    "Your task is to select the grammatically correct choice."
)
DK_ESTIMATES = ("accuracy", "percentile", "average_difficulty", "self_difficulty")
DK_TRAITS = tuple(f"{when}_{what}" for when in ("pre", "post") for what in DK_ESTIMATES)


class DatasetParseError(GemsflowError):
    """A source record does not have the structure the parser expects."""


@dataclass(frozen=True)
class GemsLayout:
    """The content of the GEMS-layout files of one dataset, before writing."""

    question_keys: list[str]
    question_strings: dict[str, str]
    options_map: dict[str, dict[str, str]]
    option_strings: dict[str, str]
    responses: pd.DataFrame


def write_gems_layout(layout: GemsLayout, out_dir: str | Path, prefix: str) -> None:
    out_dir = Path(out_dir)
    with atomic_path(out_dir / f"{prefix}_responses.csv") as tmp:
        layout.responses.to_csv(tmp, index=False)
    write_json(layout.question_keys, out_dir / f"{prefix}_question_keys.json")
    write_json(layout.question_strings, out_dir / f"{prefix}_question_strings.json")
    write_json(layout.options_map, out_dir / f"{prefix}_options_map.json")
    write_json(layout.option_strings, out_dir / f"{prefix}_option_strings.json")


def _option_strings(key: str, text: str, options: list[str]) -> dict[str, str]:
    return {
        f"{key}_option_{i + 1}": choice_block(text, options, i).strip() for i in range(len(options))
    }


# --------------------------------------------------------------------------------------------- Twin


def _first(value: Any) -> tuple[Any, bool]:
    """(first element, was a multi-element list)."""
    if isinstance(value, list):
        return (value[0] if value else None), len(value) > 1
    return value, False


def _position(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _twin_questions(person: list[dict]) -> dict[str, dict[str, Any]]:
    """Key -> {text, options} for every question with options, keyed by block index and QuestionID."""
    questions = {}
    for block_index, block in enumerate(person):
        for question in block.get("Questions", []):
            if not question.get("Options"):
                continue
            key = f"BLOCK{block_index}{question['QuestionID']}_W1"
            questions[key] = {
                "text": question.get("QuestionText") or "",
                "options": [str(o).strip() for o in question["Options"]],
            }
    return questions


def _demographic_option(key: str, option: str) -> str:
    # Demographic labels become subgroup names: lower case, without the parenthesised explanation.
    text = option.split("(", 1)[0].strip().lower()
    # The census region "pacific" is part of "west" in the vocabulary shared with OpinionQA.
    return "west" if key == "BLOCK0QID11_W1" and text == "pacific" else text


def twin_layout(personas: Iterable[str | list], multi_select: str = "first") -> GemsLayout:
    """GEMS layout of Twin-2K-500 from its ``persona_json`` records (JSON text or parsed lists).

    The question structure is taken from the first person; every person's answer to a question is
    found by (block index, QuestionID).
    """
    if multi_select not in ("first", "drop"):
        raise ValueError(f"multi_select must be 'first' or 'drop', got {multi_select!r}")
    structure: dict[str, dict[str, Any]] | None = None
    rows = []
    multi: Counter[str] = Counter()
    mismatched: Counter[str] = Counter()
    for index, record in enumerate(personas):
        person = json.loads(record) if isinstance(record, str) else record
        if not isinstance(person, list):
            raise DatasetParseError(f"persona {index}: expected a JSON list of blocks")
        if structure is None:
            structure = _twin_questions(person)
            if not structure:
                raise DatasetParseError("persona 0 has no question with options")
        answers = _twin_answers(person, structure, multi_select, multi, mismatched)
        row: dict[str, Any] = {"QKEY": TWIN_ID_OFFSET + index}
        for key in structure:
            row[key] = answers.get(key)
        row[WEIGHT_COLUMN] = 1.0
        rows.append(row)
    if structure is None:
        raise DatasetParseError("no persona records")

    _warn_dropped_answers(multi, mismatched, multi_select)
    keys = [k for k in structure if not k.startswith(DEMOGRAPHIC_BLOCK)]
    empty = [k for k in keys if not structure[k]["text"].strip()]
    if empty:
        log.warning("%d question(s) have an empty text: %s", len(empty), ", ".join(empty))

    options_map, option_strings = _twin_options(structure)
    responses = pd.DataFrame(rows)
    for key in structure:
        responses[key] = responses[key].astype("Int64")
    return GemsLayout(
        question_keys=keys,
        question_strings={k: structure[k]["text"] for k in keys},
        options_map=options_map,
        option_strings=option_strings,
        responses=responses,
    )


def _twin_answers(
    person: list[dict],
    structure: dict[str, dict[str, Any]],
    multi_select: str,
    multi: Counter[str],
    mismatched: Counter[str],
) -> dict[str, int]:
    """Question key -> the 1-based option position one person chose, for the questions of
    ``structure``; multi-select and mismatched answers are counted (and left out or reduced)."""
    answers = {}
    for block_index, block in enumerate(person):
        for question in block.get("Questions", []):
            key = f"BLOCK{block_index}{question.get('QuestionID')}_W1"
            if key not in structure:
                continue
            given = question.get("Answers") or {}
            position, is_multi = _first(given.get("SelectedByPosition"))
            text, _ = _first(given.get("SelectedText"))
            position = _position(position)
            if position is None:
                continue
            if is_multi:
                multi[key] += 1
                if multi_select == "drop":
                    continue
            options = structure[key]["options"]
            if not 1 <= position <= len(options) or (
                text is not None and str(text).strip() != options[position - 1]
            ):
                mismatched[key] += 1
                continue
            answers[key] = position
    return answers


def _warn_dropped_answers(multi: Counter[str], mismatched: Counter[str], multi_select: str) -> None:
    if multi:
        log.warning(
            "multi-select answers %s (multi_select=%s) on %d question(s): %s",
            "reduced to the first choice" if multi_select == "first" else "dropped",
            multi_select,
            len(multi),
            dict(sorted(multi.items())),
        )
    if mismatched:
        log.warning(
            "answers whose position is out of range or disagrees with the selected text are "
            "treated as missing: %s",
            dict(sorted(mismatched.items())),
        )


def _twin_options(
    structure: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The options map (demographic labels as subgroup names) and the questions' option strings."""
    options_map: dict[str, dict[str, str]] = {}
    option_strings: dict[str, str] = {}
    for key, question in structure.items():
        options = question["options"]
        if key.startswith(DEMOGRAPHIC_BLOCK):
            options = [_demographic_option(key, o) for o in options]
        else:
            option_strings.update(_option_strings(key, question["text"], options))
        options_map[key] = {f"{i + 1}.0": o for i, o in enumerate(options)}
    return options_map, option_strings


# ---------------------------------------------------------------------------------- Dunning–Kruger

_TOKEN = re.compile(r"<<\s*(.*?)\s*>>")
_QUESTION_START = re.compile(r"Q\d+\.\s")
_CHOICES = "The choices are:"
_CHOICE_LINE = re.compile(r"^\s*([A-Z]):\s*(.+?)\s*$")


@dataclass(frozen=True)
class DKParticipant:
    pre: list[int]
    post: list[int]
    sentences: list[str]
    choices: list[list[tuple[str, str]]]
    chosen: list[str]


def _number(token: str, where: str) -> int:
    digits = re.sub(r"[^\d.\-+]", "", token)
    try:
        return int(float(digits))
    except ValueError as exc:
        raise DatasetParseError(
            f"{where}: token <<{token}>> is neither a letter nor a number"
        ) from exc


def parse_dk_transcript(text: str, where: str = "transcript") -> DKParticipant:
    """Split one Psych-101 transcript into estimates, question sentences, choice blocks and answers."""
    starts = [m for m in _QUESTION_START.finditer(text)]
    parts = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        if _CHOICES in text[match.end() : end]:
            parts.append((match.start(), match.end(), end))
    if not parts:
        raise DatasetParseError(f"{where}: no question with '{_CHOICES}'")

    sentences, choices, chosen = [], [], []
    answer_ends = []
    for start, body, end in parts:
        segment = text[body:end]
        sentence, _, rest = segment.partition(_CHOICES)
        lines = rest.lstrip("\n").split("\n")
        block = []
        for line in lines:
            match = _CHOICE_LINE.match(line)
            if not match:
                break
            block.append((match.group(1), match.group(2)))
        if not block:
            raise DatasetParseError(f"{where}: question at offset {start} lists no choices")
        letter = next(
            (m for m in _TOKEN.finditer(text, body, end) if re.fullmatch(r"[A-Za-z]", m.group(1))),
            None,
        )
        if letter is None:
            raise DatasetParseError(f"{where}: question at offset {start} has no <<letter>> answer")
        if letter.group(1).upper() not in {lab for lab, _ in block}:
            raise DatasetParseError(
                f"{where}: answer <<{letter.group(1)}>> is not one of the choices "
                f"{[lab for lab, _ in block]}"
            )
        sentences.append(sentence.strip())
        choices.append(block)
        chosen.append(letter.group(1).upper())
        answer_ends.append(letter.end())

    pre = [_number(m.group(1), where) for m in _TOKEN.finditer(text, 0, parts[0][0])]
    post = [_number(m.group(1), where) for m in _TOKEN.finditer(text, answer_ends[-1])]
    if len(pre) != len(DK_ESTIMATES) or len(post) != len(DK_ESTIMATES):
        raise DatasetParseError(
            f"{where}: expected {len(DK_ESTIMATES)} estimates before and after the test, "
            f"found {len(pre)} and {len(post)}"
        )
    return DKParticipant(pre, post, sentences, choices, chosen)


def _dk_trait_maps(n_questions: int) -> dict[str, dict[str, str]]:
    deciles = {}
    for value in range(101):
        low = 0 if value <= 10 else (value - 1) // 10 * 10 + 1
        high = max(10, (value + 9) // 10 * 10)
        deciles[str(value)] = f"percentile between {low}% and {high}%"
    maps = {}
    for when in ("pre", "post"):
        maps[f"{when}_accuracy"] = {str(k): f"get {k} correct" for k in range(n_questions + 1)}
        maps[f"{when}_percentile"] = dict(deciles)
        for what in ("average_difficulty", "self_difficulty"):
            maps[f"{when}_{what}"] = {str(k): f"difficulty level {k}" for k in range(1, 11)}
    return maps


def dunning_kruger_layout(transcripts: Iterable[str]) -> GemsLayout:
    """GEMS layout of the Dunning–Kruger replication from its Psych-101 transcripts."""
    participants = [
        parse_dk_transcript(text, where=f"participant {i}") for i, text in enumerate(transcripts)
    ]
    if not participants:
        raise DatasetParseError("no Dunning–Kruger transcripts")
    # The first participant fixes question order and option order (= codes 1..5).
    first = participants[0]
    canonical = {sentence: i for i, sentence in enumerate(first.sentences)}
    option_order = [[text for _, text in block] for block in first.choices]
    keys = [f"Q{i + 1}_W1" for i in range(len(first.sentences))]
    trait_maps = _dk_trait_maps(len(keys))

    reordered = 0
    out_of_range: Counter[str] = Counter()
    rows = []
    for p, person in enumerate(participants):
        row: dict[str, Any] = {"QKEY": DK_ID_OFFSET + p}
        for name, value in zip(DK_TRAITS[:4], person.pre, strict=True):
            row[name] = value
        answers: dict[str, int] = {}
        for sentence, block, letter in zip(
            person.sentences, person.choices, person.chosen, strict=True
        ):
            if sentence not in canonical:
                raise DatasetParseError(
                    f"participant {p}: question {sentence[:60]!r} is not among participant 0's questions"
                )
            q = canonical[sentence]
            texts = [text for _, text in block]
            if sorted(texts) != sorted(option_order[q]):
                raise DatasetParseError(
                    f"participant {p}: the options of {keys[q]} differ from participant 0's"
                )
            reordered += texts != option_order[q]
            answers[keys[q]] = option_order[q].index(dict(block)[letter]) + 1
        for key in keys:
            row[key] = answers.get(key)
        for name, value in zip(DK_TRAITS[4:], person.post, strict=True):
            row[name] = value
        for name in DK_TRAITS:
            if str(row[name]) not in trait_maps[name]:
                out_of_range[name] += 1
                row[name] = None
        row[WEIGHT_COLUMN] = 1.0
        rows.append(row)
    if reordered:
        log.info(
            "%d question displays had another option order than participant 0's; coded by text",
            reordered,
        )
    if out_of_range:
        log.warning("estimates outside their scale were set to missing: %s", dict(out_of_range))

    columns = ["QKEY", *DK_TRAITS[:4], *keys, *DK_TRAITS[4:], WEIGHT_COLUMN]
    responses = pd.DataFrame(rows)[columns]
    for column in [*DK_TRAITS, *keys]:
        responses[column] = responses[column].astype("Int64")
    question_strings = {
        key: f"{DK_INTRO}\n\n{s}" for key, s in zip(keys, first.sentences, strict=True)
    }
    options_map: dict[str, dict[str, str]] = {
        key: {f"{i + 1}.0": text for i, text in enumerate(option_order[q])}
        for q, key in enumerate(keys)
    }
    options_map.update(trait_maps)
    option_strings: dict[str, str] = {}
    for q, key in enumerate(keys):
        option_strings.update(_option_strings(key, question_strings[key], option_order[q]))
    return GemsLayout(keys, question_strings, options_map, option_strings, responses)


# ------------------------------------------------------------------------------------------ fetching

DOWNLOADABLE = ("twin", "dunning_kruger")


def download_dataset(
    name: str,
    out_dir: str | Path,
    prefix: str | None = None,
    *,
    revision: str | None = None,
    multi_select: str = "first",
) -> None:
    """Fetch ``name`` (``twin`` or ``dunning_kruger``) from the hub and write its GEMS layout.

    A Hugging Face token, where needed, is read by ``huggingface_hub`` from the environment
    (``HF_TOKEN``); it is never passed through config or logs.
    """
    if name not in DOWNLOADABLE:
        raise GemsflowError(
            f"no Hugging Face source for dataset {name!r}; use one of {DOWNLOADABLE}"
        )
    try:
        from datasets import load_dataset

        if name == "twin":
            source = load_dataset(TWIN_REPO, TWIN_CONFIG, split=TWIN_SPLIT, revision=revision)
            layout = twin_layout(tqdm(source[TWIN_COLUMN], desc="Twin personas"), multi_select)
        else:
            # Psych-101 holds many experiments; streaming avoids storing all of them.
            source = load_dataset(
                PSYCH101_REPO, split=PSYCH101_SPLIT, streaming=True, revision=revision
            )
            texts = [
                row["text"]
                for row in tqdm(source, desc="Psych-101 rows")
                if row["experiment"] == DK_EXPERIMENT
            ]
            layout = dunning_kruger_layout(texts)
    except (OSError, ConnectionError) as exc:
        raise GemsflowError(
            f"downloading {name} from the Hugging Face hub failed ({exc.__class__.__name__}: {exc}). "
            "Without a network, copy the GEMS files of the dataset into gems_data_dir instead"
        ) from exc
    write_gems_layout(layout, out_dir, prefix or name)
    log.info(
        "wrote %s to %s: %d individuals, %d questions",
        name,
        out_dir,
        len(layout.responses),
        len(layout.question_keys),
    )
