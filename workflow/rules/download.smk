# Twin-2K-500 and Dunning–Kruger from the Hugging Face hub, for users with a network. The files go to
# resources/downloads/ only, never into another gems_data_dir, so a rerun of this rule can never replace or
# delete data a user copied in by hand. Use them with `--config gems_data_dir=resources/downloads`.


rule download_dataset:
    output:
        responses=protected(
            "resources/downloads/{hf_dataset}/{hf_dataset}_responses.csv"
        ),
        texts=protected(
            multiext(
                "resources/downloads/{hf_dataset}/{hf_dataset}_",
                "question_keys.json",
                "question_strings.json",
                "options_map.json",
                "option_strings.json",
            )
        ),
    log:
        "logs/download_dataset/{hf_dataset}.log",
    benchmark:
        "results/benchmarks/download_dataset/{hf_dataset}.tsv"
    wildcard_constraints:
        hf_dataset="twin|dunning_kruger",
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    script:
        "../scripts/download_dataset.py"
