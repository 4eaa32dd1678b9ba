"""Would blending ``similar``'s subgroup shares with a contrast-carrying alternative help? Validation only.

Reads the held-out evidence of one dataset (``results/simulate_heldout/<dataset>/<arch>-<features>/seed*/
group_shares.parquet``, rule ``simulate_heldout``), keeps the validation questions (test rows are never
read) and scores ``(1 - lam) * similar + lam * X`` for X in ``trait_lean``, ``nearest_question`` and
``pooled_subgroup``, lam in 0, 0.1, ..., 1. Both shares sum to one per group, so the blend does too, and
its contrasts are the same blend of the two methods' contrasts.

The criterion is the one ``simulate_choice.json`` ranks candidates by: the contrast correlation over all
traits, the seeds' validation questions pooled. Printed beside it: the overall sign agreement, the
``--trait`` figures (correlation, sign agreement on observed contrasts of at least 5 points, RMSE and
the no-contrast RMSE), and the per-seed overall correlation of the best blend against lam = 0, to show
whether a gain holds on every seed.

Usage: ``python benchmarks/contrast_blend.py [--results results] [--dataset twin] [--trait polparty]
[--method similar-minilm] [--arch sage] [--features minilm] [--min-n 10]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from gemsflow.io import read_parquet
from gemsflow.simulation import contrasts

ALTERNATIVES = ("trait_lean", "nearest_question", "pooled_subgroup")
WEIGHTS = np.round(np.arange(0.0, 1.01, 0.1), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--dataset", default="twin")
    parser.add_argument("--trait", default="polparty")
    parser.add_argument("--method", default="similar-minilm")
    parser.add_argument("--arch", default="sage")
    parser.add_argument("--features", default="minilm")
    parser.add_argument("--min-n", type=int, default=10, help="evaluation.min_subgroup_individuals")
    args = parser.parse_args()
    folder = Path(args.results) / "simulate_heldout" / args.dataset / f"{args.arch}-{args.features}"
    paths = sorted(folder.glob("seed*/group_shares.parquet"))
    if not paths:
        parser.error(f"no {folder}/seed*/group_shares.parquet: run rule simulate_heldout first")
    shares = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    shares = shares.loc[shares["part"] == "val"].copy()
    blends = {}
    for alternative in ALTERNATIVES:
        for lam in WEIGHTS:
            name = f"{alternative} {lam}"
            shares[name] = (1 - lam) * shares[args.method] + lam * shares[alternative]
            blends[name] = (alternative, lam)
    table = contrasts.heldout_contrasts(shares, list(blends), "observed", args.min_n)
    table = table.set_index(["seed", "trait", "method"])
    counts = shares.groupby("seed")["question"].nunique().to_dict()
    print(
        f"{args.dataset}, validation questions per seed {counts}; lam = weight of the alternative\n"
    )
    print(
        f"| alternative | lam | overall r | overall sign | {args.trait} r | {args.trait} sign (n) "
        f"| {args.trait} RMSE (no-contrast) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (alternative, lam) in blends.items():
        o = table.loc[("pooled", contrasts.OVERALL, name)]
        t = table.loc[("pooled", args.trait, name)]
        print(
            f"| {alternative} | {lam} | {o['correlation']:.3f} | {o['sign_agreement']:.3f} | "
            f"{t['correlation']:.3f} | {t['sign_agreement']:.3f} ({int(t['n_large'])}) | "
            f"{t['rmse']:.4f} ({t['rmse_no_contrast']:.4f}) |"
        )
    overall = table.xs(contrasts.OVERALL, level="trait")["correlation"].unstack("method")
    best = overall.loc["pooled"].idxmax()
    base = f"{ALTERNATIVES[0]} 0.0"
    print(f"\nbest by pooled overall r: {best}; per seed overall r, best against lam = 0:")
    for seed, row in overall.drop(index="pooled").iterrows():
        print(f"  seed {seed}: {row[best]:.3f} against {row[base]:.3f}")


if __name__ == "__main__":
    main()
