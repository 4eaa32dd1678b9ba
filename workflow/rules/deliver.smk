# The deliverable of a (setting, dataset): its leaderboard (built once, by rule leaderboard, with the
# training-cost columns) copied as summary.{tsv,md}, plus each run's metrics.


localrules:
    deliver,


rule deliver:
    input:
        leaderboard_tsv=f"{LEADERBOARD}.tsv",
        leaderboard_md=f"{LEADERBOARD}.md",
        metrics=lambda wildcards: run_metrics(wildcards.setting, wildcards.dataset),
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
