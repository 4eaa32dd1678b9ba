# Non-graph learners (gemsflow.learners) and the ensemble of other runs' predictions.


rule learner:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        predictions=f"{RUN}/predictions.parquet",
        info=f"{RUN}/run_info.json",
    log:
        "logs/learner/{setting}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/learner/{setting}/{dataset}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        method="logreg",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        options=lambda wildcards: config["learners"][wildcards.method],
    script:
        "../scripts/run_learner.py"


rule ensemble:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        members=lambda wildcards: expand(
            f"{RUN}/predictions.parquet",
            method=ensemble_members(wildcards),
            allow_missing=True,
        ),
    output:
        predictions=f"{RUN}/predictions.parquet",
        info=f"{RUN}/run_info.json",
    log:
        "logs/ensemble/{setting}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ensemble/{setting}/{dataset}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        method="ensemble",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        members=ensemble_members,
        max_steps=lambda wildcards: config["learners"]["ensemble"]["max_steps"],
        folds=lambda wildcards: config["learners"]["ensemble"]["folds"],
        axis=lambda wildcards: config["settings"][wildcards.setting]["axis"],
    script:
        "../scripts/run_ensemble.py"
