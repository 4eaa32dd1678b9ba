"""The SLURM and local profiles: how Snakemake finds them and what they make each job request.

GPU jobs cannot run on a GPU-less machine, so their SLURM request is checked from the dry-run plan of
the real profile: every planned job's resources, turned into sbatch arguments by the SLURM plugin's own
code.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake_executor_plugin_slurm.utils import set_gres_string
from test_reruns import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.slow

GPU_RULES = {"llm_hidden_states", "llm_prompting", "llm_cot", "llm_lora"}
# conda cannot be installed here; env-modules is inert because no rule declares `envmodules:`.
NO_CONDA = ("--software-deployment-method", "env-modules")


def with_gpu_methods(config: dict) -> dict:
    """Setting 3 with methods that need a GPU (a hub model) beside CPU-only ones."""
    config["seeds"] = [1]
    config["dataset_methods"] = {}
    config["methods"]["setting3"] = [
        "majority",
        "mapping-sage-minilm",
        "mapping-sage-qwen3-8b",
        "zeroshot-qwen3-8b",
        "cot-qwen3-8b",
        "lora-qwen3-8b",
        "zeroshot-tiny",
    ]
    return config


def planned_jobs(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job in a dry run's plan."""
    jobs = []
    for block in re.split(r"^\[.*\]\n(?=(?:local)?rule )", out, flags=re.M)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block).group(1)
        found = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        resources = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        jobs.append((rule, resources))
    return jobs


def same_plan(a: list[tuple[str, dict]], b: list[tuple[str, dict]]) -> bool:
    """Whether two plans hold the same (rule, resources) jobs, whatever order they were printed in."""

    def canonical(jobs):
        return sorted((rule, sorted(resources.items())) for rule, resources in jobs)

    return canonical(a) == canonical(b)


class _Resources(dict):
    """Like a Snakemake job's resources: item, ``.get`` and attribute access."""

    __getattr__ = dict.__getitem__


def sbatch_gpu_args(resources: dict[str, str]) -> str:
    """The GPU part of the sbatch call that the SLURM plugin builds from a job's resources."""
    typed = _Resources({k: int(v) if v.isdigit() else v for k, v in resources.items()})
    return set_gres_string(SimpleNamespace(resources=typed)).strip()


@pytest.fixture(scope="module")
def gpu_workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("profiles"), with_gpu_methods)


def dry_run(work: Path, *profile_args: str) -> str:
    # Run from the repository root, where a user types `--profile slurm`.
    return snakemake(
        work,
        "--snakefile",
        str(work / "Snakefile"),
        *profile_args,
        *NO_CONDA,
        "--dry-run",
        "results/setting3/synthetic/",
        cores=False,
        cwd=REPO,
    )


def test_slurm_profile_works_as_typed_and_by_path(gpu_workflow):
    by_name = dry_run(gpu_workflow, "--profile", "slurm")
    by_path = dry_run(gpu_workflow, "--profile", "profiles/slurm")
    assert "Using profile slurm " in by_name and "Using profile profiles/slurm " in by_path
    # The same jobs with the same resources; Snakemake prints a plan in no fixed order.
    assert planned_jobs(by_name)
    assert same_plan(planned_jobs(by_name), planned_jobs(by_path))


def test_gpu_rules_request_gpus_and_cpu_rules_do_not(gpu_workflow):
    jobs = planned_jobs(dry_run(gpu_workflow, "--profile", "profiles/slurm"))
    assert {rule for rule, _ in jobs} >= GPU_RULES
    gpu_jobs = [(rule, res) for rule, res in jobs if res.get("gpu", "0") != "0"]
    # One per GPU rule with the hub model: hidden states, zero-shot, CoT, LoRA.
    assert sorted(rule for rule, _ in gpu_jobs) == sorted(GPU_RULES)
    for _rule, resources in gpu_jobs:
        assert resources["slurm_partition"] == "gpu"
        assert sbatch_gpu_args(resources) == "--gpus=1"
    for rule, resources in jobs:
        if rule not in GPU_RULES:
            assert resources["slurm_partition"] == "cpu", rule
        if (rule, resources) not in gpu_jobs:
            assert sbatch_gpu_args(resources) == "", rule


def test_gres_clusters_get_gres_instead_of_gpus(gpu_workflow, tmp_path):
    """The profile's documented alternative for clusters that only understand --gres."""
    override = tmp_path / "gres"
    override.mkdir()
    (override / "config.v8+.yaml").write_text(
        yaml.safe_dump(
            {
                "set-resources": {
                    r: {"gpu": 0, "gres": "gpu:1", "slurm_partition": "gpu"} for r in GPU_RULES
                }
            }
        )
    )
    jobs = planned_jobs(
        dry_run(gpu_workflow, "--profile", "profiles/slurm", "--profile", str(override))
    )
    requests = {sbatch_gpu_args(res) for rule, res in jobs if rule in GPU_RULES}
    assert requests == {"--gres=gpu:1"}


