"""The GEMS heterogeneous graph of one (setting, dataset, split seed), built once and cached.

Node types: ``individual`` (one per person of the split), ``choice`` (one per option of each question in
the graph) and ``subgroup`` (one per category of each trait). Edges: an individual is linked to the
choice it picked for every answer the graph holds, and to the subgroup of each of its trait values; the
model mirrors both relations.

Every answer of the graph carries a *role*: ``TRAIN`` answers are the pool that training masks into
message-passing and supervision edges (and, all together, the message-passing graph of evaluation);
``VAL`` and ``TEST`` answers are prediction targets and never enter any message-passing graph.

Setting 3 (new questions, ``new_questions: true``) differs: only training questions become choice nodes,
the answers to the split's validation and test questions are dropped entirely (they belong to the mapping
stage), and a seeded share of each individual's training answers becomes ``VAL`` (imputation validation
used for the GNN's own model selection).

The bundle is a plain dict of tensors, strings and numbers so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from gemsflow.data.splits import PART_CODE, TRAIN, VAL
from gemsflow.data.survey import SurveyData, join_answers
from gemsflow.errors import InputDataError

FORMAT = "gemsflow.graph/1"


def fingerprint(*parts: Any) -> str:
    """SHA-1 over data frames (content, not memory layout) and JSON-able objects, in order."""
    digest = hashlib.sha1()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            digest.update(",".join(map(str, part.columns)).encode())
            digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _index_of(values: pd.Series, universe: list[str], what: str, source: str) -> np.ndarray:
    lookup = pd.Index(universe)
    idx = lookup.get_indexer(values.astype(str))
    if (idx < 0).any():
        bad = values.iloc[int(np.flatnonzero(idx < 0)[0])]
        raise InputDataError(
            source,
            what,
            f"{what} {bad!r} is not in the dataset",
            "rebuild the split from this dataset",
        )
    return idx


def _imputation_holdout(individual: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mark ``ceil``-style ``n - floor(n * (1 - fraction))`` random answers of every individual."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(individual)), individual))
    sorted_ind = individual[order]
    starts = np.flatnonzero(np.r_[True, sorted_ind[1:] != sorted_ind[:-1]])
    counts = np.diff(np.r_[starts, len(sorted_ind)])
    rank = np.arange(len(sorted_ind)) - np.repeat(starts, counts)
    n_out = counts - np.floor(counts * (1.0 - fraction)).astype(np.int64)
    held = np.zeros(len(individual), dtype=bool)
    held[order] = rank < np.repeat(n_out, counts)
    return held


def build_graph(
    data: SurveyData,
    split: pd.DataFrame,
    graph_config: dict[str, Any],
    *,
    setting: str,
    seed: int,
    split_source: str = "split.parquet",
) -> dict[str, Any]:
    """Build the graph bundle of one split (see the module docstring for what goes in).

    ``graph_config`` is what :func:`gemsflow.config.graph_config` resolves for the (dataset, setting):
    ``graph`` (the graph options) and ``setting`` (the setting's training regime, ``new_questions``
    included). The workflow passes it as the rule's ``params.graph_config``.
    """
    setting_config, options_config = graph_config["setting"], graph_config["graph"]
    _check_split(split, split_source)
    new_questions = bool(setting_config.get("new_questions", False))

    answers = split[["individual", "question", "part"]].astype({"part": str})
    answers = join_answers(answers, data.responses, source=split_source)

    # Individuals keep dataset order; every person of the split gets a node (setting 2/3 targets too).
    in_split = set(answers["individual"])
    people = data.individuals.loc[data.individuals["individual"].astype(str).isin(in_split)]
    individuals = people["individual"].astype(str).tolist()

    options = data.options.astype({"question": str})
    if new_questions:
        answers, options = _training_questions_only(answers, options, split_source)
    options = options.reset_index(drop=True)
    questions = list(dict.fromkeys(options["question"]))
    choice_question, choice_position, question_choices = _choice_tables(options, questions)
    ind_idx, q_idx, choice_idx = _answer_indices(
        answers, options, individuals, questions, split_source
    )
    role = answers["part"].map(PART_CODE).to_numpy(np.int64)
    if new_questions:
        fraction = float(setting_config.get("imputation_val_fraction", 0.05))
        role = np.where(_imputation_holdout(ind_idx, fraction, seed), VAL, TRAIN)

    subgroups, trait_codes, membership = _trait_tables(
        data, people, len(individuals), options_config.get("subgroups", True)
    )
    key = fingerprint(
        data.individuals,
        data.options,
        data.responses,
        split,
        setting,
        setting_config,
        options_config,
        seed,
    )
    return {
        "format": FORMAT,
        "key": key,
        "dataset": data.name,
        "setting": setting,
        "seed": int(seed),
        "new_questions": new_questions,
        "individuals": individuals,
        "questions": questions,
        "choices": options["choice"].astype(str).tolist(),
        "subgroups": subgroups,
        "choice_question": torch.from_numpy(choice_question.astype(np.int64)),
        "choice_position": torch.from_numpy(choice_position),
        "choice_code": torch.from_numpy(options["code"].to_numpy(np.int64, copy=True)),
        "question_choices": torch.from_numpy(question_choices),
        "trait_codes": torch.from_numpy(trait_codes),
        "trait_sizes": [len(trait.categories) for trait in data.traits],
        "membership": torch.from_numpy(membership),
        "answer_individual": torch.from_numpy(ind_idx.astype(np.int64)),
        "answer_question": torch.from_numpy(q_idx.astype(np.int64)),
        "answer_choice": torch.from_numpy(choice_idx.astype(np.int64)),
        "answer_role": torch.from_numpy(role.astype(np.int64)),
    }


def _training_questions_only(
    answers: pd.DataFrame, options: pd.DataFrame, split_source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Setting 3: the answers and options of the training questions; the held-out questions belong
    to the mapping stage (no node, no edge, no answer)."""
    train_questions = set(answers.loc[answers["part"] == "train", "question"])
    eval_questions = set(answers.loc[answers["part"] != "train", "question"])
    overlap = train_questions & eval_questions
    if overlap:
        raise InputDataError(
            split_source,
            "part",
            f"question {sorted(overlap)[0]!r} is both a training and a held-out question",
            "setting 3 needs a question-axis split",
        )
    answers = answers.loc[answers["part"] == "train"].reset_index(drop=True)
    return answers, options.loc[options["question"].isin(train_questions)]


