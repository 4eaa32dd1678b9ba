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
