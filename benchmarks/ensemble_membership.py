"""Would offering more methods to the ensemble raise its validation figure? Validation only.

For each (setting, dataset, seed) that has every listed run, the ensemble (:func:`gemsflow.methods.learners.ensemble`,
the config's validation folds, max_steps and metric) is fitted twice on the same split: over the ``--base``
members, and over the base members plus the ``--extra`` ones. Printed: both ensembles' out-of-fold
validation accuracy (the figure the leaderboard ranks on), the difference, and the weights the larger
ensemble gave the extra members (all validation folds). Test pairs are never read.

Runs are looked up in each ``--results`` folder in order (first hit wins), so members finished in another
checkout (``/work/main/results``) can be combined with this one's. Splits and data come from the first
results folder holding them.

Usage: ``python benchmarks/ensemble_membership.py --results results /work/main/results
--base majority subgroup_majority logreg sage --extra gbt_pooled mlp_pooled
[--settings setting1 setting2] [--datasets dunning_kruger] [--seeds 41 42 43]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet
from gemsflow.methods.learners import ensemble


def first(results: list[Path], relative: str) -> Path | None:
    return next((r / relative for r in results if (r / relative).exists()), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", nargs="+", type=Path, default=[Path("results")])
    parser.add_argument("--base", nargs="+", required=True)
    parser.add_argument("--extra", nargs="+", required=True)
    parser.add_argument("--settings", nargs="+", default=["setting1", "setting2"])
    parser.add_argument("--datasets", nargs="+", default=["dunning_kruger"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[41, 42, 43])
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    options = config["learners"]["ensemble"]
    print("| setting | dataset | seed | base | base + extra | change | extra members' weight |")
    print("|---|---|---|---|---|---|---|")
    for setting in args.settings:
        for dataset in args.datasets:
            for seed in args.seeds:
                paths = {
                    m: first(
                        args.results, f"runs/{setting}/{dataset}/{m}/seed{seed}/predictions.parquet"
                    )
                    for m in [*args.base, *args.extra]
                }
                data_dir = first(args.results, f"data/{dataset}/dataset.json")
                split_path = first(
                    args.results, f"splits/{setting}/{dataset}/seed{seed}/split.parquet"
                )
                missing = [m for m, p in paths.items() if p is None]
                if missing or data_dir is None or split_path is None:
                    print(
                        f"| {setting} | {dataset} | {seed} | missing: {', '.join(missing)} | | | |"
                    )
                    continue
                data = SurveyData.load(data_dir.parent)
                split = read_parquet(split_path)
                runs = {m: read_parquet(p) for m, p in paths.items()}
                fits = [
                    ensemble(
                        data, split, {m: runs[m] for m in names}, seed=seed,
                        folds=config["validation_folds"], max_steps=options["max_steps"],
                        metric=options["metric"],
                    )[1]
                    for names in (args.base, [*args.base, *args.extra])
                ]  # fmt: skip
                base, more = fits
                a, b = base["out_of_fold_val_accuracy"], more["out_of_fold_val_accuracy"]
                weight = sum(more["weights"].get(m, 0.0) for m in args.extra)
                print(
                    f"| {setting} | {dataset} | {seed} | {a:.4f} | {b:.4f} | {b - a:+.4f} | {weight:.2f} |"
                )


if __name__ == "__main__":
    main()
