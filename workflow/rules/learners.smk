# Non-graph learners (gemsflow.methods.learners, gemsflow.methods.similar_questions) and the ensemble of other runs'
# predictions.


rule learner:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        predictions=update(f"{RUN}/predictions.parquet"),
        info=update(f"{RUN}/run_info.json"),
    log:
        "logs/learner/{setting}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/learner/{setting}/{dataset}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        method=registry.rule_pattern("learner"),
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("learner", "mem_mb", 4000),
        runtime=scaled_resource("learner", "runtime", 60),
    params:
        options=lambda wildcards: config["learners"][wildcards.method],
        folds=config["validation_folds"],
    script:
        "../scripts/fit_method.py"


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
        predictions=update(f"{RUN}/predictions.parquet"),
        info=update(f"{RUN}/run_info.json"),
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
        mem_mb=scaled_resource("ensemble", "mem_mb", 4000),
        runtime=scaled_resource("ensemble", "runtime", 10),
    params:
        members=ensemble_members,
        max_steps=lambda wildcards: config["learners"]["ensemble"]["max_steps"],
        folds=config["validation_folds"],
        metric=lambda wildcards: config["learners"]["ensemble"]["metric"],
        axis=lambda wildcards: config["settings"][wildcards.setting]["axis"],
    script:
        "../scripts/run_ensemble.py"


# similar-<features>: a person's answers to training questions whose options read like the new one's
# (<features>: a key of llm.embedders or llm.models, as in mapping-<arch>-<features>).
rule similar_questions:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
    output:
        predictions=update(
            "results/runs/{setting}/{dataset}/similar-{features}/seed{seed}/predictions.parquet"
        ),
        info=update(
            "results/runs/{setting}/{dataset}/similar-{features}/seed{seed}/run_info.json"
        ),
    log:
        "logs/similar_questions/{setting}/{dataset}/similar-{features}/seed{seed}.log",
    benchmark:
        "results/benchmarks/similar_questions/{setting}/{dataset}/similar-{features}/seed{seed}.tsv"
    wildcard_constraints:
        features=MAPPING_FEATURES,
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        options=config["learners"]["similar"],
        smoothing=config["baselines"]["smoothing"],
    script:
        "../scripts/run_similar_questions.py"
