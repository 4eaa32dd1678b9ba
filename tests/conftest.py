"""Shared fixtures: the real GEMS data beside the project, a tiny GEMS-layout dataset, and a runner
that executes the real workflow in a temporary copy of the project."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_GEMS = ROOT.parent / "shared" / "data" / "gems"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


# Fixtures that take 10 s to minutes: running the workflow in a copy of the project, converting the
# packaged SmolLM2 checkpoint.
SLOW_FIXTURES = {"workdir", "smollm2"}


def pytest_collection_modifyitems(items):
    """A test that uses a slow fixture is ``slow``, so ``make test-fast`` (``-m "not slow"``) leaves
    it out; ``make test`` runs it."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def load_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="session")
def shared_gems() -> Path:
    if not SHARED_GEMS.exists():
        pytest.fail(f"{SHARED_GEMS} is missing: the real GEMS data must sit beside the project")
    return SHARED_GEMS


@pytest.fixture(scope="session")
def real_dataset(shared_gems):
    """Load twin / dunning_kruger once per session."""
    from gemsflow.data.datasets import load_source, resolve_paths

    cache = {}

    def load(name: str):
        if name not in cache:
            entry = resolve_paths(load_config()["datasets"][name], shared_gems)
            cache[name] = load_source(name, entry)
        return cache[name]

    return load


def write_tiny_gems(
    directory: Path, prefix: str = "tiny", n_people: int = 40, seed: int = 0
) -> Path:
    """A small GEMS-layout dataset: two traits, six questions (3 or 4 options), some blanks."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    questions = [f"Q{i}_W1" for i in range(1, 7)]
    n_opts = {q: 3 if i % 2 else 4 for i, q in enumerate(questions)}
    options_map = {
        q: {f"{c}.0": f"option {c} of {q}" for c in range(1, n_opts[q] + 1)} for q in questions
    }
    options_map["AGE"] = {"1.0": "18-29", "2.0": "30-49", "3.0": "50+"}
    options_map["PARTY"] = {"1.0": "left", "2.0": "right"}
    age = rng.integers(1, 4, n_people)
    party = rng.integers(1, 3, n_people)
    table = {"QKEY": [str(1000 + i) for i in range(n_people)], "AGE": age, "PARTY": party}
    for q in questions:
        answers = np.where(party == 1, 1, n_opts[q]).astype(float)
        noise = rng.random(n_people) < 0.3
        answers[noise] = rng.integers(1, n_opts[q] + 1, noise.sum())
        answers[rng.random(n_people) < 0.1] = np.nan
        table[q] = answers
    question_strings = {q: f"How do you feel about topic {q}?" for q in questions}
    return write_gems_files(directory, prefix, table, question_strings, options_map)


def write_gems_files(
    directory: Path, prefix: str, table: dict, question_strings: dict, options_map: dict
) -> Path:
    """The GEMS file layout: responses CSV (a weight column added) plus the question/option JSON files."""
    pd.DataFrame({**table, "WEIGHT_W1": 1.0}).to_csv(
        directory / f"{prefix}_responses.csv", index=False
    )
    files = {
        "question_keys": list(question_strings),
        "question_strings": question_strings,
        "options_map": options_map,
        "option_strings": {},
    }
    for name, obj in files.items():
        (directory / f"{prefix}_{name}.json").write_text(json.dumps(obj, indent=1))
    return directory


TINY_DATASET_ENTRY = {
    "format": "gems",
    "prefix": "tiny",
    "id_column": "QKEY",
    "weight_column": "WEIGHT_W1",
    "min_answers": 2,
    "traits": {
        "age": {"column": "AGE", "description": "Age"},
        "party": {"column": "PARTY", "description": "Party"},
    },
}


@pytest.fixture
def workdir(tmp_path):
    """A copy of the workflow (Snakefile, rules, scripts, config, profiles) in a temp directory."""
    work = tmp_path / "work"
    work.mkdir()
    for item in ("Snakefile", "workflow", "config", "envs", "profiles", "src"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, work / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, work / item)
    return work


def tiny_config(work: Path, **overrides) -> Path:
    """A config for the tiny dataset with only baseline methods; returns its path."""
    data_dir = write_tiny_gems(work / "data" / "tiny")
    config = load_config()
    config["datasets"] = {"tiny": {**TINY_DATASET_ENTRY, "dir": str(data_dir)}}
    config["run"] = {"datasets": ["tiny"], "settings": ["setting1"]}
    config["methods"] = {s: ["majority", "subgroup_majority"] for s in config["settings"]}
    config["dataset_methods"] = {}
    config.update(overrides)
    path = work / "config" / "test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file's bytes, except a killed job's hidden staging folder (never an output; the job's
    next run removes it)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".staging-") for part in p.parts)
    }


def snakemake_command(work: Path, *args: str) -> list[str]:
    return [SNAKEMAKE, "--cores", "1", "--directory", str(work), "--snakefile", str(work / "Snakefile"), *args]  # fmt: skip


SNAKEMAKE_ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}


def snakemake(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        snakemake_command(work, *args),
        cwd=work,
        capture_output=True,
        text=True,
        env=SNAKEMAKE_ENV,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_snakemake(work: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own process group (to be stopped as a terminal or a scheduler stops it); its
    output goes to a file, so a long run never blocks on a full pipe."""
    log = open(work / f"snakemake-{time.time_ns()}.out", "w")  # noqa: SIM115 (the child holds it)
    proc = subprocess.Popen(
        snakemake_command(work, *args),
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=SNAKEMAKE_ENV,
    )
    proc.log_path = Path(log.name)
    log.close()
    return proc


