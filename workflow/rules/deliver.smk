# The deliverable of a (setting, dataset): summary over methods and seeds plus each run's metrics.


localrules:
    deliver,


rule deliver:
    input:
        lambda wildcards: run_metrics(wildcards.setting, wildcards.dataset),
    output:
        directory("results/{setting}/{dataset}"),
    log:
        "logs/deliver/{setting}/{dataset}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=lambda wildcards: methods_for(wildcards.setting, wildcards.dataset),
        seeds=lambda wildcards: [int(seed) for seed in config["seeds"]],
    script:
        "../scripts/deliver.py"