def _choice_tables(
    options: pd.DataFrame, questions: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each choice's question and option position, and the (question, position) -> choice table
    (-1 where a question has fewer options)."""
    choice_question = _index_of(options["question"], questions, "question", "options")
    choice_position = options["position"].to_numpy(np.int64, copy=True)
    max_options = int(choice_position.max()) + 1 if len(options) else 0
    question_choices = np.full((len(questions), max_options), -1, dtype=np.int64)
    question_choices[choice_question, choice_position] = np.arange(len(options))
    return choice_question, choice_position, question_choices


def _answer_indices(
    answers: pd.DataFrame,
    options: pd.DataFrame,
    individuals: list[str],
    questions: list[str],
    split_source: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node indices of every answer: its individual, its question and the choice it picked."""
    ind_idx = _index_of(answers["individual"], individuals, "individual", split_source)
    q_idx = _index_of(answers["question"], questions, "question", split_source)
    code_lookup = pd.MultiIndex.from_arrays([options["question"], options["code"].astype(np.int64)])
    choice_idx = code_lookup.get_indexer(
        pd.MultiIndex.from_arrays([answers["question"], answers["code"].astype(np.int64)])
    )
    if (choice_idx < 0).any():
        raise InputDataError(
            "responses",
            "code",
            "an answer code is not an option of its question",
            "rebuild the dataset",
        )
    return ind_idx, q_idx, choice_idx


def _check_split(split: pd.DataFrame, split_source: str) -> None:
    """The split has the pair columns and only the parts train, val and test."""
    missing = {"individual", "question", "part"} - set(split.columns)
    if missing:
        raise InputDataError(
            split_source,
            sorted(missing)[0],
            "column missing",
            "rebuild the split (gemsflow.data.splits)",
        )
    bad_parts = set(split["part"].astype(str)) - set(PART_CODE)
    if bad_parts:
        raise InputDataError(
            split_source,
            "part",
            f"unknown part {sorted(bad_parts)[0]!r}",
            "use only train, val and test",
        )


def _trait_tables(
    data: SurveyData, people: pd.DataFrame, n_individuals: int, with_subgroups: bool
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Subgroup node names, each individual's category code per trait (-1: missing), and the
    individual -> subgroup membership edges (none when subgroups are switched off)."""
    subgroups: list[str] = []
    member_ind: list[np.ndarray] = []
    member_sub: list[np.ndarray] = []
    trait_codes = np.full((n_individuals, len(data.traits)), -1, dtype=np.int64)
    for t, trait in enumerate(data.traits):
        values = pd.Categorical(
            people[trait.name].astype(object), categories=list(trait.categories)
        )
        codes = np.asarray(values.codes, dtype=np.int64)
        trait_codes[:, t] = codes
        if with_subgroups:
            has = codes >= 0
            member_ind.append(np.flatnonzero(has))
            member_sub.append(codes[has] + len(subgroups))
            subgroups += [f"{trait.name}={category}" for category in trait.categories]
    membership = np.stack(
        [
            np.concatenate(member_ind or [np.zeros(0, np.int64)]),
            np.concatenate(member_sub or [np.zeros(0, np.int64)]),
        ]
    ).astype(np.int64)
    return subgroups, trait_codes, membership


def check_bundle(bundle: dict[str, Any], source: str) -> None:
    if bundle.get("format") != FORMAT:
        raise InputDataError(
            source,
            "format",
            f"graph format {bundle.get('format')!r}, expected {FORMAT!r}",
            "delete the file and rebuild it with the build_graph rule",
        )


@dataclass(frozen=True)
class Counts:
    individuals: int
    choices: int
    subgroups: int
    answers_by_role: dict[str, int]
    memberships: int


def counts(bundle: dict[str, Any]) -> Counts:
    role = bundle["answer_role"]
    return Counts(
        individuals=len(bundle["individuals"]),
        choices=len(bundle["choices"]),
        subgroups=len(bundle["subgroups"]),
        answers_by_role={name: int((role == code).sum()) for name, code in PART_CODE.items()},
        memberships=int(bundle["membership"].shape[1]),
    )
