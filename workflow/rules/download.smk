# Twin-2K-500 and Dunning–Kruger from the Hugging Face hub, for users with a network. Snakemake runs
# this only when the GEMS-layout files are missing from gems_data_dir; offline users copy them there.


rule download_dataset:
    output:
        responses=f"{config['gems_data_dir']}/{{hf_dataset}}/{{hf_dataset}}_responses.csv",
        texts=multiext(
            f"{config['gems_data_dir']}/{{hf_dataset}}/{{hf_dataset}}_",
            "question_keys.json",
            "question_strings.json",
            "options_map.json",
            "option_strings.json",
        ),
    log:
        "logs/download_dataset/{hf_dataset}.log",
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
