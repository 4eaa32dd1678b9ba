"""A rerun that is stopped or fails never costs a finished result (issue 32, items 1, 4 and 7).

Each case finishes a job once, changes a parameter so that Snakemake reruns it, and stops the rerun
the way a user or a scheduler does: SIGINT (Ctrl-C in a terminal) or SIGTERM (``kill``, a cancelled
SLURM job) to the whole process group. Every file under ``results/`` must then be byte-identical to
before, and Snakemake must not mark the untouched outputs incomplete: the original config has nothing
to do, the changed one plans the job again. The cases cover a baseline on the real Twin survey (its
job lasts a few seconds there), LoRA fine-tuning and the simulate production model.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import signal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import (
    ROOT,
    SHARED_GEMS,
    interrupt_job,
    load_config,
    planned_jobs,
    snakemake,
    start_snakemake,
    tiny_config,
    tree_hashes,
    wait_for_staging,
)

INTERRUPTS = [signal.SIGINT, signal.SIGTERM]


def results_hashes(work: Path) -> dict[str, str]:
    return tree_hashes(work / "results")


def check_interrupted_rerun(work, target, rule, finished, changed, folder, after):
    """Interrupt a params-triggered rerun with each signal; results stay byte-identical, and only the
    changed config plans the job again."""
    snakemake(work, target, "--configfile", str(finished))
    before = results_hashes(work)
    for sig in INTERRUPTS:
        proc = start_snakemake(work, target, "--configfile", str(changed))
        interrupt_job(proc, folder, sig, after)
        assert results_hashes(work) == before, f"results changed after {sig.name}"
        assert planned_jobs(work, target, "--configfile", str(finished)) == {}, sig.name
        assert rule in planned_jobs(work, target, "--configfile", str(changed)), sig.name


def write_config(work: Path, name: str, config: dict) -> Path:
    path = work / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------ a baseline


@pytest.mark.slow
def test_interrupted_baseline_rerun_keeps_its_predictions(workdir):
    config = load_config()
    config["datasets"]["twin"]["dir"] = str(SHARED_GEMS / "twin")
    config["run"] = {"datasets": ["twin"], "settings": ["setting1"]}
    config["methods"] = {s: ["subgroup_majority"] for s in config["settings"]}
    config["dataset_methods"] = {}
    finished = write_config(work=workdir, name="finished", config=config)
    changed_config = copy.deepcopy(config)
    changed_config["baselines"]["prior_strength"] = config["baselines"]["prior_strength"] + 1
    changed = write_config(workdir, "changed", changed_config)
    run = "results/runs/setting1/twin/subgroup_majority/seed42"
    check_interrupted_rerun(
        workdir, f"{run}/run_info.json", "baseline", finished, changed, workdir / run, after=0.3
    )


def test_touch_marks_staged_outputs_up_to_date_and_the_next_plan_keeps_them(workdir):
    """`snakemake --touch` runs no job, so no job replaces its outputs; the outputs it touched are
    nevertheless current, and the next plan must not put the old records back and rerun them."""
    config = tiny_config(workdir)
    target = "results/runs/setting1/tiny/majority/seed42/run_info.json"
    snakemake(workdir, target, "--configfile", str(config))
    # The same split in other bytes, newer than the baseline's outputs: the baseline is due.
    split = workdir / "results/splits/setting1/tiny/seed42/split.parquet"
    pd.read_parquet(split).to_parquet(split, compression=None)
    assert "baseline" in planned_jobs(workdir, target, "--configfile", str(config))
    snakemake(workdir, target, "--configfile", str(config), "--touch")
    assert planned_jobs(workdir, target, "--configfile", str(config)) == {}


# ------------------------------------------------------------------------------------ LoRA


@pytest.mark.slow
def test_interrupted_lora_rerun_keeps_the_adapter_and_its_predictions(workdir):
    config = yaml.safe_load(tiny_config(workdir).read_text())
    config["methods"]["setting1"] = ["lora-tiny"]
    config["llm"]["tiny"]["corpus_dataset"] = "tiny"
    config["llm"]["models"]["tiny"]["lora"] = {
        **config["llm"]["models"]["tiny"].get("lora", {}),
        "epochs": 1,
    }
    finished = write_config(workdir, "finished", config)
    # Long enough that no machine finishes it in the seconds before the interrupt (400 epochs did, on a
    # quiet CI machine, and the finished job's outputs then rightly replaced the old ones).
    config["llm"]["models"]["tiny"]["lora"]["epochs"] = 100_000
    changed = write_config(workdir, "changed", config)
    run = "results/runs/setting1/tiny/lora-tiny/seed42"
    check_interrupted_rerun(
        workdir, f"{run}/run_info.json", "llm_lora", finished, changed, workdir / run, after=2
    )
    assert (workdir / "results/models/lora/setting1/tiny/tiny/seed42/adapter_config.json").exists()


# ------------------------------------------------------------------------------------ production model


@pytest.mark.slow
def test_interrupted_production_model_rerun_keeps_the_model(workdir):
    config = yaml.safe_load(tiny_config(workdir).read_text())
    config["seeds"] = [1]
    config["llm"]["tiny"]["corpus_dataset"] = "tiny"
    config["simulate"] = {"arch": "sage", "features": "minilm", "val_ratio": 0.2}
    config["gnn"]["datasets"] = {"tiny": {"training": {"max_epochs": 2, "patience": 2}}}
    finished = write_config(workdir, "finished", config)
    long = {"max_epochs": 100_000, "patience": 100_000}
    config["gnn"]["datasets"] = {"tiny": {"training": long}}
    changed = write_config(workdir, "changed", config)
    model = "results/models/production/tiny/sage/seed1"
    check_interrupted_rerun(
        workdir,
        f"{model}/minilm/model.json",
        "production_gnn",
        finished,
        changed,
        workdir / model,
        after=2,
    )


# ------------------------------------------------------------------------------------ two runs at once


@pytest.mark.slow
def test_a_second_run_cannot_train_outputs_another_run_is_training(workdir):
    """The sequence that used to train twice: run A trains; run B (a target sharing no file with A)
    exits, and with it Snakemake removes every lock, A's included; run C, told to rerun incomplete
    jobs, reaches A's outputs. C's job must refuse at once and leave A's training alone."""
    config = yaml.safe_load(tiny_config(workdir).read_text())
    config["methods"] = {"setting1": ["mf"], "setting2": [], "setting3": []}
    training = {"max_epochs": 100_000, "patience": 100_000, "steps_per_epoch": 2}
    config["gnn"] = {**load_config()["gnn"], "datasets": {"tiny": {"training": training}}}
    path = write_config(workdir, "test", config)
    run = workdir / "results/runs/setting1/tiny/mf/seed42"
    target = f"{run.relative_to(workdir)}/run_info.json"
    a = start_snakemake(workdir, target, "--configfile", str(path))
    try:
        wait_for_staging(a, run)
        staging = list(run.glob(".staging-*"))
        synthetic = "resources/synthetic/synthetic_responses.csv"
        snakemake(workdir, synthetic, "--configfile", str(path))
        locks = workdir / ".snakemake" / "locks"
        assert not locks.exists() or not any(locks.iterdir())
        c = snakemake(workdir, target, "--rerun-incomplete", "--configfile", str(path), check=False)
        assert c.returncode != 0
        assert "another run is writing these outputs right now" in c.stdout + c.stderr
        assert a.poll() is None, "run A was disturbed"
        assert list(run.glob(".staging-*")) == staging, "C touched A's staging folder"
        os.killpg(a.pid, signal.SIGTERM)
        a.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(a.pid, signal.SIGKILL)
    assert not run.exists() or not any(run.iterdir()), "a stopped first training left files"


