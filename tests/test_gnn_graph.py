"""GEMS graph construction and training-sample masking, on a small structured survey built here."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gemsflow.config import graph_config, resolve_config
from gemsflow.data.splits import TEST, TRAIN, VAL, SplitSpec, make_split
from gemsflow.data.survey import SurveyData, Trait, build_options_table
from gemsflow.errors import InputDataError
from gemsflow.methods.gnn.graph import build_graph, counts
from gemsflow.methods.gnn.training import SampleDrawer, Trainer

ROOT = Path(__file__).resolve().parents[1]
SPECS = {
    "setting1": SplitSpec("individual", 0.1, 0.4, 0.4),
    "setting2": SplitSpec("individual", 0.1, 0.4, 0.0),
    "setting3": SplitSpec("question", 0.2, 0.2, 0.0),
}


def structured_survey(n_people: int = 90, n_questions: int = 10, seed: int = 0) -> SurveyData:
    """People belong to one of three hidden types; type k mostly picks option (k + q) % 3 of question q.

    Party is a noisy signal of the type and one person in ten has no party. About 5% of answers are
    missing. Per-question majority is near 1/3-1/2, while anyone who infers a person's type from their
    other answers gets close to 0.8.
    """
    rng = np.random.default_rng(seed)
    people = [f"p{i:03d}" for i in range(n_people)]
    kind = rng.integers(0, 3, n_people)
    party = np.where(rng.random(n_people) < 0.8, kind, rng.integers(0, 3, n_people))
    party_names = np.array(["left", "centre", "right"], dtype=object)[party]
    party_names[rng.random(n_people) < 0.1] = None
    age = np.array(["young", "old"], dtype=object)[rng.integers(0, 2, n_people)]
    individuals = pd.DataFrame(
        {"individual": people, "wave": 1, "weight": 1.0, "party": party_names, "age": age}
    ).astype({"party": "string", "age": "string"})
    questions = [f"Q{q:02d}_W1" for q in range(n_questions)]
    # Codes 1..3, except one question coded 1, 2, 9 (a real-world gap in option codes).
    codes = {q: [1, 2, 9] if i == 0 else [1, 2, 3] for i, q in enumerate(questions)}
    options = build_options_table(
        {q: [(c, f"option {c}") for c in codes[q]] for q in questions},
        {q: f"Question {q}?" for q in questions},
    )
    rows = []
    for i, person in enumerate(people):
        for qi, q in enumerate(questions):
            if rng.random() < 0.05:
                continue
            pos = (kind[i] + qi) % 3 if rng.random() < 0.8 else rng.integers(0, 3)
            rows.append((person, q, codes[q][pos], 1.0))
    responses = pd.DataFrame(rows, columns=["individual", "question", "code", "weight"])
    table = pd.DataFrame(
        {
            "question": questions,
            "wave": 1,
            "text": [f"Question {q}?" for q in questions],
            "n_options": 3,
            "ordinal": False,
        }
    )
    traits = (
        Trait("party", "Party", ("left", "centre", "right")),
        Trait("age", "Age", ("young", "old")),
    )
    return SurveyData("structured", individuals, table, options, responses, traits)


def project_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def gnn_config() -> dict:
    return project_config()["gnn"]


def make_bundle(setting: str, data: SurveyData | None = None, seed: int = 3):
    data = data or structured_survey()
    split = make_split(data, SPECS[setting], seed)
    gc = graph_config(project_config(), "structured", setting)
    bundle = build_graph(data, split, gc, setting=setting, seed=seed)
    return data, split, bundle


def answer_keys(bundle, ids) -> set[tuple[str, str]]:
    ind = bundle["answer_individual"][ids].tolist()
    q = bundle["answer_question"][ids].tolist()
    return {(bundle["individuals"][i], bundle["questions"][j]) for i, j in zip(ind, q, strict=True)}


@pytest.mark.parametrize("setting", ["setting1", "setting2"])
def test_counts_match_the_split(setting):
    data, split, bundle = make_bundle(setting)
    c = counts(bundle)
    assert c.individuals == split["individual"].nunique()
    assert c.choices == len(data.options) == 30
    assert c.subgroups == 5  # 3 parties + 2 ages
    known_party = data.individuals["party"].notna().sum()
    assert c.memberships == known_party + len(data.individuals)
    for part in ("train", "val", "test"):
        assert c.answers_by_role[part] == int((split["part"] == part).sum())
    # Every answer edge points at the chosen option of its own question.
    chosen = bundle["answer_choice"]
    assert torch.equal(bundle["choice_question"][chosen], bundle["answer_question"])
    codes = bundle["choice_code"][chosen].numpy()
    truth = (
        pd.DataFrame(
            {
                "individual": [bundle["individuals"][i] for i in bundle["answer_individual"]],
                "question": [bundle["questions"][q] for q in bundle["answer_question"]],
            }
        )
        .merge(data.responses, on=["individual", "question"], how="left")["code"]
        .to_numpy()
    )
    np.testing.assert_array_equal(codes, truth)


def test_setting3_drops_held_out_questions_and_holds_out_imputation_answers():
    data, split, bundle = make_bundle("setting3")
    held_out = set(split.loc[split["part"] != "train", "question"])
    assert held_out, "the test split must hold out some questions"
    assert held_out.isdisjoint(bundle["questions"])
    assert not any(choice.split("_option_")[0] in held_out for choice in bundle["choices"])
    assert (bundle["answer_role"] != TEST).all()
    train_rows = split[split["part"] == "train"]
    assert len(bundle["answer_role"]) == len(train_rows)
    # Imputation validation: n - floor(0.95 n) answers of each person (at least one each here).
    role = bundle["answer_role"].numpy()
    ind = bundle["answer_individual"].numpy()
    n = np.bincount(ind, minlength=len(bundle["individuals"]))
    held = np.bincount(ind[role == VAL], minlength=len(bundle["individuals"]))
    np.testing.assert_array_equal(held, n - np.floor(n * 0.95).astype(int))


def test_unknown_split_rows_are_rejected():
    data = structured_survey()
    split = make_split(data, SPECS["setting1"], 0)
    bad = pd.concat(
        [split, pd.DataFrame({"individual": ["nobody"], "question": ["Q00_W1"], "part": ["test"]})]
    )
    gc = graph_config(project_config(), "structured", "setting1")
    with pytest.raises(InputDataError, match="no answer in the dataset"):
        build_graph(data, bad, gc, setting="setting1", seed=0)


@pytest.mark.parametrize("setting", ["setting1", "setting2", "setting3"])
def test_samples_never_leak(setting):
    _, _, bundle = make_bundle(setting)
    cfg = resolve_config(gnn_config(), "sage", "structured")
    block = cfg["settings"][setting]
    drawer = SampleDrawer(
        bundle,
        block["supervision"],
        block["supervision_fraction"],
        torch.Generator().manual_seed(0),
    )
    train = set(torch.nonzero(bundle["answer_role"] == TRAIN).flatten().tolist())
    held_out = set(torch.nonzero(bundle["answer_role"] != TRAIN).flatten().tolist())
    seen_supervision = set()
    for _ in range(5):
        message, supervision = drawer.draw()
        m, s = set(message.tolist()), set(supervision.tolist())
        assert not m & s
        assert m | s == train
        assert not (m | s) & held_out
        seen_supervision |= s
        if block["supervision"] == "individuals":
            # Supervised people pass no answer messages at all in that sample.
            sup_people = set(bundle["answer_individual"][supervision].tolist())
            assert sup_people.isdisjoint(bundle["answer_individual"][message].tolist())
        else:
            assert len(s) == int(len(train) * block["supervision_fraction"])
    assert len(seen_supervision) > len(train) * 0.8, "samples must be re-drawn each step"


@pytest.mark.parametrize("setting", ["setting1", "setting2", "setting3"])
def test_evaluation_graph_holds_only_training_answers(setting):
    torch.set_num_threads(1)
    _, _, bundle = make_bundle(setting)
    cfg = resolve_config(gnn_config(), "sage", "structured")
    trainer = Trainer(bundle, "sage", cfg, seed=0)
    edges = trainer.eval_graph[("individual", "chose", "choice")].edge_index()
    pairs = {
        (bundle["individuals"][i], bundle["choices"][c])
        for i, c in zip(edges[0].tolist(), edges[1].tolist(), strict=True)
    }
    train = torch.nonzero(bundle["answer_role"] == TRAIN).flatten()
    expected = {
        (bundle["individuals"][i], bundle["choices"][c])
        for i, c in zip(
            bundle["answer_individual"][train].tolist(),
            bundle["answer_choice"][train].tolist(),
            strict=True,
        )
    }
    assert pairs == expected
    assert len(edges[0]) == len(train)


def test_setting_regime_comes_from_config():
    cfg = project_config()
    broken = copy.deepcopy(cfg)
    broken["gnn"]["defaults"]["settings"]["setting2"]["supervision"] = "questions"
    with pytest.raises(InputDataError, match="supervision"):
        graph_config(broken, "structured", "setting2")
    assert (
        graph_config(cfg, "any_name_at_all", "setting2")["setting"]["supervision"] == "individuals"
    )
    # New-question training follows the setting's axis, whatever the setting is called.
    assert graph_config(cfg, "structured", "setting3")["setting"]["new_questions"] is True
    assert graph_config(cfg, "structured", "setting1")["setting"]["new_questions"] is False
    cfg["settings"]["unseen_items"] = cfg["settings"]["setting3"]
    cfg["gnn"]["defaults"]["settings"]["unseen_items"] = cfg["gnn"]["defaults"]["settings"][
        "setting1"
    ]
    assert graph_config(cfg, "structured", "unseen_items")["setting"]["new_questions"] is True


def test_config_precedence_defaults_arch_dataset():
    gnn = {
        "defaults": {"model": {"dropout": 0.1, "layers": 2}, "graph": {"subgroups": True}},
        "archs": {"gat": {"model": {"dropout": 0.2}}},
        "datasets": {
            "tiny": {"model": {"layers": 3}, "archs": {"gat": {"model": {"dropout": 0.3}}}}
        },
    }
    assert resolve_config(gnn, "sage", "other")["model"] == {"dropout": 0.1, "layers": 2}
    assert resolve_config(gnn, "gat", "other")["model"] == {"dropout": 0.2, "layers": 2}
    assert resolve_config(gnn, "gat", "tiny")["model"] == {"dropout": 0.3, "layers": 3}
    assert resolve_config(gnn, "sage", "tiny")["model"] == {"dropout": 0.1, "layers": 3}
    gnn["archs"]["sage"] = {"graph": {"subgroups": False}}
    with pytest.raises(InputDataError, match="shared by all archs"):
        resolve_config(gnn, "sage", "tiny")
