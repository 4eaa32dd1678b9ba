"""Reader for the GEMS file layout (Twin-2K-500, Dunning–Kruger, the synthetic default, user datasets).

A dataset directory holds ``<prefix>_responses.csv`` (one row per individual: an id column, trait columns,
one column per question with integer option codes, a weight column), ``<prefix>_question_keys.json``,
``<prefix>_question_strings.json``, ``<prefix>_options_map.json`` (question or trait column ->
{code: text}), ``<prefix>_option_strings.json`` (choice key -> text block) and optionally
``<prefix>_question_meta.json`` ({question: {"ordinal": bool}}).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.datasets.strict import (
    option_entries,
    parse_codes,
    parse_weights,
    read_csv_strict,
    read_json_strict,
    require_mapping,
)
from gemsflow.data.survey import SurveyData, Trait, build_options_table, validate
from gemsflow.errors import InputDataError

# The survey-weight column of the GEMS-layout files that gemsflow writes (Twin, Dunning-Kruger, synthetic).
WEIGHT_COLUMN = "WEIGHT_W1"

log = logging.getLogger(__name__)


def _wave(question: str) -> int:
    head, sep, tail = question.rpartition("_W")
    return int(tail) if sep and tail.isdigit() else 1


def ordinal_flags(
    questions: list[str],
    meta: Mapping[str, Any] | None,
    ordinal: str | list[str],
    where: str | Path | None = None,
) -> dict[str, bool]:
    """Which questions have ordered options: a list of keys, "all", "none", or "auto" (the dataset's
    ``<prefix>_question_meta.json``, given as ``meta``; nominal where it says nothing)."""
    if isinstance(ordinal, list):
        unknown = sorted(set(ordinal) - set(questions))
        if unknown:
            raise InputDataError(
                where,
                "ordinal",
                f"{len(unknown)} name(s) are not questions of the dataset, e.g. {unknown[:3]}",
                "list question keys exactly as in the question-keys file (or use auto/all/none)",
            )
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


def _source_files(directory: Path, prefix: str) -> dict[str, Any]:
    """The layout's JSON files, each checked for its shape."""
    paths = {
        kind: directory / f"{prefix}_{kind}.json"
        for kind in (
            "question_keys",
            "question_strings",
            "options_map",
            "option_strings",
            "question_meta",
        )
    }
    kinds = {
        "question_keys": "question keys",
        "question_strings": "question strings",
        "options_map": "options map",
        "option_strings": "option strings",
        "question_meta": "question meta",
    }
    objs: dict[str, Any] = {"paths": paths}
    for key, kind in kinds.items():
        if key == "question_meta" and not paths[key].exists():
            objs[key] = None
            continue
        objs[key] = read_json_strict(paths[key], kind)
        if key != "question_keys":
            require_mapping(objs[key], paths[key], None, f"the {kind} file")
    keys = objs["question_keys"]
    if not isinstance(keys, list) or not all(isinstance(q, str) for q in keys):
        raise InputDataError(
            paths["question_keys"], None, "must be a JSON list of strings", "fix the file"
        )
    dup = [q for q, n in Counter(keys).items() if n > 1]
    if dup:
        raise InputDataError(
            paths["question_keys"], dup[0], "question key listed twice", "list each question once"
        )
    for question, entry in (objs["question_meta"] or {}).items():
        require_mapping(
            entry, paths["question_meta"], question, 'a question-meta entry ({"ordinal": true})'
        )
        if not isinstance(entry.get("ordinal", False), bool):
            raise InputDataError(
                paths["question_meta"],
                question,
                f"ordinal must be true or false, got {entry['ordinal']!r}",
                "use a JSON boolean",
            )
    for choice, text in objs["option_strings"].items():
        if not isinstance(text, str):
            raise InputDataError(
                paths["option_strings"],
                choice,
                f"choice text must be a string, got {type(text).__name__}",
                "write the choice's text block as one string",
            )
    return objs


