rule score_run:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        predictions="results/runs/{setting}/{dataset}/{method}/seed{seed}/predictions.parquet",
        info="results/runs/{setting}/{dataset}/{method}/seed{seed}/run_info.json",
    output:
        "results/runs/{setting}/{dataset}/{method}/seed{seed}/metrics.json",
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
