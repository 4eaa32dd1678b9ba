"""The GNN decoder's dense people x choices score matrix against scoring only the answered pairs.

``GemsModel.logits`` multiplies every person's embedding with every choice's (one matrix product), then
gathers each supervision answer's option slots. The alternative computes only those (answer, option)
dot products: a batched product over gathered rows, in chunks so that memory stays bounded, with its
own backward (index_add of the gathered gradients). Both run forward and backward on random
embeddings of the given shape, one thread, in the same run; the figures are CPU seconds.

Usage: ``python benchmarks/gnn_score_matrix.py`` (the synthetic survey at 100,000 x 100, the
OpinionQA-shaped set, Twin's size), or ``--shape PEOPLE CHOICES ANSWERS OPTIONS`` for another.
"""

from __future__ import annotations

import argparse
import time

import torch

CHUNK = 1 << 16
SHAPES = {
    "synthetic 100,000 x 100 (2.9 M supervision answers)": (100_000, 452, 2_884_593, 5),
    "OpinionQA-shaped (46,170 people, 1,876 choices)": (46_170, 1_876, 600_000, 6),
    "Twin-sized (3,000 x 100)": (3_000, 452, 100_000, 5),
}


class PairScores(torch.autograd.Function):
    """Scores of the answered (person, option) pairs only: ``out[n, k] = <zu[ind[n]], zc[slots[n, k]]>``."""

    @staticmethod
    def forward(ctx, zu, zc, ind, slots):
        ctx.save_for_backward(zu, zc, ind, slots)
        out = torch.empty(slots.shape, dtype=zu.dtype)
        for start in range(0, len(ind), CHUNK):
            rows = slice(start, start + CHUNK)
            out[rows] = torch.bmm(zc[slots[rows]], zu[ind[rows]].unsqueeze(2)).squeeze(2)
        return out

    @staticmethod
    def backward(ctx, grad):
        zu, zc, ind, slots = ctx.saved_tensors
        grad_u, grad_c = torch.zeros_like(zu), torch.zeros_like(zc)
        for start in range(0, len(ind), CHUNK):
            rows = slice(start, start + CHUNK)
            g = grad[rows]
            grad_u.index_add_(0, ind[rows], torch.bmm(g.unsqueeze(1), zc[slots[rows]]).squeeze(1))
            pairs = (g.unsqueeze(2) * zu[ind[rows]].unsqueeze(1)).flatten(0, 1)
            grad_c.index_add_(0, slots[rows].flatten(), pairs)
        return grad_u, grad_c, None, None


def dense(zu, zc, ind, slots):
    """The decoder's way: the full score matrix, then one flat gather."""
    scores = zu @ zc.T
    flat = ind.unsqueeze(1) * scores.shape[1] + slots
    return scores.flatten().index_select(0, flat.flatten()).view(flat.shape)


def measure(people: int, choices: int, answers: int, options: int, dim: int = 64) -> dict:
    generator = torch.Generator().manual_seed(0)
    zu = torch.randn(people, dim, generator=generator, requires_grad=True)
    zc = torch.randn(choices, dim, generator=generator, requires_grad=True)
    ind = torch.randint(0, people, (answers,), generator=generator)
    slots = torch.randint(0, choices, (answers, options), generator=generator)
    weight = torch.randn(answers, options, generator=generator)
    seconds = {}
    for name, scores in (("dense matrix", dense), ("answered pairs", PairScores.apply)):
        for _ in range(2):  # the second repeat is reported (the first warms the allocator)
            zu.grad = zc.grad = None
            started = time.process_time()
            (scores(zu, zc, ind, slots) * weight).sum().backward()
            seconds[name] = time.process_time() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape", type=int, nargs=4, metavar=("PEOPLE", "CHOICES", "ANSWERS", "OPTIONS")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    shapes = {"given": tuple(args.shape)} if args.shape else SHAPES
    print("| shape | dense matrix, CPU s (fwd+bwd) | answered pairs, CPU s | dense / pairs |")
    print("|---|---:|---:|---:|")
    for label, shape in shapes.items():
        s = measure(*shape)
        ratio = s["dense matrix"] / s["answered pairs"]
        print(f"| {label} | {s['dense matrix']:.3f} | {s['answered pairs']:.3f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
