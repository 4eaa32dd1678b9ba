import os
import re
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from snakemake.io import is_flagged
from snakemake.utils import min_version, validate

min_version("9.0")

# The gemsflow package is imported by this Snakefile and by every job's script, also inside
# per-rule conda environments, which hold only third-party packages.
GEMSFLOW_SRC = str(Path(workflow.basedir) / "src")
if GEMSFLOW_SRC not in sys.path:
    sys.path.insert(0, GEMSFLOW_SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (GEMSFLOW_SRC, os.getenv("PYTHONPATH")) if p)
)

# Planning imports only torch-free modules (stdlib, yaml, pandas): the head process may run on a login
# node without the GPU stack; each job's conda env holds what its script needs.
from gemsflow.config import (  # noqa: E402
    ARCHS,
    gnn_methods,
    features_path,
    graph_config,
    model_files,
    model_location,
    name_pattern,
    resolve_config,
    settings_on_axis,
)
from gemsflow.config_checks import check_config  # noqa: E402
from gemsflow.data.datasets import resolve_paths, source_files  # noqa: E402
from gemsflow.data.datasets.opinionqa import (  # noqa: E402
    opinionqa_text_files,
    opinionqa_wave_files,
)
from gemsflow.data.splits import Panel  # noqa: E402
from gemsflow.methods import registry  # noqa: E402
from gemsflow.staging import note_untouched, repair_bookkeeping  # noqa: E402
from gemsflow.simulation.studies import load_study, planning_traits  # noqa: E402

# Schema, names and cross-field rules, each error naming the config file, the key and the fix; the schema
# check fills in the schema's defaults in place (the schema is their only owner).
check_config(
    config,
    Path(workflow.basedir) / "config/schema.yaml",
    workflow.configfiles,
    workflow.overwrite_configfiles,
    workflow.config_settings.config,
    local=bool(workflow.local_exec),
)
# Snakemake's own validation as well, so the config that jobs see is the one snakemake.utils.validate
# accepts (about 0.3 s CPU per plan: the schema is parsed and checked a second time).
validate(config, "../../config/schema.yaml", set_default=True)

# A job that failed or was stopped before replacing its outputs left them as they were; Snakemake's
# records of them (params, mtime, incomplete mark) are put back before planning (gemsflow.staging).
# Only the run's head process does this, never a job that parses the workflow (remote or subprocess).
if not (workflow.remote_exec or workflow.subprocess_exec):
    for untouched in repair_bookkeeping():
        print(
            f"gemsflow: kept {untouched} as it was before a stopped or failed job",
            file=sys.stderr,
        )


onstart:
    # What Snakemake records of each staged job's outputs, before any job of this run can change it.
    # Not under --touch: no job runs, so none would drop its note, and the next parse would undo the touch.
    if not workflow.touch:
        note_untouched(
            [str(f) for f in job.output]
            for job in workflow.dag.needrun_jobs()
            if any(is_flagged(f, "update") for f in job.output)
        )


# A setting is any configured key; what it does comes from its block (settings.<name>.axis).
wildcard_constraints:
    setting=name_pattern(config["settings"]),
    dataset="[A-Za-z0-9_]+",
    seed="[0-9]+",


DATASET_FILES = multiext(
    "results/data/{dataset}/",
    "individuals.parquet",
    "questions.parquet",
    "options.parquet",
    "responses.parquet",
    "dataset.json",
)
SPLIT = "results/splits/{setting}/{dataset}/seed{seed}/split.parquet"
RUN = "results/runs/{setting}/{dataset}/{method}/seed{seed}"
# Choice-text feature keys (methods mapping-<arch>-<features> and similar-<features>): the configured
# keys only, since a variant name may hold dashes (mapping-sage-long-minilm is arch sage-long).
MAPPING_FEATURES = name_pattern([*config["llm"]["embedders"], *config["llm"]["models"]])
# A run's {arch} is a GEMS method: an arch (GNN_ARCH) or a configured variant.
GNN_ARCH = name_pattern(ARCHS)
GNN_METHOD = name_pattern(gnn_methods(config["gnn"]))
GNN_RUN = "results/runs/{setting}/{dataset}/{arch}/seed{seed}"
BENCHMARKS = "results/benchmarks"
SIMULATE = config["simulate"]
# Simulation: production models, study features and held-out evidence.
PRODUCTION = "results/models/production/{dataset}"
PRODUCTION_GNN = f"{PRODUCTION}/{{arch}}/seed{{seed}}"
PRODUCTION_MODEL = f"{PRODUCTION_GNN}/{{features}}"
STUDY_FEATURES = "results/study_features/{study}/{features}/text_embeddings.safetensors"
HELDOUT = "results/simulate_heldout/{dataset}/{arch}-{features}/seed{seed}"
# The question-axis setting whose splits and runs back simulation and its held-out evidence: the first
# configured (new_question_regime() says how to add one where none is).
QUESTION_SETTINGS = settings_on_axis(config, "question")
NEW_QUESTIONS = (
    QUESTION_SETTINGS[0] if QUESTION_SETTINGS else "no_question_axis_setting"
)


