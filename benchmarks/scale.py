"""Wall time and peak memory of each stage against the number of answers, with a fitted exponent per stage.

For each size, a work copy of the project (``<work>/<people>x<questions>/``) runs setting 1, one seed, of
the synthetic survey enlarged through config (``datasets.synthetic.generator``: people x questions, 5 %
missing) through Snakemake, one job at a time (``--cores 1``): synthesize, prepare, split, graph,
majority, logreg, mf, sage and scoring. Each job's figures are its ``benchmark:`` file (wall seconds,
CPU seconds, peak RSS); the answers are the prepared ``dataset.json``'s count. The exponent of a stage
is the slope of log(cost) on log(answers) by least squares over the sizes run (1 = linear). The figure
plots CPU time, which other processes on a shared machine disturb less than wall time.

The GNN schedule is the synthetic survey's short one (``gnn.datasets.synthetic``: 15 epochs, patience 5)
unless ``--real-schedule`` (``gnn.defaults``: up to 100 epochs, patience 15). For each GNN it reports the
selected epoch against the epochs run and the cap: a run converged when it selected an epoch before its
last and patience, not the cap, ended it (``run_info.json``'s ``stopped_by``).

Usage: ``python benchmarks/scale.py --people 3000 10000 30000 [--questions 100] [--work DIR]
[--out docs/results/scale] [--report-only]``. Writes ``scale.tsv`` (one row per stage and size),
``scale.md`` (the table and the exponents) and ``scale.png`` (log-log, CPU time and peak RSS per stage)
into ``--out``. ``--report-only`` reads the work copies already run. Work copies are kept, so a size
that finished is not rerun (Snakemake finds nothing to do); their code is refreshed each run. On a
shared machine the wall times carry other processes' load: the load average is printed per size.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from work_copy import ROOT, refresh

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SEED = 41
METHODS = ["majority", "logreg", "mf", "sage"]
GNNS = ("mf", "sage")
# Stage -> benchmark files (relative to a work copy); several files (scoring) are reported by their mean.
RUN = f"setting1/synthetic/{{method}}/seed{SEED}.tsv"
STAGES = {
    "synthesize": ["results/benchmarks/synthesize_dataset/synthetic.tsv"],
    "prepare": ["results/benchmarks/prepare_dataset/synthetic.tsv"],
    "split": [f"results/benchmarks/split/setting1/synthetic/seed{SEED}.tsv"],
    "graph": [f"results/benchmarks/build_graph/setting1/synthetic/seed{SEED}.tsv"],
    "majority": ["results/benchmarks/baseline/" + RUN.format(method="majority")],
    "logreg": ["results/benchmarks/learner/" + RUN.format(method="logreg")],
    "mf": ["results/benchmarks/train_gnn/" + RUN.format(method="mf")],
    "sage": ["results/benchmarks/train_gnn/" + RUN.format(method="sage")],
    "score": ["results/benchmarks/score_run/" + RUN.format(method=m) for m in METHODS],
}


def prepare(work: Path, people: int, questions: int, real_schedule: bool) -> None:
    """Refresh the work copy's code and config from this checkout; keep its results."""
    refresh(work)
    overlay = {
        "seeds": [SEED],
        "dataset_methods": {},
        "methods": {"setting1": METHODS},
        "datasets": {
            "synthetic": {"generator": {"n_individuals": people, "n_questions": questions}}
        },
    }
    if real_schedule:
        # Snakemake merges config files key by key, so an empty gnn.datasets would leave synthetic's
        # short schedule in place: its training block is overwritten with the defaults' values instead.
        config = yaml.safe_load((ROOT / "config/config.yaml").read_text())["gnn"]
        short = config["datasets"]["synthetic"]["training"]
        real = {key: config["defaults"]["training"][key] for key in short}
        overlay["gnn"] = {"datasets": {"synthetic": {"training": real}}}
    (work / "config/scale.yaml").write_text(yaml.safe_dump(overlay))


