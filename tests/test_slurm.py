"""The workflow through a real SLURM cluster (the one-node cluster that .ci/system.sh starts for `make test`).

Skips outside CI where no cluster runs (the reason names the command that starts one); in CI (CI=true) a
missing cluster fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from system_pieces import require
from test_reruns import REPO, copy_workflow, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CI_PROFILE = REPO / "tests" / "profiles" / "slurm-ci"
# deliver is a localrule: a small aggregator runs on the head node instead of waiting in the queue.
CPU_RULES = {"synthesize_dataset", "prepare_dataset", "split", "baseline", "score_run"}


def cluster_ready() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mixed"))


@pytest.fixture(scope="module")
def cluster():
    require(cluster_ready(), "slurm", "no running SLURM cluster with an idle node")


def one_seed_baselines(config: dict) -> dict:
    config["seeds"] = [5]
    config["datasets"]["synthetic"]["generator"].update({"n_individuals": 60, "n_questions": 12})
    config["methods"]["setting1"] = ["majority", "subgroup_majority"]
    config["dataset_methods"] = {}
    return config


def test_setting_target_builds_through_slurm(cluster, tmp_path):
    work = copy_workflow(tmp_path, one_seed_baselines)
    out = snakemake(
        work, "--profile", str(CI_PROFILE), "--verbose", "results/setting1/synthetic/", cores=False
    )

    calls = re.findall(r"^sbatch call: (sbatch .*)$", out, flags=re.M)
    rules = {
        re.search(r"--comment rule_([a-z_]+?)(?:_wildcards_\S*)?\s", c).group(1) for c in calls
    }
    assert rules == CPU_RULES
    # synthesize, prepare, one split, two baselines, two scores; leaderboard and deliver ran on the head
    # node
    assert len(calls) == 7
    for call in calls:
        assert " -p ci " in call
        assert re.search(r" --mem \d+ ", call) and re.search(r" -t \d+ ", call)
        assert "--gpus" not in call and "--gres" not in call  # CPU rules ask for no GPU

    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    assert len(job_ids) == len(calls)
    # The last submitted job (a score_run) is recent enough for the controller to still know it.
    shown = subprocess.run(
        ["scontrol", "show", "job", job_ids[-1]], capture_output=True, text=True, check=True
    ).stdout
    assert "JobState=COMPLETED" in shown and "Partition=ci" in shown
    assert "Comment=rule_score_run" in shown

    summary = (work / "results/setting1/synthetic/summary.tsv").read_text().splitlines()
    # Rows by validation accuracy: the two floors in either order.
    assert sorted(line.split("\t")[0] for line in summary[1:]) == ["majority", "subgroup_majority"]
    assert (work / "results/setting1/synthetic/metrics/majority/seed5.json").exists()
