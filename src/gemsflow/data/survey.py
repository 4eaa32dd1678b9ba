"""The canonical form of a survey dataset, shared by every stage.

Every adapter (GEMS file layout, Pew ATP ``.sav`` waves, the synthetic generator) produces a
:class:`SurveyData`; every later stage reads only this. On disk it is a directory of four parquet
tables plus ``dataset.json``:

``individuals.parquet``
    ``individual`` (str, the source id, e.g. Twin's QKEY ``"10000001"``), ``wave`` (int),
    ``weight`` (float), then one string column per trait (missing trait value = null).
    Row order is the source order (it feeds the reference-compatible split).
``questions.parquet``
    ``question`` (key), ``wave`` (int), ``text``, ``n_options`` (int), ``ordinal`` (bool: options lie on
    an ordered scale). Sorted by ``question``.
``options.parquet``
    ``question``, ``code`` (int answer code), ``position`` (0-based order of the option within its
    question, which defines the letter), ``letter`` (``A``, ``B``...), ``text``, ``choice`` (the choice-node
    key ``{question}_option_{code}``), ``choice_text`` (the text block "Question ... Answer: X. option" used
    for embeddings and hidden states). Sorted by question, then position.
``responses.parquet``
    ``individual``, ``question``, ``code`` (int), ``weight`` (float). One row per answered
    (individual, question); only codes that are real options of the question.
``dataset.json``
    name, source, trait list (name, description, categories in order), counts, and a log of what the
    min-answers filter removed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gemsflow.errors import InputDataError
from gemsflow.io import read_json, read_parquet, write_json, write_parquet

TABLES = ("individuals", "questions", "options", "responses")

INDIVIDUAL_COLUMNS = ("individual", "wave", "weight")
QUESTION_COLUMNS = ("question", "wave", "text", "n_options", "ordinal")
OPTION_COLUMNS = ("question", "code", "position", "letter", "text", "choice", "choice_text")
RESPONSE_COLUMNS = ("individual", "question", "code", "weight")


@dataclass(frozen=True)
class Trait:
    """A demographic or experimental trait; each of its categories becomes a subgroup."""

    name: str
    description: str
    categories: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "categories": list(self.categories),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Trait:
        return cls(obj["name"], obj["description"], tuple(obj["categories"]))


@dataclass(frozen=True)
class SurveyData:
    name: str
    individuals: pd.DataFrame
    questions: pd.DataFrame
    options: pd.DataFrame
    responses: pd.DataFrame
    traits: tuple[Trait, ...]
    source: str = ""
    filter_log: dict[str, Any] = field(default_factory=dict)

    @property
    def trait_names(self) -> list[str]:
        return [trait.name for trait in self.traits]

    def counts(self) -> dict[str, int]:
        return {
            "individuals": len(self.individuals),
            "questions": len(self.questions),
            "options": len(self.options),
            "responses": len(self.responses),
        }

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for table in TABLES:
            write_parquet(getattr(self, table), directory / f"{table}.parquet")
        # dataset.json last: its presence marks a complete directory.
        write_json(
            {
                "name": self.name,
                "source": self.source,
                "traits": [trait.to_json() for trait in self.traits],
                "counts": self.counts(),
                "filter": self.filter_log,
            },
            directory / "dataset.json",
        )

    @classmethod
    def load(cls, directory: str | Path) -> SurveyData:
        directory = Path(directory)
        meta_path = directory / "dataset.json"
        if not meta_path.exists():
            raise InputDataError(
                meta_path,
                None,
                "canonical dataset is missing or incomplete",
                "build it with the workflow's prepare_dataset rule",
            )
        meta = read_json(meta_path)
        tables = {t: read_parquet(directory / f"{t}.parquet") for t in TABLES}
        return cls(
            name=meta["name"],
            source=meta.get("source", ""),
            traits=tuple(Trait.from_json(t) for t in meta["traits"]),
            filter_log=meta.get("filter", {}),
            **tables,
        )

    def options_of(self) -> dict[str, list[int]]:
        """Question key -> its option codes in position order."""
        return {
            question: group["code"].tolist()
            for question, group in self.options.groupby("question", sort=False)
        }


def letters(n: int) -> list[str]:
    """Answer letters for ``n`` options: A..Z, then AA, AB... for very long option lists."""
    alphabet = string.ascii_uppercase
    out = []
    for i in range(n):
        out.append(alphabet[i] if i < 26 else alphabet[i // 26 - 1] + alphabet[i % 26])
    return out


def choice_key(question: str, code: int) -> str:
    return f"{question}_option_{int(code)}"


def choice_block(question_text: str, option_texts: list[str], chosen: int) -> str:
    """The text block that describes one answer choice: the question, its lettered options, the answer."""
    marks = letters(len(option_texts))
    lines = [f"Question: {question_text}"]
    lines += [f"{mark}. {text}" for mark, text in zip(marks, option_texts, strict=True)]
    lines += ["", f"Answer: {marks[chosen]}. {option_texts[chosen]}"]
    return "\n".join(lines).strip()


def build_options_table(
    question_options: dict[str, list[tuple[int, str]]],
    question_texts: dict[str, str],
    choice_texts: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Options table from ``{question: [(code, text), ...]}`` in option order.

    ``choice_texts`` (e.g. a dataset's shipped option-strings JSON) overrides the generated text block
    per choice key, so that embeddings match what the dataset's authors embedded.
    """
    rows = []
    for question in sorted(question_options):
        opts = question_options[question]
        texts = [text for _, text in opts]
        for position, ((code, text), mark) in enumerate(zip(opts, letters(len(opts)), strict=True)):
            key = choice_key(question, code)
            block = (choice_texts or {}).get(key) or choice_block(
                question_texts.get(question, ""), texts, position
            )
            rows.append((question, int(code), position, mark, text, key, block))
    frame = pd.DataFrame(rows, columns=list(OPTION_COLUMNS))
    return frame.astype({"code": "int64", "position": "int64"})


