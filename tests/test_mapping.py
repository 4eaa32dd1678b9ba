"""Setting-3 mapping: ridge closed form, selection on validation questions only, predictions format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gemsflow.errors import InputDataError
from gemsflow.methods.mapping import (
    GnnEmbeddings,
    MappingFeatures,
    RidgePath,
    fit_mapping,
    load_choice_features,
)


def _direct_ridge(x, y, alpha):
    """Ridge by the normal equations on standardised X and centred Y."""
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    xs = (x - x.mean(axis=0)) / scale
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(x.shape[1]), xs.T @ (y - y.mean(axis=0)))
    return w, xs


@pytest.mark.parametrize("n,d", [(40, 7), (12, 30)])
def test_closed_form_equals_normal_equations(n, d):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    x[:, 3] = 2.5  # a constant feature must not divide by zero
    y = rng.normal(size=(n, 4))
    path = RidgePath.fit(x, y)
    x_new = rng.normal(size=(5, d))
    for alpha in (0.5, 50.0, 800.0):
        w, _ = _direct_ridge(x, y, alpha)
        np.testing.assert_allclose(path.coef(alpha), w, rtol=1e-9, atol=1e-12)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0
        expected = (x_new - x.mean(axis=0)) / scale @ w + y.mean(axis=0)
        np.testing.assert_allclose(path.predict(x_new, alpha), expected, rtol=1e-9, atol=1e-12)


def test_recovers_known_linear_map():
    rng = np.random.default_rng(1)
    true_map = rng.normal(size=(6, 3))
    x = rng.normal(size=(500, 6))
    y = x @ true_map + np.array([1.0, -2.0, 0.5])
    path = RidgePath.fit(x, y)
    x_new = rng.normal(size=(20, 6))
    np.testing.assert_allclose(
        path.predict(x_new, 1e-6), x_new @ true_map + np.array([1.0, -2.0, 0.5]), atol=1e-6
    )


def test_rejects_non_positive_alpha():
    path = RidgePath.fit(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="positive"):
        path.coef(0.0)


def _world(seed=0, n_ind=50, n_q=30, gnn_dim=6, feat_dim=10):
    """A survey whose choice embeddings are an exact linear image of layer 2's features.

    Layer 1 is noise and layer 0 (the LLM's token-embedding layer, skipped by default) also carries the
    signal, so the search must find layer 2. Every individual answers the option its embedding scores
    highest, so the true map gives perfect accuracy.
    """
    rng = np.random.default_rng(seed)
    n_opts = rng.integers(2, 5, size=n_q)
    options = pd.DataFrame(
        [
            (f"q{q:02d}", code, pos, f"q{q:02d}_option_{code}")
            for q in range(n_q)
            for pos, code in enumerate(range(1, n_opts[q] + 1))
        ],
        columns=["question", "code", "position", "choice"],
    )
    n_choice = len(options)
    true_map = rng.normal(size=(feat_dim, gnn_dim))
    signal = rng.normal(size=(n_choice, feat_dim))
    states = np.stack([signal, rng.normal(size=(n_choice, feat_dim)), signal], axis=1)
    choice_emb = signal @ true_map
    indiv = rng.normal(size=(n_ind, gnn_dim))
    individuals = [f"p{i:03d}" for i in range(n_ind)]
    scores = indiv @ choice_emb.T
    rows = []
    for q, group in options.groupby("question"):
        best = group.index[np.argmax(scores[:, group.index], axis=1)]
        rows += [(individuals[i], q, int(options.loc[b, "code"])) for i, b in enumerate(best)]
    responses = pd.DataFrame(rows, columns=["individual", "question", "code"])
    qpart = {f"q{q:02d}": "train" if q < 18 else ("val" if q < 24 else "test") for q in range(n_q)}
    split = responses[["individual", "question"]].assign(part=responses["question"].map(qpart))
    features = MappingFeatures(options["choice"].tolist(), [0, 1, 2], states)
    gnn = GnnEmbeddings(individuals, indiv, options["choice"].tolist(), choice_emb, 0.7)
    return features, gnn, options, split, responses


def _accuracy(predictions, responses, part):
    held = predictions[predictions["part"] == part]
    top = held.sort_values("prob", ascending=False, kind="stable").drop_duplicates(
        ["individual", "question"]
    )
    merged = top.merge(responses, on=["individual", "question"], suffixes=("", "_true"))
    return float((merged["code"] == merged["code_true"]).mean())


def test_mapping_finds_signal_layer_and_predicts_new_questions():
    features, gnn, options, split, responses = _world()
    result = fit_mapping(features, gnn, options, split, responses, alphas=(1e-3, 10.0, 1000.0))
    info = result.info
    assert info["best_layer"] == 2
    assert info["best_alpha"] == 1e-3
    assert {g["layer"] for g in info["grid"]} == {1, 2}
    assert info["best_val_accuracy"] > 0.97
    assert _accuracy(result.predictions, responses, "test") > 0.97
    # Validation answers of each fold of validation questions: the cell chosen on the other folds.
    assert [f["predicts_fold"] for f in info["fold_selected"]] == [0, 1]
    val = _accuracy(result.predictions, responses, "val")
    assert val == pytest.approx(info["out_of_fold_val_accuracy"])

    pred = result.predictions
    assert list(pred.columns) == ["individual", "question", "part", "code", "prob"]
    held = split[split["part"] != "train"]
    assert len(pred.drop_duplicates(["individual", "question"])) == len(held)
    per_pair = pred.groupby(["individual", "question"])["prob"].sum()
    np.testing.assert_allclose(per_pair.to_numpy(), 1.0, atol=1e-12)
    n_opts = options.groupby("question").size()
    counts = pred.groupby(["individual", "question"]).size()
    assert (counts.to_numpy() == n_opts.loc[counts.index.get_level_values(1)].to_numpy()).all()


def test_temperature_scales_probabilities_not_ranking():
    features, gnn, options, split, responses = _world()
    sharp = fit_mapping(features, gnn, options, split, responses, alphas=(1.0,)).predictions
    hot = GnnEmbeddings(gnn.individuals, gnn.individual_emb, gnn.choices, gnn.choice_emb, 7.0)
    soft = fit_mapping(features, hot, options, split, responses, alphas=(1.0,)).predictions
    assert soft["prob"].max() < sharp["prob"].max()
    assert _accuracy(sharp, responses, "test") == _accuracy(soft, responses, "test")


def test_selection_uses_only_validation_questions():
    features, gnn, options, split, responses = _world()
    alphas = (1e-3, 10.0, 1000.0)
    base = fit_mapping(features, gnn, options, split, responses, alphas=alphas).info

    # Scrambling every test answer must leave the whole grid (and so the choice) unchanged.
    rng = np.random.default_rng(5)
    test_q = split.loc[split["part"] == "test", "question"].unique()
    scrambled = responses.copy()
    is_test = scrambled["question"].isin(test_q)
    n_opts = options.groupby("question").size()
    scrambled.loc[is_test, "code"] = [
        int(rng.integers(1, n_opts[q] + 1)) for q in scrambled.loc[is_test, "question"]
    ]
    other = fit_mapping(features, gnn, options, split, scrambled, alphas=alphas).info
    assert other["grid"] == base["grid"]
    assert (other["best_alpha"], other["best_layer"]) == (base["best_alpha"], base["best_layer"])

    # Scrambling validation answers does change what the grid measures.
    is_val = scrambled["question"].isin(split.loc[split["part"] == "val", "question"].unique())
    scrambled.loc[is_val, "code"] = 1
    changed = fit_mapping(features, gnn, options, split, scrambled, alphas=alphas).info
    assert changed["grid"] != base["grid"]


def test_selection_ties_go_to_first_alpha_and_layer():
    features, gnn, options, split, responses = _world()
    # Two identical signal layers: equal val accuracy everywhere on them, the lower layer must win.
    states = np.concatenate([features.states, features.states[:, 2:3]], axis=1)
    twin = MappingFeatures(features.choices, [0, 1, 2, 3], states)
    info = fit_mapping(twin, gnn, options, split, responses, alphas=(1e-3, 2e-3)).info
    assert info["best_layer"] == 2
    assert info["best_alpha"] == 1e-3


def test_text_embeddings_single_layer_zero_is_used():
    features, gnn, options, split, responses = _world()
    single = MappingFeatures(features.choices, [0], features.states[:, 2:3])
    info = fit_mapping(single, gnn, options, split, responses, alphas=(1e-3,)).info
    assert info["best_layer"] == 0


def test_individual_split_is_rejected():
    features, gnn, options, split, responses = _world()
    mixed = split.copy()
    mixed.loc[mixed.index[0], "part"] = "test"  # a train question now also has a test answer
    with pytest.raises(InputDataError, match="question-axis"):
        fit_mapping(features, gnn, options, mixed, responses, alphas=(1.0,))


def test_missing_features_for_test_choices_is_a_clear_error():
    features, gnn, options, split, responses = _world()
    test_choice = options.loc[options["question"] == "q29", "choice"].iloc[0]
    keep = [i for i, c in enumerate(features.choices) if c != test_choice]
    partial = MappingFeatures(
        [features.choices[i] for i in keep], features.layers, features.states[keep]
    )
    with pytest.raises(InputDataError, match="q29_option_1"):
        fit_mapping(partial, gnn, options, split, responses, alphas=(1.0,))


def test_load_choice_features_reads_bf16_file(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    states = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4).to(torch.bfloat16)
    path = tmp_path / "hidden_states.safetensors"
    save_file(
        {"choice_states": states},
        path,
        metadata={"choices": json.dumps(["q1_option_1", "q1_option_2"]), "layers": "[0, 4, 8]"},
    )
    loaded = load_choice_features(path)
    assert loaded.choices == ["q1_option_1", "q1_option_2"]
    assert loaded.layers == [0, 4, 8]
    np.testing.assert_array_equal(loaded.states, states.float().numpy())

    save_file({"choice_states": states}, path, metadata={"choices": "[]", "layers": "[0, 4, 8]"})
    with pytest.raises(InputDataError, match="shape"):
        load_choice_features(path)


def test_features_path_follows_the_feature_key():
    from gemsflow.config import features_path

    config = {
        "llm": {"embedders": {"minilm": {}}, "models": {"qwen3-8b": {}}},
        "mapping": {"hidden_state_position": "eos"},
    }
    assert (
        features_path(config, "twin", "minilm")
        == "results/embeddings/twin/minilm/text_embeddings.safetensors"
    )
    assert (
        features_path(config, "twin", "qwen3-8b")
        == "results/hidden_states/twin/qwen3-8b/eos/hidden_states.safetensors"
    )
    with pytest.raises(InputDataError, match="llm.embedders"):
        features_path(config, "twin", "bert")


def test_pair_accuracy_gives_ties_the_random_tie_break_credit():
    from gemsflow.methods.mapping import OptionRows, pair_accuracy

    # Pair 1: three options, the answer (row 1) tied with row 0 -> 1/2. Pair 2: two options, the
    # answer (row 4) strictly below row 3 -> 0. Pair 3: flat over two options -> 1/2.
    pairs = OptionRows(
        frame=pd.DataFrame(),
        individual_index=np.zeros(7, dtype=int),
        choice_index=np.arange(7),
        pair_start=np.array([0, 3, 5]),
        true_row=np.array([1, 4, 6]),
    )
    logits = np.array([2.0, 2.0, 1.0, 3.0, 0.0, -1.0, -1.0])
    assert pair_accuracy(logits, pairs) == pytest.approx((0.5 + 0.0 + 0.5) / 3)


def test_feature_variant_is_chosen_on_validation_and_recorded():
    features, gnn, options, split, responses = _world()
    rng = np.random.default_rng(7)
    # The main features are noise; the "signal" variant holds the exact linear image.
    noisy = MappingFeatures(
        features.choices,
        [0],
        rng.normal(size=(len(features.choices), 1, 10)),
        variants={
            "signal": features.states[:, 2:3],
            "noise": rng.normal(size=(len(features.choices), 1, 4)),
        },
        variant="option+question",
    )
    result = fit_mapping(noisy, gnn, options, split, responses, alphas=(1e-3, 10.0))
    info = result.info
    assert info["best_variant"] == "signal"
    assert info["selection"]["selected"] == {"variant": "signal", "layer": 0, "alpha": 1e-3}
    assert info["selection"]["val_accuracy"] == info["best_val_accuracy"] > 0.97
    assert set(info["selection"]["best_val_accuracy_by_variant"]) == {
        "option+question",
        "signal",
        "noise",
    }
    assert len(info["grid"]) == 3 * 2
    assert _accuracy(result.predictions, responses, "test") > 0.97


def test_load_choice_features_reads_variants(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    path = tmp_path / "text_embeddings.safetensors"
    main = torch.ones(2, 1, 6)
    option = torch.zeros(2, 1, 3)
    save_file(
        {"choice_states": main, "variant.option": option},
        path,
        metadata={
            "choices": json.dumps(["q1_option_1", "q1_option_2"]),
            "layers": "[0]",
            "info": json.dumps({"variant": "option+question"}),
        },
    )
    loaded = load_choice_features(path)
    assert loaded.variant == "option+question"
    assert list(loaded.candidates()) == ["option+question", "option"]
    np.testing.assert_array_equal(loaded.variants["option"], option.numpy())


def test_configured_feature_variants_restrict_the_search():
    features, gnn, options, split, responses = _world()
    rng = np.random.default_rng(7)
    both = MappingFeatures(
        features.choices,
        [0],
        rng.normal(size=(len(features.choices), 1, 10)),
        variants={"signal": features.states[:, 2:3]},
        variant="option+question",
    )
    info = fit_mapping(
        both, gnn, options, split, responses, alphas=(1e-3,), variants=["option+question"]
    ).info
    assert info["best_variant"] == "option+question"
    assert {cell["variant"] for cell in info["grid"]} == {"option+question"}
    with pytest.raises(InputDataError, match="feature_variants"):
        fit_mapping(both, gnn, options, split, responses, alphas=(1e-3,), variants=["choice_block"])


def test_text_embedding_variants_round_trip_from_the_writer(tmp_path):
    import torch

    from gemsflow.methods.llm.features import ChoiceFeatures as StoredFeatures
    from gemsflow.methods.llm.features import save_features

    path = tmp_path / "text_embeddings.safetensors"
    choices = ["q1_option_1", "q1_option_2"]
    stored = StoredFeatures(
        choice_states=torch.randn(2, 1, 6),
        choices=choices,
        layers=[0],
        info={"variant": "option+question"},
        variants={"option": torch.randn(2, 1, 3), "choice_block": torch.randn(2, 1, 3)},
    )
    save_features(stored, path)
    loaded = load_choice_features(path)
    assert list(loaded.candidates()) == ["option+question", "choice_block", "option"]
    for name, states in stored.variants.items():
        np.testing.assert_array_equal(loaded.variants[name], states.numpy())
