import os
import sys
from pathlib import Path

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
    graph_config,
    name_pattern,
    resolve_config,
    settings_on_axis,
)
from gemsflow.config_checks import check_config  # noqa: E402
from gemsflow.datasets import resolve_paths, source_files  # noqa: E402

# Schema, names and cross-field rules, each error naming the config file; then the schema's defaults.
check_config(
    config,
    Path(workflow.basedir) / "config/schema.yaml",
    workflow.configfiles,
    workflow.overwrite_configfiles,
    workflow.config_settings.config,
)
validate(config, "../../config/schema.yaml", set_default=True)


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


def dataset_entry(name):
    """The dataset's config entry with {gems_data_dir} filled in."""
    datasets = config["datasets"]
    if name not in datasets:
        raise ValueError(
            f"config/config.yaml: field 'datasets': unknown dataset {name!r}. "
            f"Fix: use one of {sorted(datasets)} or add an entry for it under 'datasets'."
        )
    return resolve_paths(datasets[name], config["gems_data_dir"])


def dataset_source_files(wildcards):
    return source_files(dataset_entry(wildcards.dataset))


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
    return deliverables() + run_files() + ["results/reports/benchmarks.html"]
