# Simulating new questions (gemsflow.simulate): a production model per (dataset, arch, features, seed),
# trained once on all people and all questions but a validation slice and reused by every study, then
# results/simulate/<dataset>/<study>/ for each config/studies/<study>.yaml. Editing a study reruns only
# its text features and its simulation. Planning stays torch-free: graph_config/resolve_config and
# features_path come from the gnn and mapping rule files.

SIMULATE = config.get("simulate", {})
PRODUCTION = "results/models/production/{dataset}"
PRODUCTION_GNN = PRODUCTION + "/{arch}/seed{seed}"
PRODUCTION_MODEL = PRODUCTION_GNN + "/{features}"
STUDY_FEATURES = "results/study_features/{study}/{features}/text_embeddings.safetensors"


def new_question_regime():
    """The trainer's regime for questions it never sees: that of the first question-axis setting."""
    settings = settings_on_axis(config, "question")
    if not settings:
        raise ValueError(
            "config: field 'settings': simulation trains with the GNN regime of a setting with "
            "axis: question, and none is configured. Fix: add one, e.g. setting3: {axis: question, ...}."
        )
    return settings[0]


wildcard_constraints:
    study="[A-Za-z0-9_]+",


def simulate_option(key, default):
    return SIMULATE.get(key, default)


def study_embedder(wildcards):
    embedders = config["llm"]["embedders"]
    if wildcards.features not in embedders:
        raise ValueError(
            f"config/config.yaml: field 'simulate.features': {wildcards.features!r} is not a key of "
            f"llm.embedders. Fix: simulate with a text embedder ({sorted(embedders)}); study "
            "questions are embedded with it."
        )
    return embedders[wildcards.features]


def production_models(wildcards):
    return expand(
        f"{PRODUCTION_MODEL}/model.json",
        dataset=wildcards.dataset,
        arch=simulate_option("arch", "sage"),
        seed=config["seeds"],
        features=simulate_option("features", "minilm"),
    )


def simulate_targets():
    """Every configured study of the datasets in run.datasets (rule simulate_all)."""
    studies = simulate_option("studies", {})
    return [
        f"results/simulate/{dataset}/{study}"
        for dataset in config["run"]["datasets"]
        for study in studies.get(dataset, [])
    ]


rule simulate_all:
    input:
        simulate_targets(),


rule production_graph:
    input:
        data=DATASET_FILES,
    output:
        split=PRODUCTION + "/graph/seed{seed}/split.parquet",
        graph=PRODUCTION + "/graph/seed{seed}/graph.pt",
    log:
        "logs/production_graph/{dataset}/seed{seed}.log",
    conda:
        "../../envs/gnn.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        val_ratio=lambda wildcards: float(simulate_option("val_ratio", 0.1)),
        regime=lambda wildcards: new_question_regime(),
        graph_config=lambda wildcards: graph_config(
            config, wildcards.dataset, new_question_regime()
        ),
    script:
        "../scripts/simulate_production_graph.py"


rule production_gnn:
    input:
        graph=PRODUCTION + "/graph/seed{seed}/graph.pt",
    output:
        embeddings=PRODUCTION_GNN + "/embeddings.safetensors",
        run_info=PRODUCTION_GNN + "/run_info.json",
        curve=PRODUCTION_GNN + "/curve.tsv",
        model=PRODUCTION_GNN + "/model.safetensors",
    log:
        "logs/production_gnn/{dataset}/{arch}/seed{seed}.log",
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
        split=PRODUCTION + "/graph/seed{seed}/split.parquet",
        gnn=PRODUCTION_GNN + "/embeddings.safetensors",
        gnn_info=PRODUCTION_GNN + "/run_info.json",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
    output:
        info=PRODUCTION_MODEL + "/model.json",
        model=PRODUCTION_MODEL + "/production.safetensors",
        people=PRODUCTION_MODEL + "/individuals.parquet",
    log:
        "logs/production_model/{dataset}/{arch}/seed{seed}/{features}.log",
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
        alphas=lambda wildcards: [float(a) for a in config["mapping"]["alphas"]],
        skip_embedding_layer=lambda wildcards: config["mapping"]["skip_embedding_layer"],
        embedder=study_embedder,
    script:
        "../scripts/simulate_production_model.py"


rule study_features:
    input:
        study="config/studies/{study}.yaml",
    output:
        features=STUDY_FEATURES,
    log:
        "logs/study_features/{study}/{features}.log",
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


rule simulate_study:
    input:
        study="config/studies/{study}.yaml",
        features=lambda wildcards: STUDY_FEATURES.format(
            study=wildcards.study, features=simulate_option("features", "minilm")
        ),
        models=production_models,
    output:
        directory("results/simulate/{dataset}/{study}"),
    log:
        "logs/simulate_study/{dataset}/{study}.log",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        bootstrap=lambda wildcards: simulate_option("bootstrap", {}),
    script:
        "../scripts/simulate_study.py"


HELDOUT = "results/simulate_heldout/{dataset}/{arch}-{features}/seed{seed}"


def heldout_llm_entry(wildcards):
    key = simulate_option("heldout_llm", "tiny")
    return config["llm"]["models"][key] if key else None


def heldout_llm_files(wildcards):
    entry = heldout_llm_entry(wildcards)
    return [TINY_MODEL_DIR] if entry and entry.get("build") == "tiny" else []


def heldout_llm_location(wildcards):
    entry = heldout_llm_entry(wildcards)
    if not entry:
        return None
    return TINY_MODEL_DIR if entry.get("build") == "tiny" else entry.get("path")


rule simulate_heldout:
    input:
        data=DATASET_FILES,
        split="results/splits/setting3/{dataset}/seed{seed}/split.parquet",
        gnn="results/runs/setting3/{dataset}/{arch}/seed{seed}/embeddings.safetensors",
        gnn_info="results/runs/setting3/{dataset}/{arch}/seed{seed}/run_info.json",
        features=lambda wildcards: features_path(
            config, wildcards.dataset, wildcards.features
        ),
        llm=heldout_llm_files,
    output:
        distances=HELDOUT + "/subgroup_distances.parquet",
        model=directory(HELDOUT + "/model"),
    log:
        "logs/simulate_heldout/{dataset}/{arch}-{features}/seed{seed}.log",
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
        alphas=lambda wildcards: [float(a) for a in config["mapping"]["alphas"]],
        skip_embedding_layer=lambda wildcards: config["mapping"]["skip_embedding_layer"],
        embedder=study_embedder,
        llm=lambda wildcards: simulate_option("heldout_llm", "tiny"),
        llm_entry=heldout_llm_entry,
        llm_location=heldout_llm_location,
    script:
        "../scripts/simulate_heldout.py"


rule simulate_heldout_table:
    input:
        distances=lambda wildcards: expand(
            HELDOUT + "/subgroup_distances.parquet",
            dataset=wildcards.dataset,
            arch=simulate_option("arch", "sage"),
            features=simulate_option("features", "minilm"),
            seed=config["seeds"],
        ),
    output:
        tsv="results/leaderboards/setting3/{dataset}/simulation.tsv",
        md="results/leaderboards/setting3/{dataset}/simulation.md",
    log:
        "logs/simulate_heldout_table/{dataset}.log",
    conda:
        "../../envs/simulate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/simulate_heldout_table.py"
