"""Train/validation/test splits for the three settings.

* individual axis (settings 1 and 2): people are split; validation and test people reveal a fraction
  ``eval_partial_ratio`` of their answers to training (setting 1: 0.40, setting 2: 0).
* question axis (setting 3): questions are split; every answer goes to its question's part.

The individual-axis split reproduces the reference implementation draw for draw (same legacy NumPy
generator, same order of shuffles), so with the same seed the same people and answers are held out. The
question-axis split sorts question keys before shuffling, which fixes the reference's dependence on
Python's string hashing (its split changed with ``PYTHONHASHSEED``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError

# The one encoding of a split's parts: names in order, and each name's code in arrays and tensors.
PARTS = ("train", "val", "test")
EVAL_PARTS = PARTS[1:]
TRAIN, VAL, TEST = range(len(PARTS))
PART_CODE = {part: code for code, part in enumerate(PARTS)}


@dataclass(frozen=True)
class SplitSpec:
    axis: str
    val_ratio: float
    test_ratio: float
    eval_partial_ratio: float = 0.0

    def check(self) -> None:
        if self.axis not in ("individual", "question"):
            raise InputDataError(
                None, "axis", f"unknown split axis {self.axis!r}", "use individual or question"
            )
        for name in ("val_ratio", "test_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InputDataError(None, name, f"{value} is outside [0, 1)", "pick a fraction")
        if 1.0 - self.val_ratio - self.test_ratio <= 0.0:
            raise InputDataError(
                None,
                "val_ratio/test_ratio",
                "nothing is left for training",
                "make val_ratio + test_ratio < 1",
            )
        if not 0.0 <= self.eval_partial_ratio < 1.0:
            raise InputDataError(
                None,
                "eval_partial_ratio",
                f"{self.eval_partial_ratio} is outside [0, 1)",
                "pick a fraction in [0, 1)",
            )
        if self.axis == "question" and self.eval_partial_ratio:
            raise InputDataError(
                None,
                "eval_partial_ratio",
                "only applies to the individual axis",
                "set it to 0 for a question split",
            )


@dataclass(frozen=True)
class IndividualSplit:
    """The individual-axis split in the reference's own order (useful for exact comparisons)."""

    train: list[str]
    val: list[str]
    test: list[str]
    revealed: dict[
        str, list[str]
    ]  # val/test person -> questions revealed to training, in draw order
    held_out: dict[str, list[str]]  # val/test person -> questions to predict, in draw order


def split_individuals(
    answered: dict[str, list[str]], spec: SplitSpec, seed: int
) -> IndividualSplit:
    """``answered``: person -> questions answered, persons in source order, questions sorted."""
    rng = np.random.RandomState(seed)
    people = list(answered)
    rng.shuffle(people)
    n_val = int(len(people) * spec.val_ratio)
    n_test = int(len(people) * spec.test_ratio)
    test, val, train = people[:n_test], people[n_test : n_test + n_val], people[n_test + n_val :]
    revealed, held_out = {}, {}
    for person in val + test:
        questions = list(answered[person])
        rng.shuffle(questions)
        n_revealed = int(len(questions) * spec.eval_partial_ratio)
        revealed[person] = questions[:n_revealed]
        held_out[person] = questions[n_revealed:]
    return IndividualSplit(train, val, test, revealed, held_out)


def split_questions(questions: list[str], spec: SplitSpec, seed: int) -> dict[str, str]:
    """Question -> part. Sorted before shuffling so the result does not depend on hashing."""
    rng = np.random.RandomState(seed)
    order = sorted(set(questions))
    rng.shuffle(order)
    n_val = int(len(order) * spec.val_ratio)
    n_test = int(len(order) * spec.test_ratio)
    part = dict.fromkeys(order[:n_test], "test")
    part.update(dict.fromkeys(order[n_test : n_test + n_val], "val"))
    part.update(dict.fromkeys(order[n_test + n_val :], "train"))
    return part


