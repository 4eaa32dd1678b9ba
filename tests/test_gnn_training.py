"""GEMS training: determinism, output files, and learning beyond per-question majority."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from test_gnn_graph import gnn_config, make_bundle
from torch_geometric.nn import RGCNConv, SAGEConv

from gemsflow.config import deep_merge, resolve_config
from gemsflow.evaluation.scoring import score
from gemsflow.methods.gnn.training import Trainer, replay_patience, train_run

SHORT = {"training": {"max_epochs": 3, "steps_per_epoch": 2, "patience": 3}}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def config(arch: str, override: dict | None = None) -> dict:
    return deep_merge(resolve_config(gnn_config(), arch, "structured"), override or SHORT)


def run_files(tmp_path, setting: str) -> dict[str, str]:
    names = ["curve", "model", "run_info"]
    names.append("embeddings" if setting == "setting3" else "predictions")
    suffix = {
        "curve": "curve.tsv",
        "model": "model.safetensors",
        "run_info": "run_info.json",
        "embeddings": "embeddings.safetensors",
        "predictions": "predictions.parquet",
    }
    return {name: str(tmp_path / suffix[name]) for name in names}


@pytest.mark.slow
def test_same_seed_same_run_and_different_seed_differs(tmp_path):
    _, _, bundle = make_bundle("setting1")
    infos, states = [], []
    for run, seed in enumerate((5, 5, 6)):
        out = run_files(tmp_path / str(run), "setting1")
        info = train_run(bundle, "gat", config("gat"), seed, out, progress=False)
        infos.append(
            (
                (tmp_path / str(run) / "curve.tsv").read_text(),
                pd.read_parquet(out["predictions"]),
                info["best_val_accuracy"],
            )
        )
        states.append(load_file(out["model"]))
    assert infos[0][0] == infos[1][0]
    pd.testing.assert_frame_equal(infos[0][1], infos[1][1])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert infos[0][0] != infos[2][0]


@pytest.mark.parametrize("arch", ["mf", "rgcn", "gat", "sage"])
@pytest.mark.parametrize("setting", ["setting1", "setting2"])
def test_predictions_are_distributions_over_real_options(tmp_path, arch, setting):
    data, split, bundle = make_bundle(setting)
    out = run_files(tmp_path, setting)
    train_run(bundle, arch, config(arch), 1, out, progress=False)
    preds = pd.read_parquet(out["predictions"])
    held_out = split[split["part"] != "train"]
    pairs = preds.groupby(["individual", "question", "part"], observed=True)
    assert pairs.ngroups == len(held_out)
    np.testing.assert_allclose(pairs["prob"].sum().to_numpy(), 1.0, rtol=1e-9)
    assert preds["prob"].dtype == np.float64
    # The scorer accepts them as they are (it checks option codes and pair coverage).
    metrics = score(preds, data, split)
    assert metrics["n_test"] == int((split["part"] == "test").sum())
    curve = pd.read_csv(out["curve"], sep="\t")
    assert list(curve.columns) == ["epoch", "train_loss", "val_loss", "val_acc"]
    info = json.loads(Path(out["run_info"]).read_text())
    assert 1 <= info["best_epoch"] <= info["epochs_run"] == len(curve)
    assert info["best_val_accuracy"] == pytest.approx(curve["val_acc"].max(), abs=1e-6)


def test_setting3_exports_embeddings_of_training_choices_only(tmp_path):
    _, split, bundle = make_bundle("setting3")
    out = run_files(tmp_path, "setting3")
    train_run(bundle, "sage", config("sage"), 0, out, progress=False)
    assert "predictions" not in out
    with safe_open(out["embeddings"], "pt") as handle:
        meta = handle.metadata()
        ind = handle.get_tensor("individual_embeddings")
        cho = handle.get_tensor("choice_embeddings")
        tau = handle.get_tensor("temperature")
    individuals, choices = json.loads(meta["individuals"]), json.loads(meta["choices"])
    assert ind.shape == (len(individuals), 64) and cho.shape == (len(choices), 64)
    assert tau.shape == (1,) and float(tau) > 0
    train_questions = set(split.loc[split["part"] == "train", "question"])
    assert {c.split("_option_")[0] for c in choices} == train_questions
    assert set(individuals) == set(split["individual"])


@pytest.mark.slow
def test_training_beats_per_question_majority(tmp_path):
    data, split, bundle = make_bundle("setting1")
    out = run_files(tmp_path, "setting1")
    cfg = config("sage", {"training": {"max_epochs": 30, "steps_per_epoch": 5, "patience": 30}})
    train_run(bundle, "sage", cfg, 0, out, progress=False)
    metrics = score(pd.read_parquet(out["predictions"]), data, split)
    truth = split.merge(data.responses, on=["individual", "question"])
    train = truth[truth["part"] == "train"]
    majority = train.groupby("question")["code"].agg(lambda c: c.value_counts().idxmax())
    test = truth[truth["part"] == "test"]
    majority_acc = float((test["question"].map(majority) == test["code"]).mean())
    assert metrics["accuracy"] > majority_acc + 0.15, (metrics["accuracy"], majority_acc)


@pytest.mark.slow
def test_a_smaller_patience_replayed_on_a_longer_run_matches_training_with_it(tmp_path):
    """benchmarks/patience_replay.py prices a patience from finished runs; that holds only if the longer
    run contains the shorter one epoch for epoch, the stopping rule aside."""
    _, _, bundle = make_bundle("setting1")
    runs = {}
    for patience in (2, 20):
        cfg = config(
            "sage", {"training": {"max_epochs": 20, "steps_per_epoch": 2, "patience": patience}}
        )
        out = run_files(tmp_path / str(patience), "setting1")
        info = train_run(bundle, "sage", cfg, 3, out, progress=False)
        runs[patience] = info, pd.read_csv(out["curve"], sep="\t")
    short, long_ = runs[2], runs[20]
    assert short[0]["epochs_run"] < long_[0]["epochs_run"], (
        "the short run must stop early to test this"
    )
    pd.testing.assert_frame_equal(short[1], long_[1].iloc[: len(short[1])])
    epoch, val_acc, epochs_run = replay_patience(long_[1]["val_acc"].tolist(), 2)
    assert (epoch, epochs_run) == (short[0]["best_epoch"], short[0]["epochs_run"])
    assert val_acc == pytest.approx(short[0]["best_val_accuracy"], abs=1e-6)


def test_trainer_uses_cpu_without_cuda():
    _, _, bundle = make_bundle("setting1")
    trainer = Trainer(bundle, "mf", config("mf"), 0)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert trainer.device.type == expected


THREAD_RUN = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_gnn_graph import make_bundle
from test_gnn_training import config, run_files
from gemsflow.config import deep_merge
from gemsflow.methods.gnn.training import train_run
from pathlib import Path
torch.set_num_threads({outer})  # the process's thread count before training (e.g. from --cores)
_, _, bundle = make_bundle("setting1")
cfg = deep_merge(config("sage"), {{"threads": {threads}, "model": {{"hidden_dim": 256, "output_dim": 256}}}})
train_run(bundle, "sage", cfg, 7, run_files(Path({out!r}), "setting1"), progress=False)
"""


