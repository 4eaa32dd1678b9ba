# Setting 3: ridge map from choice-text features to the GNN's choice embeddings (methods
# mapping-<arch>-<features>); <features> is a key of llm.embedders (text embeddings) or of llm.models
# (hidden states at mapping.hidden_state_position). Conda env gnn: torch reads the safetensors inputs.


rule map_llm_to_gnn:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        gnn="results/runs/{setting}/{dataset}/{arch}/seed{seed}/embeddings.safetensors",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
    output:
        predictions=update(
            "results/runs/{setting}/{dataset}/mapping-{arch}-{features}/seed{seed}/predictions.parquet"
        ),
        info=update(
            "results/runs/{setting}/{dataset}/mapping-{arch}-{features}/seed{seed}/run_info.json"
        ),
    log:
        "logs/map_llm_to_gnn/{setting}/{dataset}/mapping-{arch}-{features}/seed{seed}.log",
    benchmark:
        "results/benchmarks/map_llm_to_gnn/{setting}/{dataset}/mapping-{arch}-{features}/seed{seed}.tsv"
    wildcard_constraints:
        arch=GNN_METHOD,
        features=MAPPING_FEATURES,
    conda:
        "../../envs/gnn.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        alphas=lambda wildcards: [float(a) for a in config["mapping"]["alphas"]],
        skip_embedding_layer=config["mapping"]["skip_embedding_layer"],
        feature_variants=config["mapping"]["feature_variants"],
        folds=config["validation_folds"],
    script:
        "../scripts/map_llm_to_gnn.py"
