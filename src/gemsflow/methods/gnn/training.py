"""Train a GEMS model on a cached graph bundle, select it by validation accuracy, write its outputs.

Schedule: every optimisation step draws a fresh split of the training answers into message-passing and
supervision edges (setting-dependent, see :func:`draw_sample`); ``steps_per_epoch`` steps make an epoch,
after which the model is evaluated on the validation answers with all training answers as the
message-passing graph. The best epoch by validation accuracy is kept (for test predictions); training
stops after ``patience`` epochs without improvement or at ``max_epochs``. The validation predictions of
each fold of validation people come from the epoch best on the other folds (:mod:`gemsflow.evaluation.selection`),
so the validation figure the scorer reads is not flattered by the choice of epoch. AdamW, cosine
learning-rate decay over the maximal number of steps, global gradient-norm clipping.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from gemsflow.config import setting_config
from gemsflow.data.splits import TEST, TRAIN, VAL
from gemsflow.errors import InputDataError
from gemsflow.evaluation.accuracy import pair_credit
from gemsflow.evaluation.selection import (
    DEFAULT_FOLDS,
    held_out_accuracy,
    n_folds_of,
    validation_folds,
)
from gemsflow.io import atomic_path, write_json, write_parquet, write_text
from gemsflow.methods.gnn.models import AnswerGraphs, GemsModel
from gemsflow.reproducibility import DEFAULT_THREADS, configure_torch

log = logging.getLogger("gemsflow.methods.gnn")


class SampleDrawer:
    """Draws training samples: which training answers pass messages and which are supervision.

    ``edges``: a random ``fraction`` of all training answers is supervision (settings 1 and 3).
    ``individuals``: all answers of a random ``fraction`` of the individuals with training answers are
    supervision; those individuals keep their subgroup edges (setting 2, mimicking unseen people).
    """

    def __init__(
        self, bundle: dict[str, Any], mode: str, fraction: float, generator: torch.Generator
    ):
        self.mode = mode
        self.fraction = fraction
        self.generator = generator
        self.train_ids = torch.nonzero(bundle["answer_role"] == TRAIN).flatten()
        self.train_ind = bundle["answer_individual"][self.train_ids]
        self.people = torch.unique(self.train_ind)
        self.n_individuals = len(bundle["individuals"])

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(message-passing answer ids, supervision answer ids), disjoint, covering the training pool."""
        if self.mode == "edges":
            perm = torch.randperm(len(self.train_ids), generator=self.generator)
            n_sup = int(len(perm) * self.fraction)
            sup = torch.zeros(len(perm), dtype=torch.bool)
            sup[perm[:n_sup]] = True
        else:
            perm = torch.randperm(len(self.people), generator=self.generator)
            chosen = torch.zeros(self.n_individuals, dtype=torch.bool)
            chosen[self.people[perm[: int(len(perm) * self.fraction)]]] = True
            sup = chosen[self.train_ind]
        return self.train_ids[~sup], self.train_ids[sup]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputDataError(
            None,
            "gnn device",
            f"device {name!r} was asked for, but this machine's torch sees no CUDA GPU",
            "set device: auto (CUDA when present, else CPU) or cpu in the gnn block, or run the job "
            "on a GPU node (profiles/slurm)",
        )
    return torch.device(name)


@dataclass
class BestEpoch:
    """Early-stopping rule: the best epoch so far by validation accuracy, and how many epochs have
    passed without improving on it. Model-free, so the rule can be replayed on a saved curve
    (:func:`replay_patience`)."""

    patience: int
    val_acc: float = -1.0
    epoch: int = 0
    without_improvement: int = 0

    def update(self, epoch: int, val_acc: float) -> bool:
        """Record one epoch; True when it is the new best."""
        if val_acc > self.val_acc:
            self.val_acc, self.epoch = val_acc, epoch
            self.without_improvement = 0
            return True
        self.without_improvement += 1
        return False

    @property
    def exhausted(self) -> bool:
        """``patience`` epochs in a row did not improve: stop."""
        return self.without_improvement >= self.patience


def replay_patience(val_accs: list[float], patience: int) -> tuple[int, float, int]:
    """(selected epoch, its validation accuracy, epochs run) had training used ``patience``.

    Training is deterministic and the learning-rate schedule depends on ``max_epochs`` only, so a curve
    run with a larger patience contains every epoch a smaller patience would have run.
    """
    best = BestEpoch(patience=patience)
    for epoch, val_acc in enumerate(val_accs, start=1):
        best.update(epoch, val_acc)
        if best.exhausted:
            return best.epoch, best.val_acc, epoch
    return best.epoch, best.val_acc, len(val_accs)


