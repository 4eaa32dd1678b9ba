rule score_run:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        predictions=f"{RUN}/predictions.parquet",
        info=f"{RUN}/run_info.json",
        # A configured test-retest table (evaluation.retest.<dataset>) is an input, so editing it rescores.
        retest=lookup(dpath="retest/{dataset}", within=config["evaluation"], default=[]),
    output:
        # update(): an interrupted or failed rescoring keeps the previous metrics (gemsflow.staging).
        metrics=update(f"{RUN}/metrics.json"),
    log:
        "logs/score_run/{setting}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/score_run/{setting}/{dataset}/{method}/seed{seed}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("score_run", "mem_mb", 4000),
        runtime=scaled_resource("score_run", "runtime", 10),
    params:
        evaluation=config["evaluation"],
        panel=evaluation_panel,
        retest=lookup(
            dpath="retest/{dataset}", within=config["evaluation"], default=None
        ),
    script:
        "../scripts/score_run.py"
