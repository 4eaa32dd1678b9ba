def retest_table(wildcards):
    """The dataset's test-retest table from config (evaluation.retest), or None."""
    return config.get("evaluation", {}).get("retest", {}).get(wildcards.dataset)


rule score_run:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        predictions=RUN + "/predictions.parquet",
        info=RUN + "/run_info.json",
        retest=lambda wildcards: [retest_table(wildcards)] if retest_table(wildcards) else [],
    output:
        RUN + "/metrics.json",
    params:
        evaluation=lambda wildcards: config.get("evaluation", {}),
        retest=retest_table,
    log:
        "logs/score_run/{setting}/{dataset}/{method}/seed{seed}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/score_run.py"