class Trainer:
    """One GEMS run on a graph bundle. :meth:`fit` repeats :meth:`train_epoch` (``steps_per_epoch``
    calls of :meth:`train_step`) and :meth:`evaluate` on the validation answers, :class:`BestEpoch`
    keeping the best epoch and deciding when to stop; :meth:`predictions` and :meth:`embeddings` then
    read the selected model."""

    def __init__(
        self,
        bundle: dict[str, Any],
        arch: str,
        cfg: dict[str, Any],
        seed: int,
        folds: int = DEFAULT_FOLDS,
    ):
        self.bundle = bundle
        self.arch = arch
        self.cfg = cfg
        self.seed = int(seed)
        self.device = pick_device(str(cfg.get("device", "auto")))
        # Thread count from the config, not the scheduler's cores: it decides CPU summation order.
        configure_torch(cfg.get("threads", DEFAULT_THREADS), bool(cfg.get("deterministic", False)))
        torch.manual_seed(self.seed)
        sizes = {"individual": len(bundle["individuals"]), "choice": len(bundle["choices"])}
        if bundle["subgroups"]:
            sizes["subgroup"] = len(bundle["subgroups"])
        self.model = GemsModel(arch, cfg["model"], cfg["encoders"], sizes, bundle["trait_sizes"])
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.setting = setting_config(cfg, bundle["setting"])
        self.generator = torch.Generator().manual_seed(self.seed)
        self.drawer = SampleDrawer(
            bundle,
            self.setting["supervision"],
            float(self.setting["supervision_fraction"]),
            self.generator,
        )
        self.trait_codes = bundle["trait_codes"].to(self.device)
        self.question_choices = bundle["question_choices"].to(self.device)
        self.target_slot = bundle["choice_position"][bundle["answer_choice"]]
        self.graphs = AnswerGraphs(
            bundle, self.drawer.train_ids, self.model.relations, self.model.graph_form
        )
        self.eval_graph = self._edges(self.drawer.train_ids)
        self.fold_states: list[dict] = []  # filled by fit(): the state of each fold's epoch
        val_people = np.asarray(bundle["individuals"], dtype=object)[
            bundle["answer_individual"][self._answers(VAL)].numpy()
        ]
        self.val_fold = (
            validation_folds(pd.Series(val_people, dtype=str), int(folds), self.seed)
            if len(val_people)
            else np.zeros(0, dtype=np.int64)
        )
        self.folds = n_folds_of(self.val_fold)

    def _edges(self, answer_ids: torch.Tensor) -> dict:
        return {rel: e.to(self.device) for rel, e in self.graphs(answer_ids).items()}

    def _logits(self, z: dict[str, torch.Tensor], answer_ids: torch.Tensor) -> torch.Tensor:
        """Decoder scores of the answers' options, padded to the widest question with -inf."""
        b = self.bundle
        return self.model.logits(
            z,
            b["answer_individual"][answer_ids].to(self.device),
            b["answer_question"][answer_ids].to(self.device),
            self.question_choices,
        )

    def _logits_target(
        self, z: dict[str, torch.Tensor], answer_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._logits(z, answer_ids), self.target_slot[answer_ids].to(self.device)

    def _answers(self, role: int) -> torch.Tensor:
        return torch.nonzero(self.bundle["answer_role"] == role).flatten()

    @torch.no_grad()
    def embed(self) -> dict[str, torch.Tensor]:
        self.model.eval()
        return self.model(self.trait_codes, self.eval_graph)

    @torch.no_grad()
    def evaluate(self, role: int) -> tuple[float, np.ndarray]:
        """Loss and per-answer tie-aware credit (:mod:`gemsflow.evaluation.accuracy`) on the answers of one role."""
        logits, target = self._logits_target(self.embed(), self._answers(role))
        loss = F.cross_entropy(logits, target)
        # Padding slots are -inf: never a maximum, never tied with a real option.
        credit = pair_credit(logits.double().cpu().numpy(), target.cpu().numpy())
        return float(loss), credit

    def fit(self, progress: bool = True) -> dict[str, Any]:
        """Train epoch by epoch, keep the best epoch by validation accuracy, return the run's info."""
        t = self.cfg["training"]
        max_epochs, steps = int(t["max_epochs"]), int(t["steps_per_epoch"])
        optimizer, scheduler = self._optimizer(total_steps=max_epochs * steps)
        if len(self._answers(VAL)) == 0:
            raise InputDataError(
                "split.parquet", "part", "no validation answers in the graph", "use val_ratio > 0"
            )
        curve = []
        best = BestEpoch(patience=int(t["patience"]))
        # Per fold: the best epoch by accuracy on the other folds' validation answers (patience unused).
        fold_bests = [BestEpoch(patience=max_epochs) for _ in range(self.folds)]
        self.fold_states = [{} for _ in range(self.folds)]
        fold_credit = np.zeros(self.folds)
        started = time.perf_counter()
        bar = tqdm(total=max_epochs, desc=f"{self.arch} epochs", disable=not progress)
        for epoch in range(1, max_epochs + 1):
            train_loss = self.train_epoch(optimizer, scheduler, steps)
            val_loss, credit = self.evaluate(VAL)
            val_acc = float(credit.mean())
            curve.append((epoch, train_loss, val_loss, val_acc))
            bar.set_postfix(val_acc=f"{val_acc:.4f}", refresh=False)
            bar.update(1)
            if best.update(epoch, val_acc):
                best_state = copy.deepcopy(self.model.state_dict())
            held_out = held_out_accuracy(credit, self.val_fold)
            for fold, fold_best in enumerate(fold_bests):
                if fold_best.update(epoch, float(held_out[fold])):
                    self.fold_states[fold] = copy.deepcopy(self.model.state_dict())
                    fold_credit[fold] = float(credit[self.val_fold == fold].sum())
            if best.exhausted:
                break
        if best.exhausted:
            # A bar left at 38/100 reads like a crash: end it full, saying why it stopped.
            bar.set_description(
                f"{self.arch} epochs, early stop: no gain in {best.patience}, best {best.epoch}",
                refresh=False,
            )
            bar.total = len(curve)
        bar.close()
        seconds = time.perf_counter() - started
        self.model.load_state_dict(best_state)
        log.info(
            "%s: best epoch %d of %d, val accuracy %.4f, %.1f s",
            self.arch,
            best.epoch,
            len(curve),
            best.val_acc,
            seconds,
        )
        info = self._run_info(best, curve, steps, seconds)
        info["stopped_by"] = "patience" if best.exhausted else "max_epochs"
        if not best.exhausted:
            # The cap ended a run that was still improving within its patience: say so, in the log and
            # in run_info, rather than leave a larger survey silently undertrained.
            log.warning(
                "%s: reached max_epochs %d with its best epoch %d within the last %d epochs (patience): "
                "it may be undertrained; raise gnn training.max_epochs",
                self.arch,
                len(curve),
                best.epoch,
                best.patience,
            )
        info["selection"]["epoch"]["per_fold"] = [
            {
                "predicts_fold": fold,
                "epoch": fold_best.epoch,
                "val_accuracy_other_folds": fold_best.val_acc,
            }
            for fold, fold_best in enumerate(fold_bests)
        ]
        info["out_of_fold_val_accuracy"] = float(fold_credit.sum() / max(len(self.val_fold), 1))
        return info

    def _optimizer(self, total_steps: int) -> tuple[torch.optim.Optimizer, Any]:
        """AdamW over the trainable parameters, cosine decay over the maximal number of steps."""
        t = self.cfg["training"]
        optimizer = torch.optim.AdamW(
            self.params, lr=float(t["learning_rate"]), weight_decay=float(t["weight_decay"])
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return optimizer, scheduler

    def train_epoch(self, optimizer: torch.optim.Optimizer, scheduler: Any, steps: int) -> float:
        """``steps`` optimisation steps; the mean training loss."""
        self.model.train()
        losses = [self.train_step(optimizer, scheduler) for _ in range(steps)]
        return float(np.mean(losses))

    def train_step(self, optimizer: torch.optim.Optimizer, scheduler: Any) -> float:
        """One step on a fresh draw of message-passing and supervision answers; its loss."""
        message, supervision = self.drawer.draw()
        z = self.model(self.trait_codes, self._edges(message))
        loss = F.cross_entropy(*self._logits_target(z, supervision))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, float(self.cfg["training"]["max_grad_norm"]))
        optimizer.step()
        scheduler.step()
        return loss.item()

    def _run_info(
        self, best: BestEpoch, curve: list[tuple], steps: int, seconds: float
    ) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "best_epoch": best.epoch,
            "epochs_run": len(curve),
            "steps_per_epoch": steps,
            "best_val_accuracy": best.val_acc,
            # Every choice made on validation, with the figure it was made on (test is never read).
            "selection": {
                "epoch": {
                    "selected": best.epoch,
                    "val_accuracy": best.val_acc,
                    "candidates": len(curve),
                }
            },
            "train_seconds": round(seconds, 3),
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "temperature": self.model.temperature.item(),
            "device": str(self.device),
            "curve": curve,
        }

    @torch.no_grad()
    def _probabilities(self, answer_ids: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self._logits(self.embed(), answer_ids).double(), dim=1).cpu()

    @torch.no_grad()
    def predictions(self) -> pd.DataFrame:
        """Per-option probabilities of every val and test answer (the predictions.parquet format)."""
        b = self.bundle
        ids = torch.nonzero(b["answer_role"] != TRAIN).flatten()
        probs = self._probabilities(ids)
        # Validation answers of each fold: the epoch chosen on the other folds (ids are sorted, as are
        # the validation answers val_fold follows).
        val_rows = torch.nonzero(b["answer_role"][ids] == VAL).flatten()
        selected = copy.deepcopy(self.model.state_dict())
        for fold, state in enumerate(self.fold_states):
            rows = val_rows[torch.from_numpy(self.val_fold == fold)]
            if state and len(rows):
                self.model.load_state_dict(state)
                probs[rows] = self._probabilities(ids[rows])
        self.model.load_state_dict(selected)
        slots = b["question_choices"][b["answer_question"][ids]]
        row, col = torch.nonzero(slots >= 0, as_tuple=True)
        answer = ids[row]
        individuals = np.asarray(b["individuals"], dtype=object)
        questions = np.asarray(b["questions"], dtype=object)
        parts = np.where(b["answer_role"][answer].numpy() == TEST, "test", "val")
        return pd.DataFrame(
            {
                "individual": individuals[b["answer_individual"][answer].numpy()],
                "question": questions[b["answer_question"][answer].numpy()],
                "part": parts,
                "code": b["choice_code"][slots[row, col]].numpy().astype(np.int64),
                "prob": probs[row, col].numpy().astype(np.float64),
            }
        ).astype({"individual": str, "question": str, "part": str})

    @torch.no_grad()
    def embeddings(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Setting-3 export: individual and (training-question) choice embeddings plus temperature."""
        z = self.embed()
        tensors = {
            "individual_embeddings": z["individual"].float().cpu().contiguous(),
            "choice_embeddings": z["choice"].float().cpu().contiguous(),
            "temperature": self.model.temperature.detach().float().cpu().reshape(1),
        }
        metadata = {
            "format": "gemsflow.gnn_embeddings/1",
            "arch": self.arch,
            "individuals": json.dumps(self.bundle["individuals"]),
            "choices": json.dumps(self.bundle["choices"]),
        }
        return tensors, metadata


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]):
    with atomic_path(path) as tmp:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata
        )


def write_curve(curve: list[tuple], path: str | Path) -> None:
    lines = ["epoch\ttrain_loss\tval_loss\tval_acc"]
    lines += [f"{e}\t{tl:.6f}\t{vl:.6f}\t{va:.6f}" for e, tl, vl, va in curve]
    write_text("\n".join(lines) + "\n", path)


def train_run(
    bundle: dict[str, Any],
    arch: str,
    cfg: dict[str, Any],
    seed: int,
    outputs: dict[str, str],
    progress: bool = True,
    folds: int = DEFAULT_FOLDS,
) -> dict[str, Any]:
    """Train one (setting, dataset, arch, seed) and write the files named in ``outputs``.

    Keys of ``outputs``: ``curve``, ``model``, ``run_info`` always; ``predictions`` (settings with
    held-out answers) or ``embeddings`` (setting 3).
    """
    trainer = Trainer(bundle, arch, cfg, seed, folds=folds)
    info = trainer.fit(progress=progress)
    write_curve(info.pop("curve"), outputs["curve"])
    save_safetensors(
        trainer.model.state_dict(), outputs["model"], {"arch": arch, "config": json.dumps(cfg)}
    )
    if "predictions" in outputs:
        write_parquet(trainer.predictions(), outputs["predictions"])
    if "embeddings" in outputs:
        tensors, metadata = trainer.embeddings()
        save_safetensors(tensors, outputs["embeddings"], metadata)
    info.update(
        {"graph_key": bundle["key"], "seed": int(seed), "setting": bundle["setting"], "config": cfg}
    )
    write_json(info, outputs["run_info"])
    return info
