# Simulating new questions (gemsflow.simulate): a production model per (dataset, arch, features, seed),
# trained once on all people and all questions but a validation slice and reused by every study, then
# results/simulate/<dataset>/<study>/ for each config/studies/<study>.yaml. Editing a study reruns only
# its text features and its simulation. Planning stays torch-free: graph_config/resolve_config and
# features_path come from common.smk.


wildcard_constraints:
    study="[A-Za-z0-9_]+",


rule simulate_all:
    input:
        simulate_targets(),


rule production_graph:
    input:
        data=DATASET_FILES,
    output:
        split=f"{PRODUCTION}/graph/seed{{seed}}/split.parquet",
        graph=f"{PRODUCTION}/graph/seed{{seed}}/graph.pt",
    log:
        "logs/production_graph/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/production_graph/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/gnn.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        val_ratio=SIMULATE["val_ratio"],
        regime=lambda wildcards: new_question_regime(),
        graph_config=lambda wildcards: graph_config(
            config, wildcards.dataset, new_question_regime()
        ),
    script:
        "../scripts/simulate_production_graph.py"


rule production_gnn:
    input:
        graph=f"{PRODUCTION}/graph/seed{{seed}}/graph.pt",
    output:
        embeddings=update(f"{PRODUCTION_GNN}/embeddings.safetensors"),
        run_info=update(f"{PRODUCTION_GNN}/run_info.json"),
        curve=update(f"{PRODUCTION_GNN}/curve.tsv"),
        model=update(f"{PRODUCTION_GNN}/model.safetensors"),
    log:
        "logs/production_gnn/{dataset}/{arch}/seed{seed}.log",
    benchmark:
        "results/benchmarks/production_gnn/{dataset}/{arch}/seed{seed}.tsv"
    wildcard_constraints:
        arch=GNN_ARCH,
    conda:
        "../../envs/gnn.yaml"
    threads: gnn_threads
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        gnn_config=lambda wildcards: resolve_config(
            config["gnn"], wildcards.arch, wildcards.dataset
        ),
    script:
        "../scripts/simulate_production_gnn.py"


rule production_model:
    input:
        data=DATASET_FILES,
        split=f"{PRODUCTION}/graph/seed{{seed}}/split.parquet",
        gnn=f"{PRODUCTION_GNN}/embeddings.safetensors",
        gnn_info=f"{PRODUCTION_GNN}/run_info.json",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
    output:
        info=update(f"{PRODUCTION_MODEL}/model.json"),
        model=update(f"{PRODUCTION_MODEL}/production.safetensors"),
        people=update(f"{PRODUCTION_MODEL}/individuals.parquet"),
    log:
        "logs/production_model/{dataset}/{arch}/seed{seed}/{features}.log",
    benchmark:
        "results/benchmarks/production_model/{dataset}/{arch}/seed{seed}/{features}.tsv"
    wildcard_constraints:
        arch=GNN_ARCH,
        features="[A-Za-z0-9_.-]+",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        mapping_grid=production_mapping_grid,
        embedder=study_embedder,
    script:
        "../scripts/simulate_production_model.py"


rule production_similar:
    input:
        data=DATASET_FILES,
        split=f"{PRODUCTION}/graph/seed{{seed}}/split.parquet",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
    output:
        info=update(f"{PRODUCTION}/similar-{{features}}/seed{{seed}}/model.json"),
        model=update(
            f"{PRODUCTION}/similar-{{features}}/seed{{seed}}/production.safetensors"
        ),
        people=update(
            f"{PRODUCTION}/similar-{{features}}/seed{{seed}}/individuals.parquet"
        ),
    log:
        "logs/production_similar/{dataset}/similar-{features}/seed{seed}.log",
    benchmark:
        "results/benchmarks/production_similar/{dataset}/similar-{features}/seed{seed}.tsv"
    wildcard_constraints:
        features="[A-Za-z0-9_.-]+",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        similar=config["learners"]["similar"],
        smoothing=config["baselines"]["smoothing"],
        embedder=study_embedder,
    script:
        "../scripts/simulate_production_similar.py"


