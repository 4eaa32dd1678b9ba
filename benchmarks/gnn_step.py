"""Where a GNN training step's time and memory go, on a cached graph bundle, with the real-data schedule.

Runs ``--steps`` training steps of one arch (``gnn.defaults`` + ``gnn.archs.<arch>``; the dataset's own
block is left out, so the synthetic survey gets the schedule real data gets), timing each part of a
step as :meth:`Trainer.train_step` runs it: the draw of message and supervision answers, the message
graph, the forward pass, the decoder and loss, backward, and the optimiser. Then one evaluation pass on
the validation answers. CPU seconds are this process's (other processes on a shared machine inflate
wall time more); the peak RSS is the process's high-water mark after each part. ``--profile`` adds a
``torch.profiler`` table of one more step, by self CPU time.

Usage: ``python benchmarks/gnn_step.py results/graphs/setting1/synthetic/seed41/graph.pt --arch sage
[--steps 3] [--profile]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from gemsflow.config import resolve_config
from gemsflow.data.splits import VAL
from gemsflow.io import load_torch
from gemsflow.methods.gnn.training import Trainer

ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graph")
    parser.add_argument("--arch", default="sage")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    gnn = yaml.safe_load((ROOT / "config/config.yaml").read_text())["gnn"]
    gnn["datasets"] = {}
    bundle = load_torch(args.graph)
    trainer = Trainer(bundle, args.arch, resolve_config(gnn, args.arch, bundle["dataset"]), 41)
    optimizer, scheduler = trainer._optimizer(total_steps=1000)
    parts: dict[str, list[float]] = {}
    peaks: dict[str, float] = {}

    def timed(name, run):
        started = time.process_time()
        out = run()
        parts.setdefault(name, []).append(time.process_time() - started)
        peaks[name] = peak_mb()
        return out

    max_norm = float(trainer.cfg["training"]["max_grad_norm"])
    for _ in range(args.steps):
        message, supervision = timed("draw", trainer.drawer.draw)
        graph = timed("message graph", lambda m=message: trainer._edges(m))
        z = timed("forward", lambda g=graph: trainer.model(trainer.trait_codes, g))
        loss = timed(
            "decoder + loss",
            lambda z=z, s=supervision: F.cross_entropy(*trainer._logits_target(z, s)),
        )
        optimizer.zero_grad(set_to_none=True)
        timed("backward", loss.backward)
        timed(
            "optimiser",
            lambda: (
                torch.nn.utils.clip_grad_norm_(trainer.params, max_norm),
                optimizer.step(),
                scheduler.step(),
            ),
        )
    timed("evaluation pass", lambda: trainer.evaluate(VAL))
    print(
        f"{args.graph}: {args.arch}, {len(bundle['individuals']):,} people, "
        f"{len(bundle['choices']):,} choices, {len(bundle['answer_role']):,} answers; "
        f"{len(supervision):,} supervision and {len(message):,} message answers per step; "
        f"1 thread, median of {args.steps} steps\n"
    )
    print("| part | CPU s | peak RSS after (MB) |")
    print("|---|---:|---:|")
    step = 0.0
    for name, seconds in parts.items():
        print(f"| {name} | {np.median(seconds):.3f} | {peaks[name]:.0f} |")
        step += np.median(seconds) if name != "evaluation pass" else 0.0
    print(f"| **step** (sum of the parts above the evaluation) | {step:.3f} | |")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            trainer.train_step(optimizer, scheduler)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
