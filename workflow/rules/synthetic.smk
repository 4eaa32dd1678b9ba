# The synthetic survey (default dataset): generated from config["datasets"]["synthetic"]["generator"]
# into the GEMS file layout, which prepare_dataset then reads like any other GEMS-layout dataset.

SYNTHETIC_ENTRY = config.get("datasets", {}).get("synthetic", {})

if "generator" in SYNTHETIC_ENTRY:

    rule synthesize_dataset:
        output:
            responses=f"{SYNTHETIC_ENTRY['dir']}/{SYNTHETIC_ENTRY['prefix']}_responses.csv",
            texts=multiext(
                f"{SYNTHETIC_ENTRY['dir']}/{SYNTHETIC_ENTRY['prefix']}_",
                "question_keys.json",
                "question_strings.json",
                "options_map.json",
                "option_strings.json",
                "question_meta.json",
            ),
        log:
            "logs/synthesize_dataset/synthetic.log",
        benchmark:
            "results/benchmarks/synthesize_dataset/synthetic.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            prefix=SYNTHETIC_ENTRY["prefix"],
            generator=SYNTHETIC_ENTRY["generator"],
        script:
            "../scripts/synthesize_dataset.py"


# Synthetic Pew ATP waves for each OpinionQA entry with a generator block: `.sav` files laid out like
# Pew's releases, written into the entry's raw_dir and read by prepare_dataset through the same reader
# as a user's downloads (gemsflow.data.datasets.atp_synthetic). The wave files are known once the shipped
# question keys are readable; without them prepare_dataset reports the missing text files.
for atp_name, atp_entry in config.get("datasets", {}).items():
    if atp_entry.get("format") != "opinionqa" or "generator" not in atp_entry:
        continue
    atp_entry = dataset_entry(atp_name)
    if not opinionqa_wave_files(atp_entry):
        continue

    rule:
        name:
            f"synthesize_atp_{atp_name}"
        input:
            opinionqa_text_files(atp_entry),
        output:
            opinionqa_wave_files(atp_entry),
        log:
            f"logs/synthesize_atp/{atp_name}.log",
        benchmark:
            f"results/benchmarks/synthesize_atp/{atp_name}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            entry=atp_entry,
            where=f"datasets.{atp_name}",
        script:
            "../scripts/synthesize_atp.py"