def wait_for_staging(proc: subprocess.Popen, folder: Path, timeout: float = 300) -> None:
    """Return once a job has taken its outputs' lock and opened its staging folder (it is working)."""
    deadline = time.time() + timeout
    while not list(folder.glob(".staging-*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, (
        f"the run ended before it could be interrupted:\n{proc.log_path.read_text()}"
    )
    assert list(folder.glob(".staging-*")), "the job never started writing"


def interrupt_job(proc: subprocess.Popen, folder: Path, sig: int, after: float) -> None:
    """Wait until the job writing into ``folder`` works, let it run ``after`` seconds, then send ``sig``
    to the whole process group (Ctrl-C in a terminal sends SIGINT; kill and SLURM send SIGTERM)."""
    try:
        wait_for_staging(proc, folder)
        time.sleep(after)
        assert proc.poll() is None, "the job finished before it could be interrupted"
        os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, proc.log_path.read_text()


def planned_jobs(work: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs in Snakemake's dry-run plan (empty when there is nothing to do)."""
    proc = snakemake(work, "--dry-run", *args)
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    lines = text.split("Job stats:", 1)[1].splitlines()
    jobs = {}
    for line in lines[3:]:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        jobs[fields[0]] = int(fields[1])
    return jobs


@pytest.fixture
def fake_vllm(monkeypatch):
    """Installs a stand-in ``vllm`` module with the LLM/SamplingParams surface the backend uses.

    ``install(tokenizer, top, text)`` makes every prompt's next-token logprobs ``top`` (token id ->
    probability) and its generated text ``text``; it returns the dict where the engine records its
    keyword arguments (``engine``), the sampling parameters (``params``) and the prompts it was given.
    """

    def install(tokenizer, top: dict[int, float], text: str) -> dict:
        recorded: dict = {}
        module = types.ModuleType("vllm")

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **kwargs):
                recorded["engine"] = kwargs

            def get_tokenizer(self):
                return tokenizer

            def generate(self, prompts, params, lora_request=None):
                recorded["params"], recorded["prompts"] = params.kwargs, prompts
                logprobs = {i: types.SimpleNamespace(logprob=math.log(p)) for i, p in top.items()}
                reply = types.SimpleNamespace(logprobs=[logprobs], text=text)
                return [types.SimpleNamespace(outputs=[reply]) for _ in prompts]

        module.LLM, module.SamplingParams = LLM, SamplingParams
        monkeypatch.setitem(sys.modules, "vllm", module)
        return recorded

    return install
