rule score_run:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        predictions=RUN + "/predictions.parquet",
        info=RUN + "/run_info.json",
    output:
        RUN + "/metrics.json",
    log:
        "logs/score_run/{setting}/{dataset}/{method}/seed{seed}.log",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/score_run.py"
