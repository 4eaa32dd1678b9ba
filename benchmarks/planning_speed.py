"""No-op planning time: ``snakemake -n`` on a finished tree, as a ratio against Snakemake's own start-up.

What a user waits for before anything runs is the parse of the Snakefile (config checks, rule files) and
the DAG check of every output. On a finished tree that is all a dry run does. The absolute time depends on
the machine and on what the environment installs (Snakemake imports every executor plugin at start-up;
the SLURM plugin, for one, asks ``scontrol`` for the cluster's config), so the workflow's cost is reported
as a ratio against two baselines measured in the same run, interleaved with it:

- ``version``: ``snakemake --version`` (imports and plugin discovery only);
- ``empty``: a dry run of a Snakefile with one empty rule (adds the API, DAG and scheduler start-up).

The finished tree is built cheaply in a temporary copy of the workflow: the jobs of the rules listed in
``--real-rules`` run for real (the synthetic dataset's source files, and its prepared dataset.json whose
traits check the study files, are read when the workflow is parsed, so they must be real), every
other output is created empty and ``snakemake --touch`` then orders their modification times. The script fails unless the dry run then has nothing to do.

Usage: ``python benchmarks/planning_speed.py [--sources DIR ...] [--runs 5] [--targets T ...]
[--config KEY=VALUE ...] [--keep]``. Several ``--sources`` (e.g. a checkout of the previous commit and
this one) are measured side by side in the same interleaved loop. Prints a markdown table (medians;
CPU = user + sys of the snakemake process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "config", "workflow", "envs", "src")
EMPTY_SNAKEFILE = "rule all:\n    input:\n        [],\n"


def copy_workflow(source: Path, dest: Path) -> None:
    for name in WORKFLOW_PARTS:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, dest / name)


def snakemake_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *args]


def run_checked(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def planned_outputs(work: Path, env: dict[str, str], extra: list[str]) -> list[tuple[str, str]]:
    """(output path, rule) of every job of the targets, from ``snakemake --summary``."""
    text = run_checked(snakemake_command("--summary", "--cores", "1", *extra), work, env)
    rows = [line.split("\t") for line in text.splitlines() if "\t" in line]
    return [(row[0], row[2]) for row in rows[1:] if len(row) > 2]


def build_finished_tree(
    work: Path, env: dict[str, str], extra: list[str], real_rules: list[str]
) -> int:
    """Make every output of the targets exist and be up to date; returns the number of outputs."""
    outputs = planned_outputs(work, env, extra)
    real = [path for path, rule in outputs if rule in real_rules]
    if real:
        run_checked(snakemake_command("--cores", "1", *real, *extra), work, env)
    for path, _ in outputs:
        target = work / path
        if target.exists():
            continue
        # Directory outputs (directory()) are the only extension-less paths the workflow writes.
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)
    run_checked(snakemake_command("--touch", "--cores", "1", *extra), work, env)
    check = run_checked(snakemake_command("-n", "--cores", "1", *extra), work, env)
    if "Nothing to be done" not in check:
        raise RuntimeError(f"the fabricated tree is not finished:\n{check}")
    return len(outputs)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s = user + sys) of one run of ``command``."""
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(
            proc.pid, 0
        )  # the child's own rusage, not the sum of all children
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{log.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(trees: dict[str, Path], env: dict[str, str], extra: list[str], runs: int):
    """Wall and CPU samples of the two baselines and of the no-op dry run in each tree."""
    first = next(iter(trees.values()))
    (first / "empty.smk").write_text(EMPTY_SNAKEFILE)
    commands = {
        "version": (first, snakemake_command("--version")),
        "empty": (first, snakemake_command("-s", "empty.smk", "-n", "--cores", "1")),
    }
    for label, tree in trees.items():
        commands[label] = (tree, snakemake_command("-n", "--cores", "1", *extra))
    samples: dict[str, list] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so that a change of machine load hits every command alike
        for name, (cwd, command) in commands.items():
            samples[name].append(timed(command, cwd, {**env, "PYTHONPATH": str(cwd / "src")}))
    return samples


def report(samples: dict[str, list], outputs: int, targets: list[str]) -> str:
    median = {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in samples.items()
    }
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"No-op dry run of {' '.join(targets) or 'the default target'} on a finished tree "
        f"({outputs} outputs); {len(next(iter(samples.values())))} interleaved runs each, "
        f"medians; {os.cpu_count()} CPUs, load average {load}.",
        "",
        "| command | wall s | CPU s | wall / empty | CPU / empty | wall / version | CPU / version |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (wall, cpu) in median.items():
        lines.append(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / median['empty'][0]:.2f} | "
            f"{cpu / median['empty'][1]:.2f} | {wall / median['version'][0]:.2f} | "
            f"{cpu / median['version'][1]:.2f} |"
        )
    lines.append("")
    for name, (wall, cpu) in list(median.items())[2:]:
        lines.append(
            f"Own cost of {name} over the empty dry run: {wall - median['empty'][0]:.2f} s wall, "
            f"{cpu - median['empty'][1]:.2f} s CPU."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sources",
        type=Path,
        nargs="+",
        default=[ROOT],
        help="workflow checkouts to measure side by side (e.g. before and after a change)",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--targets", nargs="*", default=[])
    parser.add_argument("--config", nargs="*", default=[], help="KEY=VALUE passed to --config")
    parser.add_argument(
        "--real-rules", nargs="*", default=["synthesize_dataset", "prepare_dataset"]
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary trees")
    args = parser.parse_args()

    extra = [*args.targets, *(["--config", *args.config] if args.config else [])]
    base = Path(tempfile.mkdtemp(prefix="planning_speed_"))
    try:
        trees, outputs = {}, 0
        for i, source in enumerate(args.sources):
            label = f"workflow {source.resolve().name}" if len(args.sources) > 1 else "workflow"
            trees[label] = base / f"tree{i}"
            trees[label].mkdir()
            copy_workflow(source.resolve(), trees[label])
            env = {**os.environ, "PYTHONPATH": str(trees[label] / "src")}
            outputs = build_finished_tree(trees[label], env, extra, args.real_rules)
        print(report(measure(trees, dict(os.environ), extra, args.runs), outputs, args.targets))
    finally:
        if args.keep:
            print(f"trees kept under {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