def run(work: Path) -> float:
    targets = [f"results/runs/setting1/synthetic/{m}/seed{SEED}/metrics.json" for m in METHODS]
    cmd = [
        "nice", "-n", "10", SNAKEMAKE, "--profile", "profiles/local", "--cores", "1",
        "--configfile", "config/config.yaml", "config/scale.yaml", "--", *targets,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(work / "src")}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {work}:\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def read_benchmark(path: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of a Snakemake benchmark file's first repeat."""
    with path.open() as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    return float(row["s"]), float(row["cpu_time"]), float(row["max_rss"])


def collect(work: Path) -> list[dict]:
    answers = json.loads((work / "results/data/synthetic/dataset.json").read_text())["counts"]
    rows = []
    for stage, files in STAGES.items():
        found = [read_benchmark(work / f) for f in files if (work / f).exists()]
        if not found:
            continue
        info, epochs = {}, {}
        if stage in ("logreg", "mf", "sage"):
            run = work / f"results/runs/setting1/synthetic/{stage}/seed{SEED}"
            info = json.loads((run / "metrics.json").read_text())["parts"]["val"]
        if stage in GNNS:
            run_info = json.loads((run / "run_info.json").read_text())
            cap = run_info["config"]["training"]["max_epochs"]
            epochs = {
                "selected_epoch": run_info["best_epoch"],
                "epochs_run": run_info["epochs_run"],
                "max_epochs": cap,
                # Runs from before run_info recorded it: a run that reached the cap was ended by it.
                "stopped_by": run_info.get(
                    "stopped_by", "patience" if run_info["epochs_run"] < cap else "max_epochs"
                ),
            }
        rows.append(
            {
                "stage": stage,
                "people": answers["individuals"],
                "questions": answers["questions"],
                "answers": answers["responses"],
                "wall_s": float(np.mean([w for w, _, _ in found])),
                "cpu_s": float(np.mean([c for _, c, _ in found])),
                "peak_rss_mb": float(np.mean([m for _, _, m in found])),
                "val_accuracy": info.get("accuracy"),
                "selected_epoch": epochs.get("selected_epoch"),
                "epochs_run": epochs.get("epochs_run"),
                "stopped_by": epochs.get("stopped_by"),
                "max_epochs": epochs.get("max_epochs"),
            }
        )
    return rows


def exponent(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y on log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def two_places(value: float) -> str:
    """A slope to two decimals; a flat -1e-17 reads 0.00, not -0.00."""
    return f"{round(value, 2) + 0.0:.2f}"


def report(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "scale.tsv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    sizes = sorted({r["answers"] for r in rows})
    stages = [s for s in STAGES if any(r["stage"] == s for r in rows)]
    by = {(r["stage"], r["answers"]): r for r in rows}
    head = " | ".join(f"{a / 1e6:.2f} M" for a in sizes)
    lines = [
        f"| stage | {head} | exponent: wall | CPU | peak RSS |",
        "|---" * (len(sizes) + 4) + "|",
    ]
    exponents = {}
    for stage in stages:
        have = [a for a in sizes if (stage, a) in by]
        cells = [
            f"{by[stage, a]['wall_s']:.1f} s ({by[stage, a]['cpu_s']:.1f} s CPU), "
            f"{by[stage, a]['peak_rss_mb']:.0f} MB"
            if (stage, a) in by
            else "—"
            for a in sizes
        ]
        if len(have) >= 2:
            fits = {
                key: exponent(have, [by[stage, a][key] for a in have])
                for key in ("wall_s", "cpu_s", "peak_rss_mb")
            }
            exponents[stage] = fits
            fits = [two_places(value) for value in fits.values()]
        else:
            fits = ["—"] * 3
        lines.append(f"| {stage} | {' | '.join(cells)} | {' | '.join(fits)} |")
    accuracy = [
        f"- {stage}: "
        + ", ".join(
            f"{by[stage, a]['val_accuracy']:.4f} at {a / 1e6:.2f} M"
            for a in sizes
            if (stage, a) in by
        )
        for stage in ("logreg", "mf", "sage")
        if any((stage, a) in by for a in sizes)
    ]
    # Converged: the selected epoch comes before the last one run, and patience (not the cap) ended it.
    epochs = [
        f"- {stage}: "
        + ", ".join(
            f"{by[stage, a]['selected_epoch']} of {by[stage, a]['epochs_run']} "
            f"(cap {by[stage, a]['max_epochs']}; "
            + ("before" if by[stage, a]["selected_epoch"] < by[stage, a]["epochs_run"] else "AT")
            + " its last; "
            + (
                "patience ended it"
                if by[stage, a]["stopped_by"] == "patience"
                else "THE CAP ended it"
            )
            + f") at {a / 1e6:.2f} M"
            for a in sizes
            if (stage, a) in by
        )
        for stage in GNNS
        if any((stage, a) in by for a in sizes)
    ]
    text = [
        *lines,
        "",
        "Validation accuracy:",
        *accuracy,
        "",
        "Selected epoch of epochs run:",
        *epochs,
    ]
    (out / "scale.md").write_text("\n".join(text) + "\n")
    print("\n".join(text[len(lines) :]))
    print("\n".join(lines))
    plot(rows, stages, exponents, out / "scale.png")


def plot(rows: list[dict], stages: list[str], exponents: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in (
        (axes[0], "cpu_s", "CPU time (s)"),
        (axes[1], "peak_rss_mb", "peak RSS (MB)"),
    ):
        for stage in stages:
            points = sorted((r["answers"], r[key]) for r in rows if r["stage"] == stage)
            slope = exponents.get(stage, {}).get(key, math.nan)
            ax.plot(*zip(*points, strict=True), marker="o", label=f"{stage} ({two_places(slope)})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("answers")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="stage (exponent)", title_fontsize=7)
    fig.suptitle("gemsflow stages against answers (setting 1, one seed, --cores 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, nargs="+", required=True)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gemsflow-scale"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/scale")
    parser.add_argument("--real-schedule", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    rows = []
    for people in args.people:
        work = args.work.resolve() / f"{people}x{args.questions}"
        if not args.report_only:
            prepare(work, people, args.questions, args.real_schedule)
            seconds = run(work)
            print(
                f"{people} x {args.questions}: {seconds:.0f} s, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        rows += collect(work)
    report(rows, args.out)


if __name__ == "__main__":
    main()