def test_ci_profile_differs_only_in_cluster_specific_values():
    def flat(obj, prefix=""):
        if isinstance(obj, dict):
            return {
                k: v for key, val in obj.items() for k, v in flat(val, f"{prefix}{key}.").items()
            }
        return {prefix.rstrip("."): obj}

    real = flat(yaml.safe_load((REPO / "profiles/slurm/config.v8+.yaml").read_text()))
    ci = flat(yaml.safe_load((REPO / "tests/profiles/slurm-ci/config.v8+.yaml").read_text()))
    differing = {k for k in real.keys() | ci.keys() if real.get(k) != ci.get(k)}
    allowed = re.compile(
        r"slurm-no-account|slurm-status-command|slurm-init-seconds-before-status-checks"
        r"|software-deployment-method|default-resources\.slurm_(partition|account)"
        r"|set-resources\.\w+\.slurm_partition"
    )
    assert differing and all(allowed.fullmatch(k) for k in differing), differing
    assert ci["slurm-no-account"] is True and ci["slurm-status-command"] == "squeue"


def test_local_profile_runs_in_current_environment_on_all_cores(gpu_workflow):
    profile = yaml.safe_load((REPO / "profiles/local/config.v8+.yaml").read_text())
    assert "executor" not in profile and "software-deployment-method" not in profile
    assert profile["cores"] == "all"
    out = snakemake(
        gpu_workflow,
        "--snakefile",
        str(gpu_workflow / "Snakefile"),
        "--profile",
        "profiles/local",
        "--dry-run",
        "results/setting3/synthetic/",
        cores=False,
        cwd=REPO,
    )
    assert "Using profile profiles/local " in out
    # The profile keeps the console quiet (no per-job blocks); the plan's job table names the rules.
    assert "rule deliver:" not in out
    stats = out.split("Job stats:", 1)[1]
    assert set(re.findall(r"^(\w+)\s+\d+$", stats, flags=re.M)) >= {"map_llm_to_gnn", "deliver"}


def synthetic_of(n_individuals: int, n_questions: int):
    def edit(config: dict) -> dict:
        config["seeds"] = [1]
        config["dataset_methods"] = {}
        generator = config["datasets"]["synthetic"]["generator"]
        generator.update({"n_individuals": n_individuals, "n_questions": n_questions})
        return config

    return edit


def slurm_plan(work: Path, *targets: str) -> dict[str, dict[str, str]]:
    """Resources of each rule's job in the SLURM profile's dry run (one job per rule here)."""
    out = snakemake(
        work, "--snakefile", str(work / "Snakefile"), "--profile", "profiles/slurm", *NO_CONDA,
        "--dry-run", *targets, cores=False, cwd=REPO,
    )  # fmt: skip
    return dict(planned_jobs(out))


def test_heavy_jobs_ask_for_memory_and_time_that_follow_the_answers(tmp_path):
    """A 10 M-answer survey is not sent to an 8 GB node: the answers known at plan time (the generator's
    size, then the prepared dataset.json's count) scale mem_mb and runtime above each rule's floor."""
    targets = [
        f"results/runs/setting1/synthetic/{m}/seed1/metrics.json" for m in ("sage", "logreg")
    ]
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small = slurm_plan(copy_workflow(tmp_path / "small", synthetic_of(400, 24)), *targets)
    large_work = copy_workflow(tmp_path / "large", synthetic_of(100_000, 100))
    large = slurm_plan(large_work, *targets)
    per_million = yaml.safe_load((REPO / "config/config.yaml").read_text())["job_resources"]
    # 400 x 24 x 0.95 answers ask for the rules' fixed requests, as before.
    assert (small["train_gnn"]["mem_mb"], small["train_gnn"]["runtime"]) == ("8000", "60")
    assert small["learner"]["mem_mb"] == small["score_run"]["mem_mb"] == "4000"
    # 100,000 x 100 x 0.95 = 9.5 M answers.
    for rule in ("prepare_dataset", "split", "build_graph", "learner", "train_gnn", "score_run"):
        for resource in ("mem_mb", "runtime"):
            floor = int(small[rule][resource])
            expected = max(floor, math.ceil(per_million[rule][resource] * 9.5))
            assert int(large[rule][resource]) == expected, (rule, resource)
    assert int(large["train_gnn"]["mem_mb"]) > 8000 and int(large["score_run"]["mem_mb"]) > 8000
    # Once prepared, the dataset's own count decides (here 20 M answers).
    prepared = large_work / "results/data/synthetic/dataset.json"
    prepared.parent.mkdir(parents=True)
    prepared.write_text(json.dumps({"counts": {"responses": 20_000_000}}))
    recounted = slurm_plan(large_work, *targets)
    assert int(recounted["train_gnn"]["mem_mb"]) == math.ceil(
        per_million["train_gnn"]["mem_mb"] * 20
    )