def dataset_entry(name):
    """The dataset's config entry with {gems_data_dir} filled in."""
    datasets = config["datasets"]
    if name not in datasets:
        raise ValueError(
            f"config/config.yaml: field 'datasets': unknown dataset {name!r}. "
            f"Fix: use one of {sorted(datasets)} or add an entry for it under 'datasets'."
        )
    return resolve_paths(datasets[name], config["gems_data_dir"])


def evaluation_panel(wildcards):
    """The dataset's evaluation panel (gemsflow.data.splits.Panel fields) on an individual-axis setting;
    None where questions are held out or no panel is set. Resolved here, so that one dataset's jobs
    do not rerun when another dataset's panel changes."""
    if config["settings"][wildcards.setting]["axis"] != "individual":
        return None
    panel = Panel.from_config(config["evaluation"]["panel"], wildcards.dataset)
    return asdict(panel) if panel else None


# rule download_dataset writes here; a gems_data_dir below it may not exist before that rule runs.
DOWNLOADS = "resources/downloads"


def dataset_source_files(wildcards):
    """The files rule prepare_dataset reads. A dataset under gems_data_dir whose folder does not exist
    fails the plan with where the data comes from, not with a bare list of missing files.
    """
    raw = config["datasets"].get(wildcards.dataset, {})
    entry = dataset_entry(wildcards.dataset)
    folder = Path(entry.get("dir", ""))
    from_data_dir = "{gems_data_dir}" in str(raw.get("dir", ""))
    downloaded = (
        Path(config["gems_data_dir"])
        .resolve()
        .is_relative_to(Path(DOWNLOADS).resolve())
    )
    if from_data_dir and not downloaded and not folder.is_dir():
        raise ValueError(
            f"config: field 'gems_data_dir': dataset {wildcards.dataset!r} is read from {folder}, "
            f"which does not exist (gems_data_dir is {config['gems_data_dir']!r}). Fix: point "
            "gems_data_dir at the folder holding twin/ and dunning_kruger/, e.g. "
            "--config gems_data_dir=../shared/data/gems (README: Running on real data), or "
            "download them with a network: snakemake --cores 1 "
            f"{DOWNLOADS}/{wildcards.dataset}/{wildcards.dataset}_responses.csv, then "
            f"--config gems_data_dir={DOWNLOADS}."
        )
    return source_files(entry)


def methods_for(setting, dataset=None):
    """The setting's methods plus those configured for this dataset only."""
    extra = config.get("dataset_methods", {}).get(dataset, {}).get(setting, [])
    return config["methods"].get(setting, []) + [
        m for m in extra if m not in config["methods"].get(setting, [])
    ]


def run_metrics(setting, dataset, methods=None, seeds=None):
    return expand(
        f"{RUN}/metrics.json",
        setting=setting,
        dataset=dataset,
        method=methods if methods is not None else methods_for(setting, dataset),
        seed=seeds if seeds is not None else config["seeds"],
    )


LEADERBOARD = "results/leaderboards/{setting}/{dataset}/leaderboard"
REPORT_DIR = "results/reports/{setting}/{dataset}"


def report_labels(figure):
    return {"dataset": "{dataset}", "setting": "{setting}", "figure": figure}


def report_targets(datasets=None, settings=None):
    """Leaderboard pages and figures of every configured (setting, dataset) to run."""
    datasets = datasets or config["run"]["datasets"]
    return ["results/reports/provenance.html"] + expand(
        [
            f"{LEADERBOARD}.html",
            f"{REPORT_DIR}/accuracy.png",
            f"{REPORT_DIR}/calibration.png",
            f"{REPORT_DIR}/subgroup_accuracy.png",
        ],
        dataset=datasets,
        setting=settings or config["run"]["settings"],
    )


