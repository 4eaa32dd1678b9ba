# GEMS graph networks: a cached graph per (setting, dataset, seed), then one training job per arch.
# The training regime of a setting comes from config gnn.*.settings.<setting>, never from file names.
from gemsflow.gnn_training import graph_config, resolve_config


rule build_graph:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        graph="results/graphs/{setting}/{dataset}/seed{seed}/graph.pt",
    log:
        "logs/build_graph/{setting}/{dataset}/seed{seed}.log",
    conda:
        "../../envs/gnn.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        graph_config=lambda wildcards: graph_config(
            config["gnn"], wildcards.dataset, wildcards.setting
        ),
    script:
        "../scripts/build_graph.py"


rule train_gnn:
    input:
        graph="results/graphs/{setting}/{dataset}/seed{seed}/graph.pt",
    output:
        # update(): Snakemake keeps the previous run's files until the script replaces them on success.
        predictions=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/predictions.parquet"
        ),
        run_info=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/run_info.json"
        ),
        curve=update("results/runs/{setting}/{dataset}/{arch}/seed{seed}/curve.tsv"),
        model=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/model.safetensors"
        ),
    log:
        "logs/train_gnn/{setting}/{dataset}/{arch}/seed{seed}.log",
    wildcard_constraints:
        arch="mf|rgcn|gat|sage",
        setting="setting[12]",
    conda:
        "../../envs/gnn.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        gnn_config=lambda wildcards: resolve_config(
            config["gnn"], wildcards.arch, wildcards.dataset
        ),
    script:
        "../scripts/train_gnn.py"


rule train_gnn_new_questions:
    input:
        graph="results/graphs/{setting}/{dataset}/seed{seed}/graph.pt",
    output:
        embeddings=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/embeddings.safetensors"
        ),
        run_info=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/run_info.json"
        ),
        curve=update("results/runs/{setting}/{dataset}/{arch}/seed{seed}/curve.tsv"),
        model=update(
            "results/runs/{setting}/{dataset}/{arch}/seed{seed}/model.safetensors"
        ),
    log:
        "logs/train_gnn/{setting}/{dataset}/{arch}/seed{seed}.log",
    wildcard_constraints:
        arch="mf|rgcn|gat|sage",
        setting="setting3",
    conda:
        "../../envs/gnn.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        gnn_config=lambda wildcards: resolve_config(
            config["gnn"], wildcards.arch, wildcards.dataset
        ),
    script:
        "../scripts/train_gnn.py"