rule study_features:
    input:
        study="config/studies/{study}.yaml",
    output:
        features=STUDY_FEATURES,
    log:
        "logs/study_features/{study}/{features}.log",
    benchmark:
        "results/benchmarks/study_features/{study}/{features}.tsv"
    wildcard_constraints:
        features="[A-Za-z0-9_.-]+",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        embedder=study_embedder,
    script:
        "../scripts/simulate_study_features.py"


rule simulate_heldout:
    input:
        data=DATASET_FILES,
        split=f"results/splits/{NEW_QUESTIONS}/{{dataset}}/seed{{seed}}/split.parquet",
        gnn=f"results/runs/{NEW_QUESTIONS}/{{dataset}}/{{arch}}/seed{{seed}}/embeddings.safetensors",
        gnn_info=f"results/runs/{NEW_QUESTIONS}/{{dataset}}/{{arch}}/seed{{seed}}/run_info.json",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
        llm=heldout_llm_files,
    output:
        distances=f"{HELDOUT}/subgroup_distances.parquet",
        shares=f"{HELDOUT}/group_shares.parquet",
        info=f"{HELDOUT}/heldout_info.json",
        model=directory(f"{HELDOUT}/model"),
        model_similar=directory(f"{HELDOUT}/model_similar"),
    log:
        "logs/simulate_heldout/{dataset}/{arch}-{features}/seed{seed}.log",
    benchmark:
        "results/benchmarks/simulate_heldout/{dataset}/{arch}-{features}/seed{seed}.tsv"
    wildcard_constraints:
        arch=GNN_ARCH,
        features="[A-Za-z0-9_.-]+",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        mapping_grid=production_mapping_grid,
        embedder=study_embedder,
        llm=SIMULATE["heldout_llm"],
        llm_entry=heldout_llm_entry,
        llm_location=heldout_llm_location,
        similar=config["learners"]["similar"],
        smoothing=config["baselines"]["smoothing"],
        generator=lambda wildcards: config["datasets"][wildcards.dataset].get(
            "generator"
        ),
    script:
        "../scripts/simulate_heldout.py"


rule simulate_heldout_table:
    input:
        shares=lambda wildcards: heldout_files(wildcards, "group_shares.parquet"),
        info=lambda wildcards: heldout_files(wildcards, "heldout_info.json"),
    output:
        tsv=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/simulation.tsv",
        md=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/simulation.md",
        contrasts=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/contrasts.tsv",
        contrasts_md=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/contrasts.md",
        evidence=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/contrast_evidence.tsv",
        choice=f"results/leaderboards/{NEW_QUESTIONS}/{{dataset}}/simulate_choice.json",
    log:
        "logs/simulate_heldout_table/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate_heldout_table/{dataset}.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        min_n=config["evaluation"]["min_subgroup_individuals"],
        features=SIMULATE["features"],
        arch=SIMULATE["arch"],
    script:
        "../scripts/simulate_heldout_table.py"


rule simulate_study:
    input:
        study=checked_study,
        features=lambda wildcards: STUDY_FEATURES.format(
            study=wildcards.study, features=SIMULATE["features"]
        ),
        models=production_models,
        evidence=rules.simulate_heldout_table.output.evidence,
        choice=rules.simulate_heldout_table.output.choice,
        heldout_runs=study_evidence_files,
    output:
        directory("results/simulate/{dataset}/{study}"),
    log:
        "logs/simulate_study/{dataset}/{study}.log",
    benchmark:
        "results/benchmarks/simulate_study/{dataset}/{study}.tsv"
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        bootstrap=SIMULATE["bootstrap"],
        heldout=study_evidence,
    script:
        "../scripts/simulate_study.py"
