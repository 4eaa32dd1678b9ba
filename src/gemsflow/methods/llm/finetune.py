"""LoRA fine-tuning on answer letters; the epoch is chosen on validation, test is scored once at the end.

The loss is the negative log-likelihood of the answer letter's full continuation after the prompt (" B"
for base models, "B" for chat models), tokenised after the prompt's end by
:class:`gemsflow.methods.llm.tokens.LetterTokens`, which refuses models whose options share a first token. After
each epoch the validation prompts are scored exactly like the zero-shot backend and ``val_credit``
(the caller passes :func:`gemsflow.methods.llm.runs.validation_credit`, built on ``gemsflow.evaluation.accuracy``) ranks
the epoch. Only after training are the test prompts scored, once, with the selected epoch's adapter; no
test accuracy is computed here at all (the common scorer does that from the predictions file). The
validation predictions written are cross-fitted (:mod:`gemsflow.evaluation.selection`): each fold of validation
units gets the epoch best on the other folds, so the validation figure is out-of-fold.

Multi-process runs (``accelerate launch --multi_gpu --num_processes N``, data parallel; on a machine
without CUDA the same command gives N CPU processes in a gloo group, whereas accelerate 1.x's ``--cpu``
starts only one process unless MPI is set up) are right by construction:
* ``batch_size`` is the global batch: each global batch is split across the processes and the loss is
  scaled so that the averaged gradient is the gradient of the global batch's mean loss. The number of
  optimiser steps, and so the cosine schedule, does not depend on the number of processes.
* The schedule is not handed to ``accelerator.prepare`` (whose wrapper would step it once per process per
  optimiser step); it is stepped here, once per optimiser step. Gradient accumulation is done here too
  (``no_sync`` between the steps), so an epoch is exactly ``ceil(batches / grad_accum)`` steps.
* Evaluation is sharded across the processes and gathered, so every rank takes the same decision and no
  rank waits alone at a collective.
A run always starts from the base model: an existing adapter directory is deleted first, never resumed.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gemsflow.evaluation.selection import DEFAULT_FOLDS, out_of_fold_frame, validation_folds
from gemsflow.methods.llm.backends import TransformersBackend, load_causal_lm, right_padded
from gemsflow.methods.llm.letters import LetterScores, letter_predictions

log = logging.getLogger(__name__)


def _batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Length-sorted buckets (little padding), visited in a seeded random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def continuation_nll(model, prompts: list[list[int]], conts: list[tuple[int, ...]], pad_id: int):
    """[batch] summed negative log-likelihood of each continuation after its prompt."""
    device = next(model.parameters()).device
    input_ids, mask = right_padded(
        [p + list(c) for p, c in zip(prompts, conts, strict=True)], pad_id, device
    )
    rows = torch.tensor([r for r, c in enumerate(conts) for _ in c], device=device)
    positions = torch.tensor(
        [len(p) - 1 + k for p, c in zip(prompts, conts, strict=True) for k in range(len(c))],
        device=device,
    )
    targets = torch.tensor([t for c in conts for t in c], device=device)
    keep = torch.unique(positions)  # only these positions go through the LM head
    try:
        logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits
        picked = logits[rows, torch.searchsorted(keep, positions)]
    except TypeError:  # architectures without logits_to_keep
        picked = model(input_ids=input_ids, attention_mask=mask).logits[rows, positions]
    nll = torch.nn.functional.cross_entropy(picked.float(), targets, reduction="none")
    return torch.zeros(len(conts), device=device).index_add(0, rows, nll)


def sharded_scores(accelerator, scorer: TransformersBackend, records: list[dict]):
    """Letter scores of ``records``, each process scoring every ``world``-th one, gathered in order."""
    from accelerate.utils import gather_object

    world, rank = accelerator.num_processes, accelerator.process_index
    mine = list(range(rank, len(records), world))
    scores = scorer.letter_scores(
        [records[i]["prompt"] for i in mine], [records[i]["letters"] for i in mine]
    )
    local = [(i, s.probs.tolist(), s.mass) for i, s in zip(mine, scores, strict=True)]
    gathered = gather_object(local) if world > 1 else local
    out: list[LetterScores | None] = [None] * len(records)
    for i, probs, mass in gathered:
        out[i] = LetterScores(np.asarray(probs), mass)
    if any(s is None for s in out) or len(gathered) != len(records):
        raise RuntimeError(f"gathered {len(gathered)} scores for {len(records)} prompts")
    return out


def _setup(model_path: str, cfg: dict, accelerator, dtype: str, is_chat: bool, chat_kwargs):
    from peft import LoraConfig, get_peft_model

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
    scorer = TransformersBackend(
        model_path,
        tokenizer=tokenizer,
        model=model,
        batch_size=int(cfg["eval_batch_size"]),
        is_chat=is_chat,
        chat_template_kwargs=chat_kwargs,
    )
    return model, scorer


def _training_data(scorer: TransformersBackend, records: list[dict], is_chat: bool):
    texts, inputs = scorer.encode_texts([r["prompt"] for r in records])
    targets = [
        scorer.letter_tokens.training_target(text, r["letters"], r["label"], is_chat)
        for text, r in zip(texts, records, strict=True)
    ]
    return inputs, targets


def _epoch(ctx: dict, epoch: int, batches: list[list[int]]) -> list[float]:
    """One pass over the global batches; each process takes its share of every batch.

    Gradients of ``grad_accum`` consecutive batches are summed (without all-reduce in between) before an
    optimiser step; the epoch's last group may be shorter and is stepped too, so an epoch is exactly
    ``ceil(batches / grad_accum)`` optimiser steps and nothing is carried into the next epoch.
    """
    accelerator, model, optimizer, schedule = (
        ctx[k] for k in ("accelerator", "model", "optimizer", "schedule")
    )
    world, rank, accum = accelerator.num_processes, accelerator.process_index, ctx["grad_accum"]
    inputs, targets, pad_id = ctx["inputs"], ctx["targets"], ctx["pad_id"]
    model.train()
    losses = []
    for b, rows in enumerate(
        tqdm(batches, desc=f"epoch {epoch}", disable=not accelerator.is_main_process)
    ):
        group_start = b - b % accum
        group = min(accum, len(batches) - group_start)  # batches in this optimiser step
        sync = b == group_start + group - 1
        mine = rows[rank::world]
        # A process without rows of a short last batch still joins the gradient all-reduce, weight 0.
        weight = 1.0 if mine else 0.0
        mine = mine or rows[:1]
        with contextlib.nullcontext() if sync else accelerator.no_sync(model):
            nll = continuation_nll(
                model, [inputs[i] for i in mine], [targets[i] for i in mine], pad_id
            )
            # Gradients are averaged over the processes: scaling by world / global batch size makes
            # the average the gradient of the global batch's mean loss (and of the group's mean).
            loss = nll.sum() * weight * world / len(rows) / group
            accelerator.backward(loss)
        if sync:
            ctx["on_step"](ctx["step"], schedule.get_last_lr()[0])
            ctx["step"] += 1
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        losses.append(float(nll.mean().detach()) if weight else float("nan"))
    return losses


def train_lora(
    model_path: str,
    train_records: list[dict],
    val_records: list[dict],
    test_records: list[dict],
    val_credit: Callable[[pd.DataFrame], tuple[pd.Series, np.ndarray]],
    adapter_dir: str | Path,
    *,
    settings: dict,
    seed: int = 0,
    folds: int = DEFAULT_FOLDS,
    unit: str = "individual",
    dtype: str = "auto",
    is_chat: bool = False,
    chat_template_kwargs: dict | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Train, pick the epoch on validation, score test once; return val+test predictions and a summary.

    ``on_step(step, lr)`` is called before every optimiser step with the learning rate it uses.
    """
    from accelerate import Accelerator

    cfg = (
        settings  # llm.lora merged with the model's overrides; config/config.yaml owns the defaults
    )
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # cpu=True without CUDA: launched processes then form a gloo group (MULTI_CPU) instead of each
    # running the whole job alone.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    adapter_dir = Path(adapter_dir)
    if accelerator.is_main_process and adapter_dir.exists():
        log.info("removing the adapter of a previous run in %s (runs never resume)", adapter_dir)
        shutil.rmtree(adapter_dir)
    model, scorer = _setup(model_path, cfg, accelerator, dtype, is_chat, chat_template_kwargs)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    inputs, targets = _training_data(scorer, train_records, is_chat)

    generator = torch.Generator().manual_seed(seed)
    ctx = _training_context(accelerator, model, trainable, cfg, inputs, targets, scorer.pad_id)
    ctx["on_step"] = on_step or (lambda step, lr: None)
    # The untrained model's validation figure: what fine-tuning is measured against (not a candidate).
    before, _, _ = _validate(ctx, scorer, val_records, val_credit, 0, [])
    log.info("before training: %s", before)
    history, best, best_state, val_frames, val_credits = [], None, None, [], []
    for epoch in range(1, int(cfg["epochs"]) + 1):
        batches = _batches([len(x) for x in inputs], int(cfg["batch_size"]), generator)
        losses = _epoch(ctx, epoch, batches)
        entry, predictions, (units, credit) = _validate(
            ctx, scorer, val_records, val_credit, epoch, losses
        )
        history.append(entry)
        val_frames.append(predictions)
        val_credits.append(credit)
        log.info("epoch %d: %s", epoch, entry)
        if best is None or entry["val_accuracy"] > best["val_accuracy"]:
            best = entry
            best_state = {n: p.detach().clone() for n, p in trainable.items()}
    fold = validation_folds(units, folds, seed, unit)
    best_val, _, chosen = out_of_fold_frame(val_frames, np.stack(val_credits), units, fold, unit)
    test = _score_selected(ctx, scorer, trainable, best_state, adapter_dir, test_records)
    predictions = pd.concat([best_val, test], ignore_index=True)
    info = {
        "epochs": history,
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "val_accuracy_before_training": before["val_accuracy"],
        "fold_selected": [
            {"predicts_fold": j, "epoch": history[c]["epoch"]} for j, c in enumerate(chosen)
        ],
        "out_of_fold_val_accuracy": float(val_credit(best_val)[1].mean()),
        "selected_on": (
            f"validation accuracy; validation predictions cross-fitted over {folds} folds of "
            f"{unit} units"
        ),
        "n_train_prompts": len(train_records),
        "optimizer_steps": ctx["step"],
        "num_processes": accelerator.num_processes,
        "trainable_parameters": int(sum(p.numel() for p in trainable.values())),
        # The frozen base model's size, as the other LLM runs report it (leaderboard labels).
        "model_parameters": int(
            sum(p.numel() for n, p in model.named_parameters() if n not in trainable)
        ),
        "hyperparameters": cfg,
    }
    return predictions, info


