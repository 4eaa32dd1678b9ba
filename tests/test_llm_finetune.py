"""LoRA fine-tuning on the toy survey with the tiny model: selection on validation, test scored once,
and a 2-process ``accelerate launch`` run with the 1-process learning-rate schedule."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from llm_lora_job import SETTINGS
from llm_toy import make_split, make_survey

from gemsflow.evaluation.scoring import expected_pairs
from gemsflow.methods.llm.backends import TransformersBackend
from gemsflow.methods.llm.finetune import train_lora
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts
from gemsflow.methods.llm.runs import validation_credit
from gemsflow.methods.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _keys_with(tree, word: str) -> list[str]:
    if isinstance(tree, dict):
        return [k for k in tree if word in k] + [
            k for v in tree.values() for k in _keys_with(v, word)
        ]
    if isinstance(tree, list):
        return [k for v in tree for k in _keys_with(v, word)]
    return []


def _prompts(data, split):
    return {
        p: build_prompts(data, split, p, PromptStyle(0), seed=0) for p in ("train", "val", "test")
    }


@pytest.mark.slow
def test_lora_selects_on_validation_scores_test_once_and_never_resumes(tmp_path, monkeypatch):
    data = make_survey(n_people=16)
    split = make_split(data)
    model = build_tiny_model(data, tmp_path / "tiny", seed=0)
    prompts = _prompts(data, split)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "stale.bin").write_text("left over from an older run")
    settings = {**SETTINGS, "epochs": 3, "batch_size": 8, "grad_accum": 1}
    # Record which prompts get scored: validation every epoch, test exactly once.
    scored: list[str] = []
    original = TransformersBackend.letter_scores

    def spy(self, prompts_, letters):
        scored.extend(prompts_)
        return original(self, prompts_, letters)

    monkeypatch.setattr(TransformersBackend, "letter_scores", spy)
    predictions, info = train_lora(
        str(model),
        prompts["train"],
        prompts["val"],
        prompts["test"],
        validation_credit(data, split),
        adapter,
        settings=settings,
        seed=0,
    )
    test_texts = {r["prompt"] for r in prompts["test"]}
    assert sum(p in test_texts for p in scored) == len(prompts["test"])
    # Validation: once before training (the untuned model's figure, reported, never selected), then
    # after each of the 3 epochs.
    assert len(scored) == 4 * len(prompts["val"]) + len(prompts["test"])
    assert 0 <= info["val_accuracy_before_training"] <= 1
    base = TransformersBackend(str(model)).describe()["model_parameters"]
    assert info["model_parameters"] == base and 0 < info["trainable_parameters"] < base
    assert scored[: len(prompts["val"])] == [r["prompt"] for r in prompts["val"]]
    assert not _keys_with(info, "test")  # no test accuracy anywhere in run_info
    losses = [e["train_loss"] for e in info["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    best = max(info["epochs"], key=lambda e: e["val_accuracy"])  # first epoch among ties
    assert info["best_epoch"] == best["epoch"]
    # The validation rows written are out-of-fold: each fold of people from the epoch best on the other.
    assert [f["predicts_fold"] for f in info["fold_selected"]] == [0, 1]
    assert {f["epoch"] for f in info["fold_selected"]} <= {1, 2, 3}
    written = validation_credit(data, split)(predictions)[1].mean()
    assert written == info["out_of_fold_val_accuracy"]
    if all(f["epoch"] == info["best_epoch"] for f in info["fold_selected"]):
        assert written == best["val_accuracy"]
    pairs = predictions[["individual", "question", "part"]].drop_duplicates()
    assert len(pairs) == len(expected_pairs(split))
    assert (adapter / "adapter_config.json").exists() and not (adapter / "stale.bin").exists()
    # The saved adapter is the selected one: reloaded, it gives the test predictions written.
    reloaded = TransformersBackend(str(model), adapter=str(adapter)).letter_scores(
        [r["prompt"] for r in prompts["test"]], [r["letters"] for r in prompts["test"]]
    )
    test_probs = predictions.loc[predictions["part"] == "test", "prob"].to_numpy()
    assert abs(test_probs - [p for s in reloaded for p in s.probs]).max() < 1e-5
    # The continuation loss moves probability onto the answer letters (from the untrained level).
    base = TransformersBackend(str(model)).letter_scores(
        [r["prompt"] for r in prompts["val"]], [r["letters"] for r in prompts["val"]]
    )
    assert info["epochs"][-1]["mean_valid_mass"] > 1.5 * sum(s.mass for s in base) / len(base)
    # Same seed, same run: bit-identical predictions on CPU.
    again, _ = train_lora(
        str(model),
        prompts["train"],
        prompts["val"],
        prompts["test"],
        validation_credit(data, split),
        tmp_path / "a2",
        settings=settings,
        seed=0,
    )
    assert again.equals(predictions)


def _launch(model: Path, out: Path, processes: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    # accelerate 1.x: "--cpu" starts a single process unless MPI is set up; "--multi_gpu" starts the
    # processes with torchrun, and without CUDA they form a gloo group (train_lora passes cpu=True).
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    command += ["--multi_gpu"] if processes > 1 else ["--cpu"]
    command += ["--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no"]
    command += ["--main_process_port", str(29500 + os.getpid() % 1000)]
    command += ["--dynamo_backend", "no", str(TESTS / "llm_lora_job.py"), str(model), str(out)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_process_lora_keeps_the_schedule_and_predicts_every_pair_once(tmp_path):
    data = make_survey(n_people=16)
    split = make_split(data)
    model = build_tiny_model(data, tmp_path / "tiny", seed=0)
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"p{n}"
        out.mkdir()
        proc = _launch(model, out, n)
        assert proc.returncode == 0, proc.stderr[-3000:]
        traces = [json.loads((out / f"lr_rank{r}.json").read_text()) for r in range(n)]
        runs[n] = {
            "traces": traces,
            "predictions": pd.read_parquet(out / "predictions.parquet"),
            "info": json.loads((out / "info.json").read_text()),
        }
    one, two = runs[1], runs[2]
    # Same optimiser steps, same learning rate at every global step, on every rank. The batch size is
    # global and an epoch's last accumulation group is stepped: ceil(ceil(prompts / 6) / 2) per epoch.
    n_train = one["info"]["n_train_prompts"]
    batches = math.ceil(n_train / SETTINGS["batch_size"])
    steps = SETTINGS["epochs"] * math.ceil(batches / SETTINGS["grad_accum"])
    assert one["info"]["optimizer_steps"] == two["info"]["optimizer_steps"] == steps
    assert len(one["traces"][0]) == steps
    assert two["traces"][0] == two["traces"][1] == one["traces"][0]
    lrs = [lr for _, lr in one["traces"][0]]
    peak = lrs.index(max(lrs))
    assert 0 < peak < len(lrs) - 1 and lrs[-1] < 0.1 * max(lrs)  # warm-up, then decay to near 0
    # Complete and not duplicated: one row per option of every held-out pair.
    for run in (one, two):
        pred = run["predictions"]
        assert not pred.duplicated(["individual", "question", "code"]).any()
        pairs = pred[["individual", "question", "part"]].drop_duplicates()
        assert len(pairs) == len(expected_pairs(split))
    assert two["info"]["num_processes"] == 2 and one["info"]["num_processes"] == 1
    print("LR trace (global step, 1 process, 2 processes):")
    for (step, a), (_, b) in zip(one["traces"][0], two["traces"][0], strict=True):
        print(f"  {step:3d}  {a:.6e}  {b:.6e}")
    print("prediction rows/pairs:", {n: len(r["predictions"]) for n, r in runs.items()})