def _check_columns(
    table: pd.DataFrame, path: Path, id_column: str, questions: list[str], traits, weight_column
) -> None:
    trait_columns = {spec["column"]: trait for trait, spec in traits.items()}
    leaked = sorted(set(trait_columns) & set(questions))
    if leaked:
        raise InputDataError(
            path,
            leaked[0],
            f"column is both a question and the column of trait {trait_columns[leaked[0]]!r}: the "
            "trait would reveal the answer",
            "point the trait at another column or remove the question from the question keys",
        )
    if weight_column in trait_columns or weight_column in questions:
        role = (
            f"the column of trait {trait_columns[weight_column]!r}"
            if weight_column in trait_columns
            else "a question"
        )
        raise InputDataError(
            path,
            weight_column,
            f"the weight column is {role}, not a survey weight",
            "set weight_column to the column that holds each person's weight, or to null to "
            "weigh everyone 1",
        )
    needed = [id_column, *questions, *trait_columns]
    if weight_column:
        needed.append(weight_column)
    for column in needed:
        if column not in table.columns:
            raise InputDataError(
                path,
                column,
                "column missing from the responses table",
                "add the column or fix the dataset's config (question keys, traits, weight_column)",
            )
    if table.empty:
        raise InputDataError(
            path, None, "the table has a header but no people", "add the responses"
        )
    if table[id_column].isna().any() or table[id_column].duplicated().any():
        raise InputDataError(path, id_column, "ids must be present and unique", "fix the id column")


def _responses(
    table: pd.DataFrame,
    path: Path,
    id_column: str,
    questions: list[str],
    options: pd.DataFrame,
    question_options: dict[str, list[tuple[int, str]]],
    options_name: str,
) -> pd.DataFrame:
    """Long table of answered (individual, question, code), each code an option of its question."""
    wide = table[[id_column, *questions]].rename(columns={id_column: "individual"})
    wide.insert(0, "_row", np.arange(len(wide)) + 2)  # CSV line: header is line 1
    long = wide.melt(id_vars=["_row", "individual"], var_name="question", value_name="raw")
    long = long[long["raw"].notna()].reset_index(drop=True)
    codes = parse_codes(
        long["raw"],
        long["individual"],
        long["_row"],
        path,
        long["question"],
        "answers are the integer option codes of the options map; blank the cell when unanswered",
    )
    long = long.assign(code=codes.astype("int64"))
    checked = long.merge(
        options[["question", "code"]].assign(_ok=True), on=["question", "code"], how="left"
    )
    bad = checked["_ok"].isna().to_numpy()
    if bad.any():
        row = checked.loc[bad].iloc[0]
        raise InputDataError(
            path,
            str(row["question"]),
            f"{int(bad.sum())} answer(s) are not options of their question, e.g. row {row['_row']} "
            f"(individual {row['individual']}) answered {row['raw']!r} but the options map lists codes "
            f"{[c for c, _ in question_options[row['question']]]}",
            f"add the code to {options_name} or blank the cell",
        )
    order = {ind: i for i, ind in enumerate(table[id_column])}
    q_order = {q: i for i, q in enumerate(questions)}
    return long.assign(
        _i=long["individual"].map(order), _q=long["question"].map(q_order)
    ).sort_values(["_i", "_q"], kind="stable")


def _trait_values(
    table: pd.DataFrame, path: Path, id_column: str, trait: str, spec, options_map, options_path
) -> tuple[pd.Series, Trait, list[str]]:
    """The trait's per-person label (option-map text, lower-cased), its Trait and notes to report."""
    column = spec["column"]
    if column not in options_map:
        raise InputDataError(
            options_path,
            column,
            f"trait {trait!r} has no value map",
            "add {code: text} for the trait column",
        )
    entries = option_entries(options_map, column, options_path)
    value_map = {code: text.strip().lower() for code, text in entries}
    notes = []
    by_label: dict[str, set[str]] = {}
    for _, text in entries:
        by_label.setdefault(text.strip().lower(), set()).add(text.strip())
    for label, spellings in by_label.items():
        if len(spellings) > 1:
            notes.append(
                f"trait {trait!r} ({column}): labels {sorted(spellings)} differ only in case and are "
                f"one subgroup {label!r}"
            )
    codes = parse_codes(
        table[column],
        table[id_column],
        pd.Series(np.arange(len(table)) + 2),
        path,
        column,
        f"trait cells hold the integer codes of {options_path.name}; blank the cell when unknown",
    )
    values = codes.map(lambda c: value_map.get(int(c)) if pd.notna(c) else None)
    unknown = codes.notna() & values.isna()
    if unknown.any():
        first = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputDataError(
            path,
            column,
            f"row {first + 2} (individual {table[id_column].iloc[first]}): trait code "
            f"{int(codes.iloc[first])} is not in the value map of {column}",
            f"add it to {options_path.name}",
        )
    categories = tuple(dict.fromkeys(value_map.values()))
    return values.astype("string"), Trait(trait, spec.get("description", trait), categories), notes


