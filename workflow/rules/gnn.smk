# GEMS graph networks: a cached graph per (setting, dataset, seed), then one training job per arch.
# What a setting does comes from its config blocks, never from its name: settings.<name>.axis picks the
# training rule (axis question: new questions, the run exports embeddings for the mapping stage) and
# gnn.*.settings.<name> the training regime. A run's {arch} is a GEMS method: an arch or a named variant
# (gnn.variants), which trains its base arch with its own config in its own run directory.
from gemsflow.config import base_arch


rule build_graph:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        graph="results/graphs/{setting}/{dataset}/seed{seed}/graph.pt",
    log:
        "logs/build_graph/{setting}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/build_graph/{setting}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/gnn.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("build_graph", "mem_mb", 4000),
        runtime=scaled_resource("build_graph", "runtime", 10),
    params:
        graph_config=lambda wildcards: graph_config(
            config, wildcards.dataset, wildcards.setting
        ),
    script:
        "../scripts/build_graph.py"


rule train_gnn:
    input:
        graph=rules.build_graph.output.graph,
    output:
        # update(): Snakemake keeps the previous run's files until the script replaces them on success.
        predictions=update(f"{GNN_RUN}/predictions.parquet"),
        run_info=update(f"{GNN_RUN}/run_info.json"),
        curve=update(f"{GNN_RUN}/curve.tsv"),
        model=update(f"{GNN_RUN}/model.safetensors"),
    log:
        "logs/train_gnn/{setting}/{dataset}/{arch}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_gnn/{setting}/{dataset}/{arch}/seed{seed}.tsv"
    wildcard_constraints:
        arch=GNN_METHOD,
        setting=name_pattern(settings_on_axis(config, "individual")),
    # The longest jobs of a table start as soon as their graph exists, so that on a few cores the
    # short jobs (scoring, baselines) fill the gaps instead of leaving one long training at the end.
    priority: 1
    conda:
        "../../envs/gnn.yaml"
    # The computation's thread count is fixed by config (it decides the summation order); the job
    # reserves exactly that many cores.
    threads: gnn_threads
    resources:
        mem_mb=scaled_resource("train_gnn", "mem_mb", 8000),
        runtime=scaled_resource("train_gnn", "runtime", 60),
    params:
        arch=lambda wildcards: base_arch(config["gnn"], wildcards.arch),
        gnn_config=lambda wildcards: resolve_config(
            config["gnn"], wildcards.arch, wildcards.dataset
        ),
        folds=config["validation_folds"],
    script:
        "../scripts/train_gnn.py"


# The same training on a question-axis setting: the run exports the choice embeddings that the mapping
# stage reads instead of predicting new questions itself.
use rule train_gnn as train_gnn_new_questions with:
    output:
        # update(): Snakemake keeps the previous run's files until the script replaces them on success.
        embeddings=update(f"{GNN_RUN}/embeddings.safetensors"),
        run_info=update(f"{GNN_RUN}/run_info.json"),
        curve=update(f"{GNN_RUN}/curve.tsv"),
        model=update(f"{GNN_RUN}/model.safetensors"),
    benchmark:
        "results/benchmarks/train_gnn_new_questions/{setting}/{dataset}/{arch}/seed{seed}.tsv"
    wildcard_constraints:
        arch=GNN_METHOD,
        setting=name_pattern(settings_on_axis(config, "question")),
