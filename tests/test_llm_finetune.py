"""LoRA fine-tuning on the toy survey with the tiny model, scored by the common scorer."""

from __future__ import annotations

import torch
from llm_toy import make_split, make_survey

from gemsflow.llm.backends import TransformersBackend
from gemsflow.llm.finetune import train_lora
from gemsflow.llm.prompts import PromptStyle, build_prompts
from gemsflow.llm.runs import accuracy_evaluator
from gemsflow.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)


def test_lora_learns_reports_best_val_epoch_and_never_resumes(tmp_path):
    data = make_survey(n_people=16)
    split = make_split(data)
    model = build_tiny_model(data, tmp_path / "tiny", seed=0)
    train = build_prompts(data, split, "train", PromptStyle(0), seed=0)
    evals = build_prompts(data, split, "val", PromptStyle(0), seed=0) + build_prompts(
        data, split, "test", PromptStyle(0), seed=0
    )
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "stale.bin").write_text("left over from an older run")
    settings = {
        "epochs": 3,
        "lr": 0.03,
        "batch_size": 8,
        "r": 4,
        "alpha": 8,
        "dropout": 0.0,
        "target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    }
    predictions, info = train_lora(
        str(model),
        train,
        evals,
        accuracy_evaluator(data, split),
        adapter,
        settings=settings,
        seed=0,
    )
    losses = [e["train_loss"] for e in info["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    best = max(info["epochs"], key=lambda e: e["val_accuracy"])  # first epoch among ties
    assert info["best_epoch"] == best["epoch"]
    assert info["test_accuracy_at_best_val"] == best["test_accuracy"]
    assert accuracy_evaluator(data, split)(predictions)["test"] == best["test_accuracy"]
    assert (adapter / "adapter_config.json").exists() and not (adapter / "stale.bin").exists()
    # The answer-token loss moves probability onto the answer letters (from the untrained model's level).
    base = TransformersBackend(str(model)).letter_scores(
        [r["prompt"] for r in evals], [r["letters"] for r in evals]
    )
    base_mass = sum(s.mass for s in base) / len(base)
    assert info["epochs"][-1]["mean_valid_mass"] > 1.5 * base_mass
    # Same seed, same run: bit-identical predictions on CPU.
    again, _ = train_lora(
        str(model),
        train,
        evals,
        accuracy_evaluator(data, split),
        tmp_path / "a2",
        settings=settings,
        seed=0,
    )
    assert again.equals(predictions)