def _question_options(
    src: Mapping[str, Any], questions: list[str]
) -> tuple[dict[str, list[tuple[int, str]]], list[str]]:
    """Each question's ``[(code, text), ...]``, and the questions left out for having a single option."""
    paths, options_map = src["paths"], src["options_map"]
    question_options: dict[str, list[tuple[int, str]]] = {}
    for question in questions:
        if question not in options_map:
            raise InputDataError(
                paths["options_map"],
                question,
                "question has no entry in the options map",
                "add its options {code: text}",
            )
        question_options[question] = option_entries(options_map, question, paths["options_map"])
        if question not in src["question_strings"]:
            raise InputDataError(
                paths["question_strings"],
                question,
                "question has no text",
                "add the question's text (an empty string is allowed)",
            )
    single = [q for q in questions if len(question_options[q]) == 1]
    return {q: opts for q, opts in question_options.items() if q not in single}, single


def _individuals(
    table: pd.DataFrame,
    path: Path,
    id_column: str,
    weights: pd.Series,
    traits: Mapping[str, Mapping[str, str]],
    src: Mapping[str, Any],
) -> tuple[pd.DataFrame, list[Trait], list[str]]:
    """One row per person (id, wave, weight, a label per trait), the traits, and notes to report."""
    individuals = pd.DataFrame(
        {
            "individual": table[id_column].astype(str).to_numpy(),
            "wave": 1,
            "weight": weights.to_numpy(dtype="float64"),
        }
    )
    trait_list, notes = [], []
    for trait, spec in traits.items():
        values, trait_obj, trait_notes = _trait_values(
            table, path, id_column, trait, spec, src["options_map"], src["paths"]["options_map"]
        )
        individuals[trait] = values.to_numpy()
        trait_list.append(trait_obj)
        notes += trait_notes
    return individuals, trait_list, notes


def _question_table(
    question_options: Mapping[str, list[tuple[int, str]]], src: Mapping[str, Any], ordinal
) -> pd.DataFrame:
    questions = sorted(question_options)
    flags = ordinal_flags(questions, src["question_meta"], ordinal, src["paths"]["question_keys"])
    return pd.DataFrame(
        {
            "question": questions,
            "wave": [_wave(q) for q in questions],
            "text": [str(src["question_strings"][q]) for q in questions],
            "n_options": [len(question_options[q]) for q in questions],
            "ordinal": [flags[q] for q in questions],
        }
    )