def validate(data: SurveyData) -> None:
    """Check the invariants every stage relies on; raise with the table and column at fault."""
    for table, columns in (
        ("individuals", INDIVIDUAL_COLUMNS),
        ("questions", QUESTION_COLUMNS),
        ("options", OPTION_COLUMNS),
        ("responses", RESPONSE_COLUMNS),
    ):
        frame = getattr(data, table)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputDataError(
                f"{data.name}/{table}", missing[0], "column missing", "rebuild the dataset"
            )
    if data.individuals["individual"].duplicated().any():
        dup = data.individuals.loc[data.individuals["individual"].duplicated(), "individual"].iloc[
            0
        ]
        raise InputDataError(
            f"{data.name}/individuals",
            "individual",
            f"duplicate id {dup!r}",
            "make individual ids unique",
        )
    valid = data.options[["question", "code"]].assign(_ok=True)
    merged = data.responses.merge(valid, on=["question", "code"], how="left")
    bad = merged["_ok"].isna()
    if bad.any():
        row = merged.loc[bad].iloc[0]
        raise InputDataError(
            f"{data.name}/responses",
            str(row["question"]),
            f"answer code {row['code']} of individual {row['individual']} is not an option of the question",
            "add the code to the option map or remove the answer",
        )


def join_answers(
    pairs: pd.DataFrame,
    responses: pd.DataFrame,
    *,
    source: str,
    columns: tuple[str, ...] = ("code",),
) -> pd.DataFrame:
    """Attach each split pair's answer (``columns`` of the responses) to the pairs, one to one.

    The single owner of the split-answer join: every stage that scores or trains on split pairs
    (baselines, learners, graph, predictions contract, mapping, prompts, held-out evidence) reads the
    answers through here. ``pairs`` holds ``individual`` and ``question`` (plus any columns to keep); a
    pair without an answer means the split was built from another dataset, reported against ``source``.
    """
    pairs = pairs.astype({"individual": str, "question": str})
    answers = responses[["individual", "question", *columns]].astype(
        {"individual": str, "question": str}
    )
    joined = pairs.merge(answers, on=["individual", "question"], how="left", validate="one_to_one")
    if joined[columns[0]].isna().any():
        row = joined.loc[joined[columns[0]].isna()].iloc[0]
        raise InputDataError(
            source,
            "individual/question",
            f"split pair ({row['individual']}, {row['question']}) has no answer in the dataset's responses",
            "rebuild the split from the same canonical dataset",
        )
    return joined