def test_every_update_flagged_output_is_written_through_staging():
    """gemsflow.staging repairs Snakemake's records of update() outputs whose job did not finish, and
    relies on the job dropping its note when it does; a rule with update() outputs whose script does
    not write through staged_outputs would get its new outputs' records rolled back."""
    rules = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule |    rule )", smk.read_text()):
            name = re.match(r"\s*rule (\w+)", block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            if name and "update(" in block:
                assert script, f"rule {name.group(1)} has update() outputs but no script"
                rules[name.group(1)] = (smk.parent / script.group(1)).resolve()
    assert {"train_gnn", "baseline", "llm_lora", "production_model", "score_run"} <= set(rules)
    for rule, script in rules.items():
        assert "with staged_outputs(dict(snakemake.output.items()))" in script.read_text(), rule


@pytest.mark.slow
def test_a_corrupt_input_fails_the_rerun_naming_it_and_keeps_the_predictions(workdir):
    config = tiny_config(workdir)
    run = workdir / "results/runs/setting1/tiny/majority/seed42"
    target = f"{run.relative_to(workdir)}/metrics.json"
    snakemake(workdir, target, "--configfile", str(config))
    before = results_hashes(workdir)
    split = workdir / "results/splits/setting1/tiny/seed42/split.parquet"
    split.write_bytes(split.read_bytes()[:100])  # a disk that filled up; its mtime is new
    proc = snakemake(workdir, target, "--configfile", str(config), check=False)
    assert proc.returncode != 0
    log = (workdir / "logs/baseline/setting1/tiny/majority/seed42.log").read_text()
    assert f"{split.relative_to(workdir)}: not a readable parquet table" in log
    assert "delete the file and rerun" in log
    after = results_hashes(workdir)
    split_key = str(split.relative_to(workdir / "results"))
    assert {k: v for k, v in after.items() if k != split_key} == {
        k: v for k, v in before.items() if k != split_key
    }
    # The fix the message gives: deleted, the split is rebuilt byte for byte when asked for, and the
    # run redone from it gives the same predictions and metrics (only its timings differ).
    split.unlink()
    snakemake(workdir, target, str(split.relative_to(workdir)), "--configfile", str(config))

    def computed(hashes):
        return {k: v for k, v in hashes.items() if not k.startswith("benchmarks/")}

    assert computed(results_hashes(workdir)) == computed(before)


def test_records_are_put_back_only_where_a_stopped_job_changed_them(tmp_path, monkeypatch):
    """The repair is silent for a job that was planned but never started, and puts back what
    Snakemake changed for one that failed: its record, the output's mtime, the incomplete mark and the
    backup copy."""
    from gemsflow import staging

    monkeypatch.chdir(tmp_path)
    output = "results/run/model.safetensors"
    Path(output).parent.mkdir(parents=True)
    Path(output).write_bytes(b"old model")
    os.utime(output, ns=(1_000_000_000, 1_000_000_000))
    record = staging._record("metadata", output)
    record.parent.mkdir(parents=True)
    record.write_text('{"params": "old"}')
    staging.note_untouched([[output]])
    monkeypatch.setattr(staging, "_alive", lambda run: False)  # the noting run has ended
    assert staging.repair_bookkeeping() == []  # never started: nothing to put back, note dropped
    assert not staging.NOTES.exists() or not any(staging.NOTES.iterdir())

    staging.note_untouched([[output]])
    # What Snakemake does when the job fails: the new params recorded, the backup copied back (new
    # mtime), and after a stop, the mark and the backup left.
    record.write_text('{"params": "new"}')
    Path(output).write_bytes(b"old model")
    mark = staging._record("incomplete", output)
    mark.parent.mkdir(parents=True)
    mark.write_text("{}")
    backup = staging._backup(output)
    backup.parent.mkdir(parents=True)
    backup.write_bytes(b"old model")
    assert staging.repair_bookkeeping() == [output]
    assert record.read_text() == '{"params": "old"}'
    assert os.stat(output).st_mtime_ns == 1_000_000_000
    assert not mark.exists() and not backup.exists()