def deliverables():
    """The (setting, dataset) result folders and report pages of the default run."""
    return (
        expand(
            "results/{setting}/{dataset}",
            setting=config["run"]["settings"],
            dataset=config["run"]["datasets"],
        )
        + report_targets()
    )


def run_files():
    """Each run's predictions and run_info: Snakemake does not rebuild a deleted input of a job whose
    output (metrics.json) is up to date, so as targets of their own they are rebuilt when deleted.
    """
    return [
        metrics.removesuffix("metrics.json") + name
        for dataset in config["run"]["datasets"]
        for setting in config["run"]["settings"]
        for metrics in run_metrics(setting, dataset)
        for name in ("predictions.parquet", "run_info.json")
    ]


def all_targets():
    """The default run: the deliverables, every run's files, the benchmark table and the configured
    studies (simulate.studies), whose production models the README's notebook example reads.
    """
    return (
        deliverables()
        + run_files()
        + ["results/reports/benchmarks.html"]
        + simulate_targets()
    )


# --- helpers of workflow/rules/gnn.smk (functions live here: snakemake --lint) ---


def gnn_threads(wildcards):
    return resolve_config(config["gnn"], wildcards.arch, wildcards.dataset)["threads"]


# --- helpers of workflow/rules/learners.smk (functions live here: snakemake --lint) ---


def ensemble_members(wildcards):
    """learners.ensemble.members of the setting, or every other configured method ("auto")."""
    members = config["learners"]["ensemble"]["members"]
    if members == "auto":
        chosen = methods_for(wildcards.setting, wildcards.dataset)
    else:
        chosen = members.get(wildcards.setting, [])
    return [m for m in chosen if m != "ensemble"]


# --- helpers of workflow/rules/report.smk (functions live here: snakemake --lint) ---


def training_rules(setting, method):
    """(rule, job folder) of each job that fits ``method`` for a seed: what the leaderboard's training
    time and memory measure (gemsflow.methods.registry). Shared preparation (data, split, graph, text
    features, prompts) and scoring are not counted; an ensemble counts only its own job.
    """
    resolved = registry.resolve(method, config)
    if resolved is None:
        return []  # no known training job: the leaderboard shows n/a
    return resolved.jobs(config["settings"][setting]["axis"])


def placeholder_methods(wildcards):
    """Methods of the (setting, dataset) whose language model is one the workflow builds with random
    weights (llm.models.<model>.build): they exercise the code path and mean nothing."""
    built = {
        name for name, entry in config["llm"]["models"].items() if entry.get("build")
    }
    return [
        method
        for method in methods_for(wildcards.setting, wildcards.dataset)
        if getattr(registry.resolve(method, config), "model", None) in built
    ]


def training_benchmarks(wildcards):
    """[method, seed, benchmark file] of every training job behind the leaderboard's runs."""
    setting, dataset = wildcards.setting, wildcards.dataset
    return [
        [
            method,
            seed,
            f"{BENCHMARKS}/{rule}/{setting}/{dataset}/{folder}/seed{seed}.tsv",
        ]
        for method in methods_for(setting, dataset)
        for seed in config["seeds"]
        for rule, folder in training_rules(setting, method)
    ]


# --- helpers of workflow/rules/simulate.smk (functions live here: snakemake --lint) ---


def new_question_regime():
    """The trainer's regime for questions it never sees: that of the first question-axis setting."""
    if not QUESTION_SETTINGS:
        raise ValueError(
            "config: field 'settings': simulation trains with the GNN regime of a setting with "
            "axis: question, and none is configured. Fix: add one, e.g. setting3: {axis: question, ...}."
        )
    return NEW_QUESTIONS


def production_mapping_grid(wildcards):
    """The mapping's search grid (mapping.alphas, skip_embedding_layer, feature_variants), as keyword
    arguments of gemsflow.simulation.production.fit_production_mapping."""
    return {
        "alphas": [float(a) for a in config["mapping"]["alphas"]],
        "skip_embedding_layer": config["mapping"]["skip_embedding_layer"],
        "variants": config["mapping"]["feature_variants"],
    }


