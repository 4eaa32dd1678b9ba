"""GEMS training speed on this CPU: graph build, sample drawing, epoch time, peak memory, epochs to best.

For Twin and Dunning-Kruger (setting 1, split seed 42), per architecture, each measured in a fresh
process so that peak memory (max RSS) belongs to that architecture alone. The sample builder is compared
with a baseline measured in the same run: the per-edge Python loop that the reference's approach amounts
to (one random draw and one list append per training answer) against the vectorised
:class:`gemsflow.methods.gnn.training.SampleDrawer`.

Usage: ``python benchmarks/gnn_speed.py [DATA_DIR] [--threads 2] [--archs mf rgcn gat sage]
[--datasets twin dunning_kruger] [--timing-epochs 3] [--no-train]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_inputs(data_dir: str, dataset: str):
    from gemsflow.data.datasets import load_source, resolve_paths
    from gemsflow.data.splits import SplitSpec, make_split

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    data = load_source(dataset, resolve_paths(config["datasets"][dataset], data_dir))
    spec = SplitSpec(**config["settings"]["setting1"])
    return config, data, make_split(data, spec, 42)


def loop_sample(train_ids: list[int], fraction: float, rng: random.Random):
    """Baseline: decide edge by edge, in Python."""
    message, supervision = [], []
    for edge in train_ids:
        (supervision if rng.random() < fraction else message).append(edge)
    return torch.tensor(message), torch.tensor(supervision)


def measure(args: tuple) -> dict:
    """One (dataset, arch) measurement; runs in its own process."""
    data_dir, dataset, arch, threads, timing_epochs, train = args
    torch.set_num_threads(threads)
    from gemsflow.config import graph_config, resolve_config
    from gemsflow.methods.gnn.graph import build_graph
    from gemsflow.methods.gnn.training import Trainer

    config, data, split = load_inputs(data_dir, dataset)
    gc = graph_config(config, dataset, "setting1")
    started = time.perf_counter()
    bundle = build_graph(data, split, gc, setting="setting1", seed=42)
    build_s = time.perf_counter() - started
    # The trainer sets the computation's thread count from its config: measure at --threads.
    cfg = {**resolve_config(config["gnn"], arch, dataset), "threads": threads}
    result = {"dataset": dataset, "arch": arch, "build_s": build_s}

    timing = Trainer(
        bundle,
        arch,
        {
            **cfg,
            "training": {**cfg["training"], "max_epochs": timing_epochs, "patience": timing_epochs},
        },
        42,
    )
    drawer = timing.drawer
    repeats = 5
    started = time.perf_counter()
    for _ in range(repeats):
        drawer.draw()
    result["draw_ms"] = (time.perf_counter() - started) / repeats * 1e3
    ids, rng = drawer.train_ids.tolist(), random.Random(0)
    started = time.perf_counter()
    for _ in range(repeats):
        loop_sample(ids, float(drawer.fraction), rng)
    result["loop_draw_ms"] = (time.perf_counter() - started) / repeats * 1e3

    info = timing.fit(progress=False)
    result["epoch_s"] = info["train_seconds"] / info["epochs_run"]
    if train:
        trainer = Trainer(bundle, arch, cfg, 42)
        info = trainer.fit(progress=False)
        result.update(
            best_epoch=info["best_epoch"],
            epochs_run=info["epochs_run"],
            train_s=info["train_seconds"],
            val_acc=info["best_val_accuracy"],
            test_acc=trainer.evaluate(2)[1],
        )
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "data_dir", nargs="?", default=str(ROOT.parent / "shared" / "data" / "gems")
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--archs", nargs="+", default=["mf", "rgcn", "gat", "sage"])
    parser.add_argument("--datasets", nargs="+", default=["twin", "dunning_kruger"])
    parser.add_argument("--timing-epochs", type=int, default=3)
    parser.add_argument("--no-train", action="store_true", help="skip the full runs to best epoch")
    args = parser.parse_args()

    jobs = [
        (args.data_dir, ds, arch, args.threads, args.timing_epochs, not args.no_train)
        for ds in args.datasets
        for arch in args.archs
    ]
    rows = []
    ctx = mp.get_context("spawn")
    for job in jobs:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(measure, (job,)))
    header = (
        "| dataset | arch | graph build s | sample draw ms (loop baseline, speed-up) | s/epoch "
        "| peak RSS MB | best epoch / run | train s | val acc | test acc |"
    )
    print(f"threads: {args.threads}; setting 1, split seed 42, training seed 42")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        ratio = r["loop_draw_ms"] / r["draw_ms"]
        trained = (
            f"{r['best_epoch']} / {r['epochs_run']} | {r['train_s']:.0f} | {r['val_acc']:.4f} "
            f"| {r['test_acc']:.4f}"
            if "best_epoch" in r
            else "- | - | - | -"
        )
        print(
            f"| {r['dataset']} | {r['arch']} | {r['build_s']:.2f} | {r['draw_ms']:.1f} "
            f"({r['loop_draw_ms']:.0f}, {ratio:.0f}x) | {r['epoch_s']:.2f} | {r['peak_mb']:.0f} "
            f"| {trained} |"
        )


if __name__ == "__main__":
    main()
