"""A small survey for the LLM tests (imported by tests/test_llm_*.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData, Trait, build_options_table

QUESTION_SIZES = {"q01": 2, "q02": 5, "q03": 11, "q04": 3, "q05": 4, "q06": 2}
WORDS = [
    "never",
    "rarely",
    "sometimes",
    "often",
    "always",
    "maybe",
    "yes",
    "no",
    "agree",
    "disagree",
    "unsure",
]


def make_survey(n_people: int = 12, seed: int = 0) -> SurveyData:
    rng = np.random.default_rng(seed)
    texts = {
        q: f"How {['often', 'much', 'well', 'far', 'soon', 'likely'][i]} do you {q} things?"
        for i, q in enumerate(QUESTION_SIZES)
    }
    opts = {q: [(c + 1, f"{WORDS[c]} {q}") for c in range(n)] for q, n in QUESTION_SIZES.items()}
    options = build_options_table(opts, texts)
    people = [f"p{i:02d}" for i in range(n_people)]
    individuals = pd.DataFrame(
        {
            "individual": people,
            "wave": 1,
            "weight": 1.0,
            "age": [["18-29", "30-49", "50-64", None][i % 4] for i in range(n_people)],
            "sex": [["female", "male"][i % 2] for i in range(n_people)],
        }
    )
    rows = [
        (p, q, int(rng.integers(1, n + 1)), 1.0) for p in people for q, n in QUESTION_SIZES.items()
    ]
    responses = pd.DataFrame(rows, columns=["individual", "question", "code", "weight"])
    questions = pd.DataFrame(
        {
            "question": list(QUESTION_SIZES),
            "wave": 1,
            "text": [texts[q] for q in QUESTION_SIZES],
            "n_options": list(QUESTION_SIZES.values()),
            "ordinal": False,
        }
    )
    return SurveyData(
        name="toy",
        individuals=individuals,
        questions=questions,
        options=options,
        responses=responses,
        traits=(
            Trait("age", "Age group", ("18-29", "30-49", "50-64")),
            Trait("sex", "Sex", ("female", "male")),
        ),
    )


def make_split(data: SurveyData) -> pd.DataFrame:
    """Setting-1 style: the last four people are held out on their last three questions."""
    people = data.individuals["individual"].tolist()
    split = data.responses[["individual", "question"]].copy()
    held = split["individual"].isin(people[-4:]) & split["question"].isin(
        ["q04", "q05", "q06", "q03"]
    )
    split["part"] = "train"
    split.loc[held & split["individual"].isin(people[-4:-2]), "part"] = "val"
    split.loc[held & split["individual"].isin(people[-2:]), "part"] = "test"
    return split
