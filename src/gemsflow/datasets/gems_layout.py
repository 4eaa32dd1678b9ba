"""Reader for the GEMS file layout (Twin-2K-500, Dunning–Kruger, the synthetic default, user datasets).

A dataset directory holds ``<prefix>_responses.csv`` (one row per individual: an id column, trait columns,
one column per question with integer option codes, a weight column), ``<prefix>_question_keys.json``,
``<prefix>_question_strings.json``, ``<prefix>_options_map.json`` (question or trait column ->
{code: text}), ``<prefix>_option_strings.json`` (choice key -> text block) and optionally
``<prefix>_question_meta.json`` ({question: {"ordinal": bool}}).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.survey import SurveyData, Trait, build_options_table, validate

log = logging.getLogger(__name__)


def _read_json(path: Path, kind: str) -> Any:
    if not path.exists():
        raise InputDataError(
            path, None, f"{kind} file not found", "check the dataset's dir and prefix in the config"
        )
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputDataError(
            path, None, f"not valid JSON ({exc.msg} at line {exc.lineno})", "repair the file"
        ) from exc


def _code(key: str, path: Path, field: str) -> int:
    """Option-map keys are written as "1.0" or "7"; codes are integers."""
    try:
        value = float(key)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        raise InputDataError(
            path, field, f"option code {key!r} is not an integer", "use integer codes such as '1.0'"
        )
    return int(value)


def _wave(question: str) -> int:
    head, sep, tail = question.rpartition("_W")
    return int(tail) if sep and tail.isdigit() else 1


def ordinal_flags(
    questions: list[str], meta: Mapping[str, Any] | None, ordinal: str | list[str]
) -> dict[str, bool]:
    """Which questions have ordered options: a list of keys, "all", "none", or "auto" (the dataset's
    ``<prefix>_question_meta.json``, given as ``meta``; nominal where it says nothing)."""
    if isinstance(ordinal, list):
        chosen = set(ordinal)
        return {q: q in chosen for q in questions}
    if ordinal == "all":
        return dict.fromkeys(questions, True)
    if ordinal == "none":
        return dict.fromkeys(questions, False)
    if ordinal != "auto":
        raise InputDataError(
            None, "ordinal", f"unknown value {ordinal!r}", "use auto, all, none or a list of keys"
        )
    meta = meta or {}
    return {q: bool(meta.get(q, {}).get("ordinal", False)) for q in questions}


def load_gems_layout(
    name: str,
    directory: str | Path,
    prefix: str,
    traits: Mapping[str, Mapping[str, str]],
    *,
    id_column: str = "QKEY",
    weight_column: str | None = "WEIGHT_W1",
    min_answers: int = 0,
    ordinal: str | list[str] = "auto",
) -> SurveyData:
    """Read a GEMS-layout dataset into canonical form.

    ``traits`` maps a trait name to ``{"column": <responses column>, "description": <text>}``; the
    trait's value is the option-map text of the code (lower-cased), so subgroups are readable and
    every individual with a code belongs to a real subgroup (the reference's Dunning–Kruger vocabulary
    mismatch cannot happen).
    """
    directory = Path(directory)
    files = {
        kind: directory / f"{prefix}_{kind}"
        for kind in (
            "responses.csv",
            "question_keys.json",
            "question_strings.json",
            "options_map.json",
            "option_strings.json",
        )
    }
    responses_path = files["responses.csv"]
    if not responses_path.exists():
        raise InputDataError(
            responses_path,
            None,
            "responses table not found",
            "check the dataset's dir and prefix in the config (gems_data_dir for twin/dunning_kruger)",
        )
    question_keys = _read_json(files["question_keys.json"], "question keys")
    question_strings = _read_json(files["question_strings.json"], "question strings")
    options_map = _read_json(files["options_map.json"], "options map")
    option_strings = _read_json(files["option_strings.json"], "option strings")
    meta_path = directory / f"{prefix}_question_meta.json"
    question_meta = _read_json(meta_path, "question meta") if meta_path.exists() else None

    if not isinstance(question_keys, list) or not all(isinstance(q, str) for q in question_keys):
        raise InputDataError(
            files["question_keys.json"], None, "must be a JSON list of strings", "fix the file"
        )
    questions = sorted(set(question_keys))

    table = pd.read_csv(responses_path, dtype={id_column: str}, low_memory=False)
    needed = [id_column, *questions, *(t["column"] for t in traits.values())]
    if weight_column:
        needed.append(weight_column)
    for column in needed:
        if column not in table.columns:
            raise InputDataError(
                responses_path,
                column,
                "column missing from the responses table",
                "add the column or fix the dataset's config (question keys, traits, weight_column)",
            )
    if table[id_column].isna().any() or table[id_column].duplicated().any():
        raise InputDataError(
            responses_path, id_column, "ids must be present and unique", "fix the id column"
        )

    # Options, in the option map's order (which defines the letters).
    question_options: dict[str, list[tuple[int, str]]] = {}
    for question in questions:
        if question not in options_map:
            raise InputDataError(
                files["options_map.json"],
                question,
                "question has no entry in the options map",
                "add its options {code: text}",
            )
        entries = options_map[question]
        question_options[question] = [
            (_code(k, files["options_map.json"], question), str(v)) for k, v in entries.items()
        ]
        if not question_options[question]:
            raise InputDataError(
                files["options_map.json"], question, "question has no options", "add its options"
            )
    for question in questions:
        if question not in question_strings:
            raise InputDataError(
                files["question_strings.json"],
                question,
                "question has no text",
                "add the question's text (an empty string is allowed)",
            )
    options = build_options_table(question_options, question_strings, option_strings)

    # Responses: long format, validated against the option map.
    wide = table[[id_column, *questions]].rename(columns={id_column: "individual"})
    long = wide.melt(id_vars="individual", var_name="question", value_name="raw").dropna(
        subset=["raw"]
    )
    raw = pd.to_numeric(long["raw"], errors="coerce")
    non_integer = raw.isna() | (raw != np.floor(raw))
    valid_codes = options[["question", "code"]]
    long = long.assign(code=raw.where(~non_integer, -1).astype("int64"))
    checked = long.merge(valid_codes.assign(_ok=True), on=["question", "code"], how="left")
    bad = checked["_ok"].isna().to_numpy()
    if bad.any():
        row = checked.loc[bad].iloc[0]
        raise InputDataError(
            responses_path,
            str(row["question"]),
            f"{int(bad.sum())} answer(s) are not options of their question, e.g. individual "
            f"{row['individual']} answered {row['raw']!r} but the options map lists codes "
            f"{[c for c, _ in question_options[row['question']]]}",
            f"add the code to {files['options_map.json'].name} or blank the cell",
        )
    weights = (
        table.set_index(id_column)[weight_column].astype("float64")
        if weight_column
        else pd.Series(1.0, index=table[id_column])
    )
    order = {ind: i for i, ind in enumerate(table[id_column])}
    q_order = {q: i for i, q in enumerate(questions)}
    long = long.assign(
        _i=long["individual"].map(order), _q=long["question"].map(q_order)
    ).sort_values(["_i", "_q"], kind="stable")
    responses = pd.DataFrame(
        {
            "individual": long["individual"].astype(str).to_numpy(),
            "question": long["question"].to_numpy(),
            "code": long["code"].to_numpy(),
            "weight": long["individual"].map(weights).fillna(0.0).to_numpy(dtype="float64"),
        }
    )

    # Traits: code -> option-map text.
    trait_list = []
    individuals = pd.DataFrame(
        {
            "individual": table[id_column].astype(str).to_numpy(),
            "wave": 1,
            "weight": weights.to_numpy(dtype="float64"),
        }
    )
    for trait, spec in traits.items():
        column = spec["column"]
        if column not in options_map:
            raise InputDataError(
                files["options_map.json"],
                column,
                f"trait {trait!r} has no value map",
                "add {code: text} for the trait column",
            )
        value_map = {
            _code(k, files["options_map.json"], column): str(v).strip().lower()
            for k, v in options_map[column].items()
        }
        codes = pd.to_numeric(table[column], errors="coerce")
        values = codes.map(lambda c, m=value_map: m.get(int(c)) if pd.notna(c) else None)
        unknown = codes.notna() & values.isna()
        if unknown.any():
            raise InputDataError(
                responses_path,
                column,
                f"trait code {codes[unknown].iloc[0]!r} is not in the value map of {column}",
                f"add it to {files['options_map.json'].name}",
            )
        individuals[trait] = values.astype("string").to_numpy()
        categories = list(dict.fromkeys(value_map.values()))
        trait_list.append(Trait(trait, spec.get("description", trait), tuple(categories)))

    individuals, responses, filter_log = filter_min_answers(individuals, responses, min_answers)
    flags = ordinal_flags(questions, question_meta, ordinal)
    question_table = pd.DataFrame(
        {
            "question": questions,
            "wave": [_wave(q) for q in questions],
            "text": [str(question_strings[q]) for q in questions],
            "n_options": [len(question_options[q]) for q in questions],
            "ordinal": [flags[q] for q in questions],
        }
    )
    data = SurveyData(
        name=name,
        source=f"gems:{directory}",
        individuals=individuals.reset_index(drop=True),
        questions=question_table,
        options=options,
        responses=responses.reset_index(drop=True),
        traits=tuple(trait_list),
        filter_log=filter_log,
    )
    validate(data)
    return data


def filter_min_answers(
    individuals: pd.DataFrame, responses: pd.DataFrame, min_answers: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Drop individuals with fewer than ``min_answers`` answers, per wave, and say what went."""
    counts = responses.groupby("individual").size()
    answered = individuals["individual"].map(counts).fillna(0).astype(int)
    keep = answered >= min_answers
    per_wave = {}
    for wave, group in individuals.assign(_keep=keep.to_numpy()).groupby("wave"):
        removed = int((~group["_keep"]).sum())
        per_wave[str(wave)] = {"individuals_before": len(group), "removed": removed}
        if removed == len(group):
            log.warning(
                "wave %s: all %d individuals have fewer than %d answers and are removed",
                wave,
                len(group),
                min_answers,
            )
        elif removed:
            log.info(
                "wave %s: %d of %d individuals removed (< %d answers)",
                wave,
                removed,
                len(group),
                min_answers,
            )
    kept_ids = set(individuals.loc[keep.to_numpy(), "individual"])
    log_entry = {
        "min_answers": int(min_answers),
        "removed_individuals": int((~keep).sum()),
        "waves": per_wave,
    }
    return (
        individuals.loc[keep.to_numpy()],
        responses[responses["individual"].isin(kept_ids)],
        log_entry,
    )
