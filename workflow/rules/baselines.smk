rule baseline:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        predictions=update(f"{RUN}/predictions.parquet"),
        info=update(f"{RUN}/run_info.json"),
    log:
        "logs/baseline/{setting}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/baseline/{setting}/{dataset}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        method=registry.rule_pattern("baseline"),
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("baseline", "mem_mb", 4000),
        runtime=scaled_resource("baseline", "runtime", 10),
    params:
        options=config["baselines"],
        folds=config["validation_folds"],
    script:
        "../scripts/fit_method.py"
