"""LoRA fine-tuning on answer letters, evaluated every epoch with the common scorer.

Only the answer token is supervised: the loss is the cross-entropy of the next-token distribution at the
prompt's last token against the first token of " <label>" ("<label>" for chat models). After each epoch
the model scores the val and test prompts exactly like the zero-shot backend, the common scorer turns
them into accuracies, and the predictions and adapter of the epoch with the best validation accuracy are kept (its test accuracy is the
reported one). A run always starts from the base model: an existing adapter directory is deleted first,
never resumed. Multi-GPU runs go through ``accelerate launch`` (data parallel); nothing is logged to W&B.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gemsflow.llm.backends import (
    TransformersBackend,
    last_token_logits,
    load_causal_lm,
    right_padded,
)
from gemsflow.llm.letters import predictions_frame

log = logging.getLogger(__name__)

DEFAULTS = {
    "r": 8,
    "alpha": 32,
    "dropout": 0.05,
    "target_modules": ["q_proj", "v_proj"],
    "lr": 2e-4,
    "epochs": 3,
    "batch_size": 8,
    "grad_accum": 1,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "eval_batch_size": 16,
}


def _batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Length-sorted buckets (little padding), visited in a seeded random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train_lora(
    model_path: str,
    train_records: list[dict],
    eval_records: list[dict],
    evaluate: Callable[[pd.DataFrame], dict],
    adapter_dir: str | Path,
    *,
    settings: dict | None = None,
    seed: int = 0,
    dtype: str = "auto",
    is_chat: bool = False,
    chat_template_kwargs: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Train, evaluate per epoch, return the best-val-epoch predictions and a run summary.

    ``evaluate(predictions)`` returns ``{"val": accuracy, "test": accuracy}`` for predictions of
    ``eval_records`` (the workflow passes the common scorer).
    """
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model
    from transformers import get_cosine_schedule_with_warmup

    cfg = {**DEFAULTS, **(settings or {})}
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    accelerator = Accelerator(gradient_accumulation_steps=int(cfg["grad_accum"]))
    adapter_dir = Path(adapter_dir)
    if accelerator.is_main_process and adapter_dir.exists():
        log.info("removing the adapter of a previous run in %s (runs never resume)", adapter_dir)
        shutil.rmtree(adapter_dir)

    tokenizer, base = load_causal_lm(model_path, dtype=dtype, device=str(accelerator.device))
    base.config.use_cache = False
    model = get_peft_model(
        base,
        LoraConfig(
            r=int(cfg["r"]),
            lora_alpha=int(cfg["alpha"]),
            lora_dropout=float(cfg["dropout"]),
            target_modules=list(cfg["target_modules"]),
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    scorer = TransformersBackend(
        model_path,
        tokenizer=tokenizer,
        model=model,
        batch_size=int(cfg["eval_batch_size"]),
        is_chat=is_chat,
        chat_template_kwargs=chat_template_kwargs,
    )
    inputs = scorer.encode([r["prompt"] for r in train_records])
    # After a base model's "Answer:" the letter comes with its space; a chat model's reply starts bare.
    spacer = "" if is_chat else " "
    targets = [
        tokenizer.encode(f"{spacer}{r['label']}", add_special_tokens=False)[0]
        for r in train_records
    ]

    generator = torch.Generator().manual_seed(seed)
    batch_size = int(cfg["batch_size"])
    steps_per_epoch = (
        -(-len(inputs) // batch_size // accelerator.num_processes) // int(cfg["grad_accum"]) or 1
    )
    total = steps_per_epoch * int(cfg["epochs"])
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=float(cfg["lr"]),
        weight_decay=float(cfg["weight_decay"]),
    )
    schedule = get_cosine_schedule_with_warmup(
        optimizer, int(round(cfg["warmup_ratio"] * total)), total
    )
    model, optimizer, schedule = accelerator.prepare(model, optimizer, schedule)
    pad_id = scorer.pad_id

    history, best, best_predictions = [], None, None
    for epoch in range(1, int(cfg["epochs"]) + 1):
        model.train()
        batches = _batches([len(x) for x in inputs], batch_size, generator)
        # Every rank needs the same number of steps: the last batches are repeated, never dropped.
        world, rank = accelerator.num_processes, accelerator.process_index
        while len(batches) % world:
            batches.append(batches[len(batches) % max(1, len(batches))])
        losses = []
        for rows in tqdm(
            batches[rank::world], desc=f"epoch {epoch}", disable=not accelerator.is_main_process
        ):
            with accelerator.accumulate(model):
                input_ids, mask = right_padded(
                    [inputs[i] for i in rows], pad_id, accelerator.device
                )
                last = last_token_logits(model, input_ids, mask)
                loss = torch.nn.functional.cross_entropy(
                    last.float(),
                    torch.tensor([targets[i] for i in rows], device=accelerator.device),
                )
                accelerator.backward(loss)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
            losses.append(float(loss.detach()))
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            continue
        model.eval()
        scorer.model = accelerator.unwrap_model(model)
        scores = scorer.letter_scores(
            [r["prompt"] for r in eval_records], [r["letters"] for r in eval_records]
        )
        predictions = predictions_frame(eval_records, scores)
        accuracy = evaluate(predictions)
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)) if losses else None,
            "val_accuracy": accuracy["val"],
            "test_accuracy": accuracy["test"],
            "mean_valid_mass": float(np.mean([s.mass for s in scores])) if scores else None,
        }
        history.append(entry)
        log.info("epoch %d: %s", epoch, entry)
        if best is None or (entry["val_accuracy"] or 0.0) > (best["val_accuracy"] or 0.0):
            best, best_predictions = entry, predictions
            accelerator.unwrap_model(model).save_pretrained(adapter_dir)
    info = {
        "epochs": history,
        "best_epoch": best["epoch"] if best else None,
        "val_accuracy_at_best": best["val_accuracy"] if best else None,
        "test_accuracy_at_best_val": best["test_accuracy"] if best else None,
        "n_train_prompts": len(train_records),
        "trainable_parameters": int(trainable),
        "hyperparameters": cfg,
        "adapter": str(adapter_dir),
    }
    return best_predictions, info
