"""SAGE message passing as sparse matrices against edge lists, measured in the same run on a cached graph.

The sage model hands each relation to PyG's ``SAGEConv`` as a CSR (destination x source) matrix, so the
mean over neighbours is one fused sparse-dense product; the baseline is the same layers on the plain
edge lists (a gathered edges x channels message tensor, then a scatter). Both run forward and backward
through the model's two ``HeteroConv`` layers, on the same weights and the same draws of message edges,
one thread. It also times one whole training step (decoder and optimiser included) for scale.

Usage: ``python benchmarks/sage_sparse_speed.py results/graphs/setting1/twin/seed41/graph.pt
[--steps 20]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from gemsflow.config import resolve_config
from gemsflow.io import load_torch
from gemsflow.methods.gnn.models import sparse_adjacency
from gemsflow.methods.gnn.training import Trainer

ROOT = Path(__file__).resolve().parents[1]


def layers_forward_backward(trainer: Trainer, graph: dict, sparse: bool) -> float:
    """Seconds for the two layers' forward and backward on one message graph."""
    model = trainer.model
    h = model.encoders(trainer.trait_codes)
    if sparse:
        graph = sparse_adjacency(graph, h)
    started = time.perf_counter()
    for conv, norms in zip(model.layers, model.norms, strict=True):
        new = conv(h, graph)
        h = {t: torch.relu(norms[t](new[t])) for t in model.node_types}
    sum(x.sum() for x in h.values()).backward()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graph")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    bundle = load_torch(args.graph)
    cfg = resolve_config(config["gnn"], "sage", bundle["dataset"])
    trainer = Trainer(bundle, "sage", cfg, seed=0)
    times = {"edge lists (baseline)": 0.0, "CSR matrices": 0.0}
    for _ in range(args.steps):
        message, _ = trainer.drawer.draw()
        graph = trainer._edges(message)
        times["edge lists (baseline)"] += layers_forward_backward(trainer, graph, sparse=False)
        times["CSR matrices"] += layers_forward_backward(trainer, graph, sparse=True)
    optimizer, scheduler = trainer._optimizer(total_steps=args.steps)
    started = time.perf_counter()
    trainer.train_epoch(optimizer, scheduler, args.steps)
    step = (time.perf_counter() - started) / args.steps
    base = times["edge lists (baseline)"]
    print(
        f"{args.graph}: {args.steps} message graphs, 1 thread; whole training step {step * 1e3:.0f} ms\n"
    )
    print("| message passing | ms per step (2 layers, fwd+bwd) | speed-up vs baseline |")
    print("|---|---:|---:|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds / args.steps * 1e3:.1f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