def _training_context(
    accelerator, model, trainable: dict, cfg: dict, inputs: list, targets: list, pad_id: int
) -> dict:
    """AdamW with cosine warm-up decay over all optimiser steps, prepared by ``accelerator``; the
    state an epoch (:func:`_epoch`) works on."""
    from transformers import get_cosine_schedule_with_warmup

    n_batches = -(-len(inputs) // int(cfg["batch_size"]))
    steps_per_epoch = -(-n_batches // int(cfg["grad_accum"]))
    total = steps_per_epoch * int(cfg["epochs"])
    optimizer = torch.optim.AdamW(
        list(trainable.values()), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"])
    )
    schedule = get_cosine_schedule_with_warmup(
        optimizer, int(round(cfg["warmup_ratio"] * total)), total
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    return {
        "accelerator": accelerator,
        "model": model,
        "optimizer": optimizer,
        "schedule": schedule,
        "inputs": inputs,
        "targets": targets,
        "pad_id": pad_id,
        "grad_accum": int(cfg["grad_accum"]),
        "step": 0,
    }


def _validate(
    ctx: dict,
    scorer,
    val_records: list[dict],
    val_credit: Callable[[pd.DataFrame], tuple[pd.Series, np.ndarray]],
    epoch: int,
    losses: list[float],
) -> tuple[dict, pd.DataFrame, tuple[pd.Series, np.ndarray]]:
    """Score the validation prompts after an epoch: its history entry, its predictions and their
    per-pair (unit, credit)."""
    accelerator, model = ctx["accelerator"], ctx["model"]
    model.eval()
    scorer.model = accelerator.unwrap_model(model)
    scores = sharded_scores(accelerator, scorer, val_records)
    predictions = letter_predictions(val_records, scores)
    units, credit = val_credit(predictions)
    entry = {
        "epoch": epoch,
        "train_loss": float(np.nanmean(losses)) if losses else None,
        "val_accuracy": float(credit.mean()),
        "mean_valid_mass": float(np.mean([s.mass for s in scores])) if scores else None,
    }
    return entry, predictions, (units, credit)


def _score_selected(
    ctx: dict,
    scorer,
    trainable: dict,
    best_state: dict,
    adapter_dir: Path,
    test_records: list[dict],
) -> pd.DataFrame:
    """The selected epoch's adapter: restored, saved, then the one and only scoring of the test
    prompts."""
    accelerator = ctx["accelerator"]
    with torch.no_grad():
        for name, param in trainable.items():
            param.copy_(best_state[name])
    scorer.model = accelerator.unwrap_model(ctx["model"])
    scorer.model.eval()
    if accelerator.is_main_process:
        scorer.model.save_pretrained(adapter_dir)
    test_scores = sharded_scores(accelerator, scorer, test_records)
    accelerator.wait_for_everyone()
    return letter_predictions(test_records, test_scores)