def study_embedder(wildcards):
    embedders = config["llm"]["embedders"]
    if wildcards.features not in embedders:
        raise ValueError(
            f"config/config.yaml: field 'simulate.features': {wildcards.features!r} is not a key of "
            f"llm.embedders. Fix: simulate with a text embedder ({sorted(embedders)}); study "
            "questions are embedded with it."
        )
    return embedders[wildcards.features]


def production_models(wildcards):
    """The production models behind simulate: one per seed, of the method simulate.method names."""
    features = SIMULATE["features"]
    if simulate_method(wildcards.dataset) == "similar":
        pattern = f"{PRODUCTION}/similar-{{features}}/seed{{seed}}/model.json"
    else:
        pattern = f"{PRODUCTION_MODEL}/model.json"
    return expand(
        pattern,
        dataset=wildcards.dataset,
        arch=SIMULATE["arch"],
        seed=config["seeds"],
        features=features,
    )


def simulate_method(dataset):
    """simulate.method for one dataset: a name, or {default: name, <dataset>: name}."""
    method = SIMULATE["method"]
    return (
        method.get(dataset, method["default"]) if isinstance(method, dict) else method
    )


def heldout_files(wildcards, name):
    """One file of every seed's held-out-question evidence (rule simulate_heldout)."""
    return expand(
        f"{HELDOUT}/{name}",
        dataset=wildcards.dataset,
        arch=SIMULATE["arch"],
        features=SIMULATE["features"],
        seed=config["seeds"],
    )


def checked_study(wildcards):
    """The study file, checked completely while planning, before any job: every problem at once (schema,
    structure, the dataset's traits, its dataset: key), each naming its field."""
    path = f"config/studies/{wildcards.study}.yaml"
    traits = planning_traits(
        dataset_entry(wildcards.dataset),
        f"results/data/{wildcards.dataset}/dataset.json",
    )
    load_study(path, traits=traits, dataset=wildcards.dataset)
    return path


def study_evidence(wildcards):
    """What the study page's held-out evidence reads (gemsflow.simulation.evidence), or None when
    simulate.evidence is false: the setting-3 runs of the production model's method and the floors on
    every seed, and the held-out-question table."""
    if not SIMULATE["evidence"]:
        return None
    setting = new_question_regime()
    features = SIMULATE["features"]
    # The setting-3 method behind the production model that simulate.method names.
    if simulate_method(wildcards.dataset) == "similar":
        method = f"similar-{features}"
    else:
        method = f"mapping-{SIMULATE['arch']}-{features}"
    return {
        "method": method,
        "setting": setting,
        "metrics": {
            name: run_metrics(setting, wildcards.dataset, [name])
            for name in (method, "uniform", "position_prior")
        },
        "heldout": f"results/leaderboards/{setting}/{wildcards.dataset}/simulation.tsv",
        "table_link": f"../../../leaderboards/{setting}/{wildcards.dataset}/simulation.md",
    }


def study_evidence_files(wildcards):
    evidence = study_evidence(wildcards)
    if evidence is None:
        return []
    return [p for paths in evidence["metrics"].values() for p in paths] + [
        evidence["heldout"]
    ]


def simulate_targets():
    """Every configured study of the datasets in run.datasets (rule simulate_all)."""
    studies = SIMULATE["studies"]
    return [
        f"results/simulate/{dataset}/{study}"
        for dataset in config["run"]["datasets"]
        for study in studies.get(dataset, [])
    ]


def heldout_llm_entry(wildcards):
    key = SIMULATE["heldout_llm"]
    return config["llm"]["models"][key] if key else None


def heldout_llm_files(wildcards):
    entry = heldout_llm_entry(wildcards)
    return model_files(entry) if entry else []


def heldout_llm_location(wildcards):
    entry = heldout_llm_entry(wildcards)
    return model_location(entry) if entry else None


# --- the end of a run ---


def stop_replanning_timers(log):
    """Cancel Snakemake's pending re-planning timers once the workflow has ended.

    With --max-jobs-per-timespan N/T, every scheduling pass starts a non-daemon timer that re-plans
    after T; the interpreter waits for the last one before it exits, so a run idled up to T after its
    last job (29 s of a 37 s study edit with profiles/local's 1000/30s). Nothing is left to plan here.
    """
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


onsuccess:
    stop_replanning_timers(log)


onerror:
    stop_replanning_timers(log)
