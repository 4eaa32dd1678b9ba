rule prepare_dataset:
    input:
        dataset_source_files,
    output:
        DATASET_FILES,
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("prepare_dataset", "mem_mb", 8000),
        runtime=scaled_resource("prepare_dataset", "runtime", 30),
    params:
        entry=lambda wildcards: dataset_entry(wildcards.dataset),
    script:
        "../scripts/prepare_dataset.py"


rule split:
    input:
        DATASET_FILES,
    output:
        split=SPLIT,
        sizes="results/splits/{setting}/{dataset}/seed{seed}/split_sizes.json",
    log:
        "logs/split/{setting}/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/split/{setting}/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=scaled_resource("split", "mem_mb", 4000),
        runtime=scaled_resource("split", "runtime", 10),
    params:
        spec=lookup(dpath="{setting}", within=config["settings"]),
    script:
        "../scripts/make_split.py"
