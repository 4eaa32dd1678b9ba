rule baseline:
    input:
        data=DATASET_FILES,
        split=SPLIT,
    output:
        predictions=RUN + "/predictions.parquet",
        info=RUN + "/run_info.json",
    wildcard_constraints:
        method="majority|subgroup_majority",
    params:
        options=lambda wildcards: config["baselines"],
    log:
        "logs/baseline/{setting}/{dataset}/{method}/seed{seed}.log",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/run_baseline.py"