def make_split(data: SurveyData, spec: SplitSpec, seed: int) -> pd.DataFrame:
    """One row per answered (individual, question): ``individual``, ``question``, ``part``."""
    spec.check()
    responses = data.responses[["individual", "question"]]
    if spec.axis == "question":
        part_of = split_questions(responses["question"].unique().tolist(), spec, seed)
        parts = responses["question"].map(part_of)
    else:
        order = data.individuals["individual"].tolist()
        grouped = responses.groupby("individual", sort=False)["question"].agg(list)
        answered = {p: sorted(grouped[p]) for p in order if p in grouped.index}
        split = split_individuals(answered, spec, seed)
        person_part = dict.fromkeys(split.train, "train")
        person_part.update(dict.fromkeys(split.val, "val"))
        person_part.update(dict.fromkeys(split.test, "test"))
        revealed = pd.MultiIndex.from_tuples(
            [(p, q) for p, qs in split.revealed.items() for q in qs],
            names=["individual", "question"],
        )
        parts = responses["individual"].map(person_part)
        is_revealed = pd.MultiIndex.from_frame(responses).isin(revealed)
        parts = parts.where(~is_revealed, "train")
    table = responses.assign(part=parts.to_numpy()).reset_index(drop=True)
    return table.astype({"individual": "string", "question": "string", "part": "string"})


def require_parts(table: pd.DataFrame, where: str) -> None:
    """Fail at split time, before anything is written, when training or test would be empty (scoring
    an empty test part would only crash later or report a meaningless number)."""
    counts = table["part"].value_counts()
    for part in ("train", "test"):
        if counts.get(part, 0) == 0:
            raise InputDataError(
                where,
                part,
                f"the split has no {part} answers ({len(table)} answers, "
                f"{table['individual'].nunique()} people, {table['question'].nunique()} questions)",
                "use a dataset with more people/questions, or change the setting's val_ratio/test_ratio",
            )


def split_sizes(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Sizes a user checks first: answers, people and questions per part."""
    sizes: dict[str, dict[str, int]] = {}
    for part in PARTS:
        rows = table[table["part"] == part]
        sizes[part] = {
            "answers": len(rows),
            "individuals": int(rows["individual"].nunique()),
            "questions": int(rows["question"].nunique()),
        }
    return sizes


# --- the evaluation panel -------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """A seeded subsample of held-out people (``evaluation.panel``): what methods too slow for the
    whole test set (an LLM on a CPU) are scored on, and what every other method is also scored on, so
    that their rows compare like with like.

    Each part's people are put in one seeded order and the panel takes the first ``n``; a smaller panel
    (the agentic CoT's) is therefore always a prefix of the larger one.
    """

    val_individuals: int
    test_individuals: int
    seed: int = 0

    @classmethod
    def from_config(cls, block: dict | None, dataset: str) -> Panel | None:
        """``evaluation.panel`` with ``panel.datasets.<dataset>`` on top; None when no panel is set."""
        if not block:
            return None
        own = (block.get("datasets") or {}).get(dataset) or {}
        merged = {**block, **own}
        return cls(
            val_individuals=int(merged["val_individuals"]),
            test_individuals=int(merged["test_individuals"]),
            seed=int(merged.get("seed", 0)),
        )

    def smaller(self, individuals: int | None) -> Panel:
        """The prefix of this panel with at most ``individuals`` people per part."""
        if individuals is None:
            return self
        return Panel(
            min(self.val_individuals, individuals),
            min(self.test_individuals, individuals),
            self.seed,
        )

    def sizes(self) -> dict[str, int]:
        return {"val": self.val_individuals, "test": self.test_individuals}

    def individuals(self, split: pd.DataFrame) -> dict[str, list[str]]:
        """The panel's people per held-out part, in panel order."""
        out = {}
        for part, n in self.sizes().items():
            people = np.sort(split.loc[split["part"] == part, "individual"].astype(str).unique())
            order = np.random.default_rng(self.seed).permutation(people)
            out[part] = order[:n].tolist()
        return out

    def restrict(self, split: pd.DataFrame) -> pd.DataFrame:
        """The split with only the panel people's held-out pairs (training pairs all kept)."""
        chosen = self.individuals(split)
        people = split["individual"].astype(str)
        keep = split["part"] == "train"
        for part, members in chosen.items():
            keep |= (split["part"] == part) & people.isin(members)
        return split.loc[keep].reset_index(drop=True)

    def predictions_on(self, predictions: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
        """The rows of a whole-test-set run's predictions that fall on the panel's held-out pairs."""
        keys = ["individual", "question", "part"]
        held = pd.MultiIndex.from_frame(self.restrict(split)[keys].astype(str))
        return predictions[pd.MultiIndex.from_frame(predictions[keys].astype(str)).isin(held)]

    def describe(self, split: pd.DataFrame) -> dict:
        chosen = self.individuals(split)
        return {"seed": self.seed, "individuals": {part: len(p) for part, p in chosen.items()}}
