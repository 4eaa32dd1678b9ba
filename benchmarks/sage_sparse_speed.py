"""SAGE message passing as sparse matrices against edge lists, measured in the same run on a cached graph.

The sage model hands each relation to its layers as an :class:`~gemsflow.methods.gnn.models.Adjacency`:
a CSR (destination x source) matrix built without sorting from orders sorted once, with its transpose,
so the mean over neighbours and its gradient are each one sparse-dense product. Two baselines run the
same layers through PyG's ``SAGEConv``: on the plain edge lists (a gathered edges x channels message
tensor, then a scatter), and on PyG's CSR of each step's edges (``to_torch_csr_tensor``, which sorts the
edges; torch's CSR mean then sorts them again in backward). Each builds its graph from the same draws of
message edges and runs forward and backward through the model's two layers, same weights, one thread.
It also times one whole training step (decoder and optimiser included) for scale.

Usage: ``python benchmarks/sage_sparse_speed.py results/graphs/setting1/twin/seed41/graph.pt
[--steps 20]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

from gemsflow.config import resolve_config
from gemsflow.io import load_torch
from gemsflow.methods.gnn.models import full_edge_index
from gemsflow.methods.gnn.training import Trainer

ROOT = Path(__file__).resolve().parents[1]


def layers_forward_backward(trainer: Trainer, message: torch.Tensor, form: str) -> float:
    """Seconds to build the graph of one draw of message answers, then the two layers' forward and
    backward on it."""
    model = trainer.model
    h = model.encoders(trainer.trait_codes)
    started = time.perf_counter()
    if form == "Adjacency (this)":
        graph = trainer._edges(message)
    else:
        edges = full_edge_index(trainer.bundle, message, model.relations)
        if form == "PyG CSR":
            sizes = {t: len(x) for t, x in h.items()}
            edges = {
                rel: to_torch_csr_tensor(e.flip(0), size=(sizes[rel[2]], sizes[rel[0]]))
                for rel, e in edges.items()
            }
    for conv, norms in zip(model.layers, model.norms, strict=True):
        if form == "Adjacency (this)":
            new = conv(h, graph)
        else:
            new = {}
            for rel, edge_index in edges.items():
                out = SAGEConv.forward(conv.convs[rel], (h[rel[0]], h[rel[2]]), edge_index)
                new[rel[2]] = new[rel[2]] + out if rel[2] in new else out
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
    times = {"edge lists (baseline)": 0.0, "PyG CSR": 0.0, "Adjacency (this)": 0.0}
    for _ in range(args.steps):
        message, _ = trainer.drawer.draw()
        for form in times:
            times[form] += layers_forward_backward(trainer, message, form)
    optimizer, scheduler = trainer._optimizer(total_steps=args.steps)
    started = time.perf_counter()
    trainer.train_epoch(optimizer, scheduler, args.steps)
    step = (time.perf_counter() - started) / args.steps
    base = times["edge lists (baseline)"]
    print(
        f"{args.graph}: {args.steps} message graphs, 1 thread; whole training step {step * 1e3:.0f} ms\n"
    )
    print("| message passing | ms per step (graph, 2 layers fwd+bwd) | speed-up vs baseline |")
    print("|---|---:|---:|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds / args.steps * 1e3:.1f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
