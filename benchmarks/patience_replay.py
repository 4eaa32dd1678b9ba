"""What a smaller early-stopping patience would cost and save, replayed on finished GNN runs.

Training is deterministic and its learning-rate schedule depends on ``max_epochs`` only, so a run made with
patience P holds every epoch a run with a patience below P would have made (:func:`replay_patience`).
For every finished ``results/runs/<setting>/<dataset>/<gnn method>/seed*/`` under a results directory, this
replays the stopping rule at each candidate patience on the run's validation curve and reports:

- ``same``: runs whose selected epoch (so whose model and predictions) would not change;
- ``val_change``: mean and worst change of the selected epoch's validation accuracy (test is never read);
- ``epochs`` and ``job_wall_s``: epochs run and the training jobs' wall seconds, estimated per run as the
  job's fixed part (its ``benchmark:`` wall time less the epoch loop's ``train_seconds``) plus the loop's
  seconds per epoch times the replayed epochs. Snakemake samples ``cpu_time`` only every 30 s, so wall
  time is the finer figure.

Usage: ``python benchmarks/patience_replay.py [RESULTS_DIR] [--patience 10 15 20 25 30]
[--datasets twin dunning_kruger]``. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from gemsflow.evaluation.costs import read_benchmarks
from gemsflow.methods.gnn.training import replay_patience


def finished_runs(results: Path, datasets: list[str]) -> list[dict]:
    runs = []
    for info_path in sorted(results.glob("runs/*/*/*/seed*/run_info.json")):
        run_dir = info_path.parent
        setting, dataset, method, seed = run_dir.parts[-4:]
        info = json.loads(info_path.read_text())
        bench = next(
            results.glob(f"benchmarks/train_gnn*/{setting}/{dataset}/{method}/{seed}.tsv"), None
        )
        if dataset not in datasets or bench is None:  # no train_gnn benchmark: not a GNN run
            continue
        curve = pd.read_csv(run_dir / "curve.tsv", sep="\t")
        used = int(info["config"]["training"]["patience"])
        # The replay reads the rounded curve file: it must reproduce the run's own selection first.
        epoch, _, run = replay_patience(curve["val_acc"].tolist(), used)
        if (epoch, run) != (info["best_epoch"], info["epochs_run"]):
            raise SystemExit(f"{run_dir}: replaying patience {used} gives epoch {epoch} of {run}")
        wall = float(read_benchmarks([bench], results / "benchmarks")["wall_s"].iloc[0])
        loop = float(info["train_seconds"])
        runs.append(
            {
                "run": f"{setting}/{dataset}/{method}/{seed}",
                "val_accs": curve["val_acc"].tolist(),
                "patience_used": used,
                "best_epoch": info["best_epoch"],
                "fixed_s": wall - loop,
                "s_per_epoch": loop / info["epochs_run"],
            }
        )
    return runs


def replay_table(runs: list[dict], patiences: list[int]) -> pd.DataFrame:
    rows = []
    for patience in patiences:
        for r in runs:
            if patience > r["patience_used"]:
                continue
            epoch, val, run = replay_patience(r["val_accs"], patience)
            reference = r["val_accs"][r["best_epoch"] - 1]
            rows.append(
                {
                    "patience": patience,
                    "same": epoch == r["best_epoch"],
                    "val_change": val - reference,
                    "epochs": run,
                    "wall_s": r["fixed_s"] + run * r["s_per_epoch"],
                }
            )
    table = (
        pd.DataFrame(rows)
        .groupby("patience")
        .agg(
            runs=("same", "size"),
            same=("same", "sum"),
            val_change_mean=("val_change", "mean"),
            val_change_worst=("val_change", "min"),
            epochs=("epochs", "sum"),
            job_wall_s=("wall_s", "sum"),
        )
    )
    return table.round({"val_change_mean": 5, "val_change_worst": 5, "job_wall_s": 0})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--patience", type=int, nargs="+", default=[10, 15, 20, 25, 30, 40])
    parser.add_argument("--datasets", nargs="+", default=["twin", "dunning_kruger"])
    args = parser.parse_args()
    runs = finished_runs(Path(args.results), args.datasets)
    if not runs:
        raise SystemExit(f"no finished GNN runs with benchmark files under {args.results}/runs")
    table = replay_table(runs, args.patience)
    print(f"{len(runs)} GNN runs under {args.results}/runs ({', '.join(args.datasets)})\n")
    print(table.to_markdown())


if __name__ == "__main__":
    main()