def load_gems_layout(
    name: str,
    directory: str | Path,
    prefix: str,
    traits: Mapping[str, Mapping[str, str]],
    *,
    id_column: str,
    weight_column: str | None,
    min_answers: int,
    ordinal: str | list[str],
) -> SurveyData:
    """Read a GEMS-layout dataset into canonical form.

    ``traits`` maps a trait name to ``{"column": <responses column>, "description": <text>}``; the
    trait's value is the option-map text of the code (lower-cased), so subgroups are readable and
    every individual with a code belongs to a real subgroup (the reference's Dunning–Kruger vocabulary
    mismatch cannot happen). Questions with a single option are left out (every prediction would be
    right) and logged; questions nobody answered are logged.
    """
    directory = Path(directory)
    responses_path = directory / f"{prefix}_responses.csv"
    if not responses_path.exists():
        raise InputDataError(
            responses_path,
            None,
            "responses table not found",
            "check the dataset's dir and prefix in the config (gems_data_dir for twin/dunning_kruger)",
        )
    src = _source_files(directory, prefix)
    paths = src["paths"]
    questions = sorted(src["question_keys"])
    table = read_csv_strict(responses_path)
    _check_columns(table, responses_path, id_column, questions, traits, weight_column)

    question_options, single = _question_options(src, questions)
    notes = [f"question {q} has a single option and is left out (trivially right)" for q in single]
    questions = sorted(question_options)
    options = build_options_table(question_options, src["question_strings"], src["option_strings"])
    long = _responses(
        table,
        responses_path,
        id_column,
        questions,
        options,
        question_options,
        paths["options_map"].name,
    )
    weights = (
        parse_weights(table, weight_column, id_column, responses_path)
        if weight_column
        else pd.Series(1.0, index=table[id_column].to_numpy())
    )
    responses = _weighted_responses(long, weights)
    individuals, trait_list, trait_notes = _individuals(
        table, responses_path, id_column, weights, traits, src
    )
    notes += trait_notes

    individuals, responses, filter_log = _keep_min_answers(
        individuals, responses, min_answers, responses_path
    )
    unanswered = sorted(set(questions) - set(responses["question"]))
    notes += [f"question {q} has no answers (after min_answers)" for q in unanswered]
    for note in notes:
        log.warning("%s: %s", name, note)
    filter_log.update(excluded_questions=single, unanswered_questions=unanswered, notes=notes)
    question_table = _question_table(question_options, src, ordinal)
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


def _weighted_responses(long: pd.DataFrame, weights: pd.Series) -> pd.DataFrame:
    """The canonical responses table: each answer carries its individual's weight."""
    return pd.DataFrame(
        {
            "individual": long["individual"].astype(str).to_numpy(),
            "question": long["question"].to_numpy(),
            "code": long["code"].to_numpy(dtype="int64"),
            "weight": long["individual"].map(weights).to_numpy(dtype="float64"),
        }
    )


def _keep_min_answers(
    individuals: pd.DataFrame, responses: pd.DataFrame, min_answers: int, responses_path: Path
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """:func:`filter_min_answers`, refusing a filter that would leave nobody."""
    individuals, responses, filter_log = filter_min_answers(individuals, responses, min_answers)
    if individuals.empty:
        raise InputDataError(
            responses_path,
            "min_answers",
            f"no individual has {min_answers} or more answers, so the dataset would be empty",
            "lower min_answers in the dataset's config entry or add responses",
        )
    return individuals, responses, filter_log


def filter_min_answers(
    individuals: pd.DataFrame, responses: pd.DataFrame, min_answers: int, scope: str = "wave"
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Drop individuals with too few answers and return what went, per wave.

    The one min-answers filter of every adapter (GEMS layout, OpinionQA).

    ``scope="wave"`` counts the answers of each (respondent, wave) individual; ``"pooled"`` counts a
    respondent's answers over all waves, so waves with few questions keep their people.
    """
    counts = responses.groupby("individual").size()
    answered = individuals["individual"].map(counts).fillna(0).astype("int64")
    if scope == "pooled":
        respondent = individuals["individual"].str.rpartition("_W")[0]
        answered = answered.groupby(respondent).transform("sum")
    keep = (answered >= min_answers).to_numpy()
    waves: dict[str, dict[str, int]] = {}
    for wave, kept in pd.Series(keep).groupby(individuals["wave"].to_numpy(), sort=True):
        before, removed = len(kept), int((~kept).sum())
        waves[str(wave)] = {"individuals_before": before, "removed": removed}
        if before and removed == before:
            log.warning(
                "wave %s loses all %d individuals: each has fewer than %d answers (scope %s); "
                "lower min_answers or use min_answers_scope: pooled to keep it",
                wave,
                before,
                min_answers,
                scope,
            )
        elif removed:
            log.info(
                "wave %s: %d of %d individuals removed (< %d answers, scope %s)",
                wave,
                removed,
                before,
                min_answers,
                scope,
            )
    kept_ids = set(individuals.loc[keep, "individual"])
    filter_log = {
        "min_answers": int(min_answers),
        "scope": scope,
        "removed_individuals": int((~keep).sum()),
        "waves": waves,
    }
    return individuals.loc[keep], responses[responses["individual"].isin(kept_ids)], filter_log
