# Leaderboards and report figures per (setting, dataset), all from the runs' metrics.json files.
# `snakemake evaluation_report --report report.html` collects them into one self-contained HTML report.


# Small aggregators run in the head process: a cluster would queue each for minutes.
localrules:
    leaderboard,
    evaluation_plots,
    provenance,
    benchmark_report,


# The training jobs' benchmark files are inputs (Snakemake counts a benchmark file among its rule's
# products), so the leaderboard waits for them and a deleted one is re-measured, never read as 0. The
# predictions, splits and data give the leads over the best floor their paired intervals.
rule leaderboard:
    input:
        metrics=lambda wildcards: run_metrics(wildcards.setting, wildcards.dataset),
        predictions=lambda wildcards: [
            path.removesuffix("metrics.json") + "predictions.parquet"
            for path in run_metrics(wildcards.setting, wildcards.dataset)
        ],
        splits=lambda wildcards: expand(
            SPLIT,
            setting=wildcards.setting,
            dataset=wildcards.dataset,
            seed=config["seeds"],
        ),
        data=DATASET_FILES,
        benchmarks=lambda wildcards: [job[2] for job in training_benchmarks(wildcards)],
    output:
        tsv=f"{LEADERBOARD}.tsv",
        md=f"{LEADERBOARD}.md",
        html=report(
            f"{LEADERBOARD}.html",
            caption="../report/leaderboard.rst",
            category="{dataset}, {setting}",
            subcategory="1. Leaderboard",
            labels=report_labels("leaderboard"),
        ),
    log:
        "logs/leaderboard/{setting}/{dataset}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        training_jobs=training_benchmarks,
        root=BENCHMARKS,
        seeds=config["seeds"],
        placeholders=placeholder_methods,
        bootstrap=config["evaluation"]["bootstrap"],
    script:
        "../scripts/leaderboard.py"


rule evaluation_plots:
    input:
        lambda wildcards: run_metrics(wildcards.setting, wildcards.dataset),
    output:
        accuracy=report(
            f"{REPORT_DIR}/accuracy.png",
            caption="../report/accuracy.rst",
            category="{dataset}, {setting}",
            subcategory="2. Accuracy",
            labels=report_labels("accuracy per method"),
        ),
        calibration=report(
            f"{REPORT_DIR}/calibration.png",
            caption="../report/calibration.rst",
            category="{dataset}, {setting}",
            subcategory="3. Calibration",
            labels=report_labels("calibration"),
        ),
        subgroups=report(
            f"{REPORT_DIR}/subgroup_accuracy.png",
            caption="../report/subgroups.rst",
            category="{dataset}, {setting}",
            subcategory="4. Subgroups",
            labels=report_labels("accuracy per subgroup"),
        ),
    log:
        "logs/evaluation_plots/{setting}/{dataset}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plots.py"


rule provenance:
    input:
        lambda wildcards: sorted(
            {
                path
                for dataset in config["run"]["datasets"]
                for path in source_files(dataset_entry(dataset))
            }
        ),
    output:
        report(
            "results/reports/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"figure": "provenance"},
        ),
    log:
        "logs/provenance/provenance.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
        workflow_dir=workflow.basedir,
    script:
        "../scripts/plots_provenance.py"


rule evaluation_report:
    input:
        report_targets(),
    localrule: True


# Time and memory per rule from the benchmark files of the jobs behind the deliverables. It reads every
# file under results/benchmarks/ when it runs, after all the jobs it depends on.
rule benchmark_report:
    input:
        deliverables(),
    output:
        tsv="results/reports/benchmarks.tsv",
        html=report(
            "results/reports/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
            labels={"figure": "time and memory per rule"},
        ),
    log:
        "logs/benchmark_report/benchmark_report.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        root=BENCHMARKS,
    script:
        "../scripts/benchmark_report.py"
