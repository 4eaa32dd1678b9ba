"""Zero-shot and few-shot prompts, one record per (individual, question) pair of a split part.

Few-shot examples are the individual's own training answers whose questions are most similar to the target
question (cosine similarity of question text embeddings). The target question itself is never an example
(it is excluded by identity, not by assuming it ranks first), and when the pool is smaller than ``k`` the
prompt simply carries fewer examples (``k=0`` means none: the reference's ``[-0:]`` slice bug cannot occur).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gemsflow.data.splits import PARTS, Panel
from gemsflow.data.survey import SurveyData, join_answers, letters
from gemsflow.errors import InputDataError
from gemsflow.methods.llm import templates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptStyle:
    """``zeroshot`` or ``fewshot<k>``."""

    k: int

    @property
    def name(self) -> str:
        return "zeroshot" if self.k == 0 else f"fewshot{self.k}"

    @classmethod
    def parse(cls, name: str) -> PromptStyle:
        if name == "zeroshot":
            return cls(0)
        if name.startswith("fewshot") and name[len("fewshot") :].isdigit():
            k = int(name[len("fewshot") :])
            if k > 0:
                return cls(k)
        raise InputDataError(
            None,
            "style",
            f"unknown prompt style {name!r}",
            "use 'zeroshot' or 'fewshot<k>' with k >= 1",
        )


def persona_texts(data: SurveyData, header: bool = True) -> dict[str, str]:
    """Individual -> persona block, traits in the dataset's trait order, missing values left out.

    ``header=False`` drops the answer-as-this-person instruction (the agentic CoT frames the profile itself).
    """
    frame = data.individuals
    out = {}
    descriptions = [
        (t.name, t.description or t.name) for t in data.traits if t.name in frame.columns
    ]
    for row in frame.itertuples(index=False):
        values = row._asdict()
        lines = [
            (description, str(values[name]))
            for name, description in descriptions
            if values[name] is not None and not pd.isna(values[name]) and str(values[name]).strip()
        ]
        out[str(values["individual"])] = templates.persona_block(
            str(values["individual"]), lines, header
        )
    return out


def display_order(
    n_options: int, individual: str, question: str, seed: int, shuffle: bool
) -> list[int]:
    """Positions of the options in the order they are shown.

    With ``shuffle`` the permutation depends only on (seed, individual, question), so a pair is displayed
    the same way in every prompt that contains it, whatever order the prompts are built in.
    """
    if not shuffle:
        return list(range(n_options))
    key = zlib.crc32(f"{seed}\x1f{individual}\x1f{question}".encode())
    return np.random.default_rng(key).permutation(n_options).tolist()


def select_examples(
    targets: pd.DataFrame,
    pool: pd.DataFrame,
    question_index: dict[str, int],
    question_states: torch.Tensor,
    k: int,
    chunk: int = 4096,
) -> list[list[str]]:
    """For each target (individual, question), the ``k`` most similar questions from the individual's pool.

    Returned lists run from least to most similar, so the most similar example sits next to the target.
    ``pool`` holds the individuals' training (individual, question) pairs. Vectorised over targets.
    """
    if k == 0 or targets.empty:
        return [[] for _ in range(len(targets))]
    missing = sorted(set(targets["question"]).union(pool["question"]) - set(question_index))
    if missing:
        raise InputDataError(
            None,
            "question_states",
            f"no text embedding for question {missing[0]!r}",
            "rebuild the text embeddings for this dataset",
        )
    people = {p: i for i, p in enumerate(pd.unique(targets["individual"]))}
    n_q = len(question_index)
    answered = torch.zeros(len(people), n_q, dtype=torch.bool)
    in_pool = pool[pool["individual"].isin(people)]
    answered[
        torch.tensor(in_pool["individual"].map(people).to_numpy(dtype="int64"), dtype=torch.long),
        torch.tensor(
            in_pool["question"].map(question_index).to_numpy(dtype="int64"), dtype=torch.long
        ),
    ] = True
    unit = torch.nn.functional.normalize(question_states.float(), dim=1)
    similarity = unit @ unit.T
    person_idx = torch.tensor(
        targets["individual"].map(people).to_numpy(dtype="int64"), dtype=torch.long
    )
    question_idx = torch.tensor(
        targets["question"].map(question_index).to_numpy(dtype="int64"), dtype=torch.long
    )
    keys = np.array(list(question_index), dtype=object)
    k_eff = min(k, n_q)
    out: list[list[str]] = []
    for start in range(0, len(targets), chunk):
        q = question_idx[start : start + chunk]
        allowed = answered[person_idx[start : start + chunk]]
        allowed[torch.arange(len(q)), q] = False
        scores = similarity[q].masked_fill(~allowed, float("-inf"))
        top_scores, top_idx = torch.topk(scores, k_eff, dim=1)
        n_valid = torch.isfinite(top_scores).sum(dim=1).tolist()
        for row, valid in zip(top_idx.tolist(), n_valid, strict=True):
            out.append(keys[row[:valid][::-1]].tolist())
    return out


def build_prompts(
    data: SurveyData,
    split: pd.DataFrame,
    part: str,
    style: PromptStyle,
    *,
    seed: int,
    shuffle_options: bool = False,
    question_states: torch.Tensor | None = None,
    question_keys: list[str] | None = None,
    max_individuals: int | None = None,
    panel: Panel | None = None,
) -> list[dict]:
    """Prompt records for every pair of ``part`` (of the first ``max_individuals`` sampled individuals;
    of the ``panel``'s people only for a held-out part).

    Each record: ``individual``, ``question``, ``part``, ``codes`` (option codes in displayed order),
    ``letters``, ``label`` (letter of the true answer), ``examples`` (question keys of the few-shot
    examples, least similar first) and ``prompt``.
    """
    if part not in PARTS:
        raise InputDataError(None, "part", f"unknown split part {part!r}", f"use one of {PARTS}")
    targets, pool = _targets_and_pool(data, split, part, seed, max_individuals)
    if panel is not None and part != "train":
        members = set(panel.individuals(split)[part])
        targets = targets[targets["individual"].astype(str).isin(members)].reset_index(drop=True)
    examples = _few_shot_examples(targets, pool, style, question_states, question_keys)
    writer = _PromptWriter(data, pool, seed, shuffle_options)
    records = [
        writer.record(row, chosen, part)
        for row, chosen in zip(targets.itertuples(index=False), examples, strict=True)
    ]
    log.info(
        "%s prompts (%s, %s): %d records, %d individuals, mean %.2f examples",
        part,
        style.name,
        "shuffled options" if shuffle_options else "source option order",
        len(records),
        targets["individual"].nunique(),
        float(np.mean([len(e) for e in examples])) if examples else 0.0,
    )
    return records


def _targets_and_pool(
    data: SurveyData,
    split: pd.DataFrame,
    part: str,
    seed: int,
    max_individuals: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The answered pairs of ``part`` (of a seeded sample of ``max_individuals`` people) and the
    training answers the few-shot examples come from."""
    answers = join_answers(split, data.responses, source="split.parquet")
    targets = answers[answers["part"] == part]
    targets = targets[["individual", "question", "code"]].reset_index(drop=True)
    if max_individuals is not None:
        people = np.sort(pd.unique(targets["individual"]).astype(str))
        if len(people) > max_individuals:
            keep = np.random.default_rng(seed).choice(people, max_individuals, replace=False)
            targets = targets[targets["individual"].isin(set(keep))].reset_index(drop=True)
    pool = answers[answers["part"] == "train"][["individual", "question", "code"]]
    return targets, pool


def _few_shot_examples(
    targets: pd.DataFrame,
    pool: pd.DataFrame,
    style: PromptStyle,
    question_states: torch.Tensor | None,
    question_keys: list[str] | None,
) -> list[list[str]]:
    """The example questions of every target (none for zero-shot)."""
    if style.k == 0:
        return [[] for _ in range(len(targets))]
    if question_states is None or question_keys is None:
        raise InputDataError(
            None,
            "question_states",
            "few-shot prompts need question embeddings",
            "pass a text embedding file",
        )
    index = {q: i for i, q in enumerate(question_keys)}
    return select_examples(targets, pool, index, question_states, style.k)


class _PromptWriter:
    """Writes one prompt record: persona, answered examples, then the target question."""

    def __init__(self, data: SurveyData, pool: pd.DataFrame, seed: int, shuffle: bool):
        self.seed, self.shuffle = seed, shuffle
        self.q_text = dict(zip(data.questions["question"], data.questions["text"], strict=True))
        self.opt_codes: dict[str, list[int]] = {}
        self.opt_texts: dict[str, list[str]] = {}
        for question, group in data.options.groupby("question", sort=False):
            self.opt_codes[question] = group["code"].astype(int).tolist()
            self.opt_texts[question] = group["text"].astype(str).tolist()
        self.personas = persona_texts(data)
        self.pool_code = dict(
            zip(
                zip(pool["individual"], pool["question"], strict=True),
                pool["code"].astype(int),
                strict=True,
            )
        )

    def shown(self, individual: str, question: str) -> tuple[list[int], list[str]]:
        """Option codes and texts of a question in the order this individual sees them."""
        codes, texts = self.opt_codes[question], self.opt_texts[question]
        order = display_order(len(codes), individual, question, self.seed, self.shuffle)
        return [codes[i] for i in order], [texts[i] for i in order]

    def record(self, row, chosen: list[str], part: str) -> dict:
        individual, question = str(row.individual), str(row.question)
        blocks = []
        for ex in chosen:
            codes, texts = self.shown(individual, ex)
            marks = letters(len(codes))
            answer = codes.index(self.pool_code[(individual, ex)])
            blocks.append(templates.answered_block(self.q_text[ex], texts, marks, answer))
        codes, texts = self.shown(individual, question)
        marks = letters(len(codes))
        return {
            "individual": individual,
            "question": question,
            "part": part,
            "codes": codes,
            "letters": marks,
            "label": marks[codes.index(int(row.code))],
            "examples": chosen,
            "prompt": templates.assemble(
                self.personas[individual],
                blocks,
                templates.question_block(self.q_text[question], texts, marks),
            ),
        }