def _thread_run(tmp_path, name: str, outer: int, threads: int) -> pd.DataFrame:
    import subprocess
    import sys

    out = tmp_path / name
    out.mkdir()
    code = THREAD_RUN.format(
        tests=str(Path(__file__).parent), outer=outer, threads=threads, out=str(out)
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=600)
    return pd.read_parquet(out / "predictions.parquet")


@pytest.mark.slow
def test_same_seed_same_predictions_whatever_the_cores(tmp_path):
    """A process started with 1 or 2 threads gives bit-identical predictions: the thread count of the
    computation comes from the config."""
    one = _thread_run(tmp_path, "cores1", outer=1, threads=2)
    two = _thread_run(tmp_path, "cores2", outer=2, threads=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def _edge_list_sage(model, trait_codes, edges):
    """The sage model computed by PyG's own SAGEConv message passing over edge lists."""
    return _edge_list_model(model, trait_codes, edges, SAGEConv.forward)


def _edge_list_rgcn(model, trait_codes, edges):
    """The rgcn model computed by PyG's own RGCNConv (one relation) over edge lists."""

    def forward(layer, x, edge_index):
        return RGCNConv.forward(
            layer, x, edge_index, torch.zeros(edge_index.shape[1], dtype=torch.long)
        )

    return _edge_list_model(model, trait_codes, edges, forward)


def _edge_list_model(model, trait_codes, edges, conv_forward):
    h = model.encoders(trait_codes)
    for conv, norms in zip(model.layers, model.norms, strict=True):
        new = {}
        for rel, edge_index in edges.items():
            layer = conv.convs[rel]
            out = conv_forward(layer, (h[rel[0]], h[rel[2]]), edge_index)
            new[rel[2]] = new[rel[2]] + out if rel[2] in new else out
        h = {t: torch.relu(norms[t](new[t])) for t in model.node_types}
    return {t: model.heads[t](h[t]) for t in model.node_types}


@pytest.mark.parametrize(
    ("arch", "aggregation", "reference"),
    [
        ("sage", "mean", _edge_list_sage),
        ("sage", "sum", _edge_list_sage),
        ("sage", "max", _edge_list_sage),
        ("rgcn", "mean", _edge_list_rgcn),
        ("rgcn", "sum", _edge_list_rgcn),
    ],
)
def test_gnn_model_aggregates_neighbours_as_edge_list_message_passing_does(
    arch, aggregation, reference
):
    """The sage and rgcn models hand each relation to their layers as a CSR (destination x source)
    matrix with its transpose, and compute the mean's gradient themselves. Output and gradients must be
    what PyG's SAGEConv and RGCNConv compute from the plain edge lists (the mean over each node's
    neighbours; also the other aggregations the config allows), including nodes without neighbours."""
    _, _, bundle = make_bundle("setting1")
    cfg = config(arch, {**SHORT, "model": {"aggregation": aggregation}})
    trainer = Trainer(bundle, arch, cfg, seed=3)
    model = trainer.model.eval()
    graph = trainer._edges(trainer.drawer.train_ids[::2])
    edges = {rel: adjacency.edge_index() for rel, adjacency in graph.items()}
    assert len(model.layers) == 2
    results = []
    for forward in (
        lambda: model(trainer.trait_codes, graph),
        lambda: reference(model, trainer.trait_codes, edges),
    ):
        model.zero_grad()
        z = forward()
        sum(
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum() for out in z.values()
        ).backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results.append(({t: out.detach() for t, out in z.items()}, grads))
    (z, grads), (expected_z, expected_grads) = results
    for node_type, out in expected_z.items():
        torch.testing.assert_close(z[node_type], out, rtol=1e-5, atol=1e-6)
    assert grads.keys() == expected_grads.keys()
    for name, grad in expected_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_validation_predictions_come_from_the_epoch_chosen_on_the_other_folds(tmp_path):
    """The epoch is chosen on validation answers, so the validation figure of the selected epoch is a
    maximum over epochs. Each fold of validation people is predicted by the epoch best on the others;
    test predictions always come from the epoch best on all validation answers."""
    data, split, bundle = make_bundle("setting1")
    cfg = config("sage", {"training": {"max_epochs": 12, "steps_per_epoch": 2, "patience": 12}})
    runs = {}
    for folds in (2, 3):
        out = run_files(tmp_path / str(folds), "setting1")
        info = train_run(bundle, "sage", cfg, 5, out, progress=False, folds=folds)
        runs[folds] = info, pd.read_parquet(out["predictions"])
    for folds, (info, predictions) in runs.items():
        per_fold = info["selection"]["epoch"]["per_fold"]
        assert [f["predicts_fold"] for f in per_fold] == list(range(folds))
        assert all(1 <= f["epoch"] <= info["epochs_run"] for f in per_fold)
        val = score(predictions, data, split)["parts"]["val"]["accuracy"]
        assert val == pytest.approx(info["out_of_fold_val_accuracy"], abs=1e-12)
    # With 3 folds (seed 5) one fold's epoch is not the overall best, and the figure drops accordingly.
    info = runs[3][0]
    assert {f["epoch"] for f in info["selection"]["epoch"]["per_fold"]} != {info["best_epoch"]}
    assert info["out_of_fold_val_accuracy"] < info["best_val_accuracy"]
    test = {k: p[p["part"] == "test"].reset_index(drop=True) for k, (_, p) in runs.items()}
    pd.testing.assert_frame_equal(test[2], test[3])


def test_a_run_ended_by_the_cap_says_so(tmp_path, caplog):
    """A run that reaches max_epochs while still within its patience may be undertrained (a larger
    survey under the same schedule): run_info records what ended it and the log warns."""
    _, _, bundle = make_bundle("setting1")
    cfg = config("sage", {"training": {"max_epochs": 2, "steps_per_epoch": 1, "patience": 5}})
    with caplog.at_level("WARNING", logger="gemsflow.methods.gnn"):
        info = train_run(bundle, "sage", cfg, 3, run_files(tmp_path / "cap", "setting1"), False)
    assert info["stopped_by"] == "max_epochs" and info["epochs_run"] == 2
    assert "may be undertrained" in caplog.text
    caplog.clear()
    cfg = config("sage", {"training": {"max_epochs": 20, "steps_per_epoch": 2, "patience": 2}})
    with caplog.at_level("WARNING", logger="gemsflow.methods.gnn"):
        info = train_run(bundle, "sage", cfg, 3, run_files(tmp_path / "early", "setting1"), False)
    assert info["stopped_by"] == "patience" and info["epochs_run"] < 20
    assert "may be undertrained" not in caplog.text


def test_an_early_stop_ends_the_progress_bar_full_and_says_why(tmp_path, capsys):
    """A bar left at 9/20 reads like a crash; an early stop closes it at its last epoch, named."""
    _, _, bundle = make_bundle("setting1")
    cfg = config("sage", {"training": {"max_epochs": 20, "steps_per_epoch": 2, "patience": 2}})
    info = train_run(bundle, "sage", cfg, 3, run_files(tmp_path, "setting1"), progress=True)
    run = info["epochs_run"]
    assert run < 20, "the run must stop early to test this"
    last = capsys.readouterr().err.split("\r")[-1]
    assert f"early stop: no gain in 2, best {info['best_epoch']}" in last
    assert "100%" in last and f"{run}/{run}" in last
