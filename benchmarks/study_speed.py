"""Wall and CPU time of a 5-question study on a cached production model, end to end through Snakemake.

Builds (once, untimed) the production models of the synthetic survey and the held-out evidence its
study pages report in a work copy of the project, then
times ``snakemake --cores N results/simulate/synthetic/bench_five`` from a cold study (its text features
and its directory removed before each repeat): Snakemake's planning, the ``study_features`` job and the
``simulate_study`` job, as a user who has just written a study file would run it. Two baselines are
measured in the same run, so that a loaded machine shows in them too: ``python -c 'import gemsflow'``
and a dry-run of the same target (Snakemake's planning alone). The load average is printed beside the
figures, since the machine may be shared.

With ``--profile profiles/local`` every command runs with that profile, as the README's study command
does (the profile's re-planning timer, which kept a run alive up to 30 s after its last job, is cancelled
when the workflow ends).

Usage: ``python benchmarks/study_speed.py [--work DIR] [--cores 2] [--repeats 3] [--seeds 42]
[--profile profiles/local]``.
The work directory is kept (default ``/tmp/gemsflow-study-speed``), so a second run reuses the cached
production model; its code is refreshed from this checkout each run. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from work_copy import refresh

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
DATASET = "synthetic"
STUDY = "bench_five"
TARGET = f"results/simulate/{DATASET}/{STUDY}"
# Five new questions for the synthetic survey's traits (age, sex, education, cregion, polparty).
QUESTIONS = [
    {
        "key": "carbon_tax",
        "text": "Would you support a tax on carbon emissions if the revenue were returned as a rebate?",
        "options": ["Strongly support", "Somewhat support", "Somewhat oppose", "Strongly oppose"],
        "ordinal": True,
    },
    {
        "key": "news_source",
        "text": "Where do you get most of your news about national politics?",
        "options": [
            "Television",
            "Newspapers or news websites",
            "Social media",
            "Friends and family",
        ],
        "population": {"sex": "female"},
    },
    {
        "key": "four_day_week",
        "text": "Should employers move to a four-day work week at the same pay?",
        "options": ["Yes", "No", "Not sure"],
        "breakdown": ["age", "education"],
    },
    {
        "key": "transit_spending",
        "text": "Should your region spend more, the same or less on public transit?",
        "options": ["Much more", "Somewhat more", "About the same", "Somewhat less", "Much less"],
        "ordinal": True,
        "breakdown": ["cregion"],
    },
    {
        "key": "ai_trust",
        "text": "How much do you trust information produced by artificial intelligence tools?",
        "options": ["A great deal", "Some", "Not much", "Not at all"],
        "ordinal": True,
        "population": {"age": ["18-29", "30-49"]},
    },
]


def prepare(work: Path, seeds: list[int]) -> None:
    """Refresh the work copy's code and config from this checkout; keep its results (the cache)."""
    refresh(work)
    study = {"title": "Benchmark: five new questions", "breakdown": ["polparty", "age"]}
    (work / "config/studies" / f"{STUDY}.yaml").write_text(
        yaml.safe_dump({**study, "dataset": DATASET, "questions": QUESTIONS}, sort_keys=False)
    )
    # The zero-shot LLM column of the held-out evidence is left out: it changes no study job, and its
    # tiny model would only lengthen the untimed build.
    bench = {
        "seeds": seeds,
        "run": {"datasets": [DATASET], "settings": ["setting3"]},
        "simulate": {"heldout_llm": None},
    }
    (work / "config/bench.yaml").write_text(yaml.safe_dump(bench))


def timed(cmd: list[str], work: Path) -> dict:
    """Wall and CPU seconds (user + system of the command and all its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "output": proc.stdout + proc.stderr}


PROFILE: list[str] = []  # ["--profile", <dir>] with --profile


def snakemake(work: Path, cores: int, *args: str) -> list[str]:
    # Targets before --configfile, which takes every following word as a config file.
    return [SNAKEMAKE, *PROFILE, "--cores", str(cores), *args, "--configfile", "config/config.yaml",
            "config/bench.yaml"]  # fmt: skip


def job_times(work: Path) -> dict[str, float]:
    """Seconds per job from the rules' Snakemake benchmark files (s and cpu_time columns)."""
    out = {}
    for rule, path in (
        ("study_features", f"results/benchmarks/study_features/{STUDY}/minilm.tsv"),
        ("simulate_study", f"results/benchmarks/simulate_study/{DATASET}/{STUDY}.tsv"),
    ):
        file = work / path
        if file.exists():
            header, row = file.read_text().splitlines()[:2]
            values = dict(zip(header.split("\t"), row.split("\t"), strict=True))
            out[f"{rule}_s"] = float(values["s"])
            out[f"{rule}_cpu_s"] = float(values["cpu_time"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gemsflow-study-speed"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--profile", help="a Snakemake profile for every command (profiles/local)")
    args = parser.parse_args()
    if args.profile:
        PROFILE.extend(["--profile", args.profile])
    work = args.work.resolve()
    prepare(work, args.seeds)
    os.environ["PYTHONPATH"] = str(work / "src")

    # One untimed run of the study builds what a cached study reuses: the production models of
    # simulate.method and the held-out evidence its page reports.
    built = timed(snakemake(work, args.cores, TARGET), work)
    cached = "Nothing to be done" in built["output"]
    print(
        "production models and evidence:",
        "cached" if cached else f"built in {built['wall_s']:.0f} s",
    )

    rows = []
    for _ in range(args.repeats):
        for stale in (work / TARGET, work / "results/study_features" / STUDY):
            shutil.rmtree(stale, ignore_errors=True)
        load = os.getloadavg()[0]
        import_ = timed([sys.executable, "-c", "import gemsflow"], work)
        plan = timed(snakemake(work, args.cores, "--dry-run", TARGET), work)
        study = timed(snakemake(work, args.cores, TARGET), work)
        if not (work / TARGET / "distributions.tsv").exists():
            sys.exit(f"{TARGET}/distributions.tsv was not written:\n{study['output'][-3000:]}")
        rows.append(
            {
                "load_1min": load,
                "import_gemsflow_s": import_["wall_s"],
                "dry_run_s": plan["wall_s"],
                "dry_run_cpu_s": plan["cpu_s"],
                "study_s": study["wall_s"],
                "study_cpu_s": study["cpu_s"],
                "ratio_to_dry_run": study["wall_s"] / plan["wall_s"],
                **job_times(work),
            }
        )
    print(f"{len(QUESTIONS)}-question study, seeds {args.seeds}, --cores {args.cores}, "
          f"{os.cpu_count()} CPUs; medians of {args.repeats} cold runs")  # fmt: skip
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(
            f"  {key:24s} {statistics.median(values):8.2f}   ({', '.join(f'{v:.2f}' for v in values)})"
        )
    print(json.dumps({"questions": len(QUESTIONS), "seeds": args.seeds, "runs": rows}))


if __name__ == "__main__":
    main()
