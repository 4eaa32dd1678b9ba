# LLM branch: tiny model, text embeddings, hidden states, prompts, and the zeroshot / fewshot / cot / lora
# runs of every model in config["llm"]["models"]. Computation lives in gemsflow.llm.

import re

from gemsflow.llm.runs import (
    TINY_MODEL_DIR,
    method_settings,
    model_entry,
    model_location,
)

LLM = config.get("llm", {})
LLM_MODELS = "|".join(re.escape(key) for key in LLM.get("models", {})) or "no_llm_model"
LLM_EMBEDDERS = (
    "|".join(re.escape(key) for key in LLM.get("embedders", {})) or "no_embedder"
)
PROMPTS = "results/prompts/{setting}/{dataset}/seed{seed}/{style}"
TEXT_EMBEDDINGS = "results/embeddings/{dataset}/{embedder}/text_embeddings.safetensors"
LLM_RUN = "results/runs/{setting}/{dataset}/{kind}-{model}/seed{seed}"


def llm_entry(wildcards):
    return model_entry(LLM, wildcards.model)


def llm_location(wildcards):
    return model_location(llm_entry(wildcards))


def llm_model_files(wildcards):
    """The tiny model is built by the workflow; other models are read from their path or hub id."""
    return [TINY_MODEL_DIR] if llm_entry(wildcards).get("build") == "tiny" else []


def llm_is_local_cpu(wildcards):
    entry = llm_entry(wildcards)
    return entry.get("build") == "tiny" or entry.get("backend") == "openai"


def llm_threads(wildcards):
    # The tiny model runs best on one thread (two threads beside other busy jobs ran several times slower);
    # GPU jobs use a few CPU threads for tokenisation and data handling.
    return 1 if llm_is_local_cpu(wildcards) else 4


def llm_gpu(wildcards):
    return 0 if llm_is_local_cpu(wildcards) else 1


def llm_mem(wildcards):
    return (
        4000
        if llm_is_local_cpu(wildcards)
        else int(llm_entry(wildcards).get("mem_mb", 64000))
    )


def llm_runtime(wildcards):
    return (
        30
        if llm_is_local_cpu(wildcards)
        else int(llm_entry(wildcards).get("runtime", 720))
    )


def fewshot_style():
    return f"fewshot{int(LLM['fewshot']['k'])}"


def prompt_embeddings(wildcards):
    if wildcards.style == "zeroshot":
        return []
    return TEXT_EMBEDDINGS.format(
        dataset=wildcards.dataset, embedder=LLM["prompts"]["embedder"]
    )


def prompt_file(wildcards, style, part):
    return (
        PROMPTS.format(
            setting=wildcards.setting,
            dataset=wildcards.dataset,
            seed=wildcards.seed,
            style=style,
        )
        + f"/{part}.jsonl"
    )


def eval_prompts(wildcards, style):
    return {part: prompt_file(wildcards, style, part) for part in ("val", "test")}


def lora_style(wildcards):
    return method_settings(LLM, wildcards.model, "lora")["prompt_style"]


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


rule llm_text_embeddings:
    input:
        data=DATASET_FILES,
    output:
        TEXT_EMBEDDINGS,
    log:
        "logs/llm_text_embeddings/{dataset}/{embedder}.log",
    wildcard_constraints:
        embedder=LLM_EMBEDDERS,
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        embedder=lambda wildcards: LLM["embedders"][wildcards.embedder],
        cache_dir="results/cache/embeddings",
    script:
        "../scripts/llm_text_embeddings.py"


rule llm_hidden_states:
    input:
        data=DATASET_FILES,
        model=llm_model_files,
    output:
        "results/hidden_states/{dataset}/{model}/{position}/hidden_states.safetensors",
    log:
        "logs/llm_hidden_states/{dataset}/{model}/{position}.log",
    wildcard_constraints:
        model=LLM_MODELS,
        position="last|eos",
    conda:
        "../../envs/llm.yaml"
    threads: llm_threads
    resources:
        mem_mb=llm_mem,
        runtime=llm_runtime,
        gpu=llm_gpu,
    params:
        entry=llm_entry,
        location=llm_location,
        options=LLM.get("hidden_states", {}),
    script:
        "../scripts/llm_hidden_states.py"


rule llm_prompts_eval:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        embeddings=prompt_embeddings,
    output:
        val=PROMPTS + "/val.jsonl",
        test=PROMPTS + "/test.jsonl",
    log:
        "logs/llm_prompts_eval/{setting}/{dataset}/seed{seed}/{style}.log",
    wildcard_constraints:
        style="zeroshot|fewshot[0-9]+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        shuffle_options=LLM.get("prompts", {}).get("shuffle_options", False),
    script:
        "../scripts/llm_prompts.py"


# Training prompts only for methods that train (LoRA).
rule llm_prompts_train:
    input:
        data=DATASET_FILES,
        split=SPLIT,
        embeddings=prompt_embeddings,
    output:
        train=PROMPTS + "/train.jsonl",
    log:
        "logs/llm_prompts_train/{setting}/{dataset}/seed{seed}/{style}.log",
    wildcard_constraints:
        style="zeroshot|fewshot[0-9]+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        shuffle_options=LLM.get("prompts", {}).get("shuffle_options", False),
    script:
        "../scripts/llm_prompts.py"


rule llm_prompting:
    input:
        unpack(
            lambda wildcards: eval_prompts(
                wildcards,
                "zeroshot" if wildcards.kind == "zeroshot" else fewshot_style(),
            )
        ),
        model=llm_model_files,
    output:
        predictions=LLM_RUN + "/predictions.parquet",
        info=LLM_RUN + "/run_info.json",
    log:
        "logs/llm_prompting/{setting}/{dataset}/{kind}-{model}/seed{seed}.log",
    wildcard_constraints:
        kind="zeroshot|fewshot",
        model=LLM_MODELS,
    conda:
        "../../envs/llm.yaml"
    threads: llm_threads
    resources:
        mem_mb=llm_mem,
        runtime=llm_runtime,
        gpu=llm_gpu,
    params:
        entry=llm_entry,
        location=llm_location,
        style=lambda wildcards: (
            "zeroshot" if wildcards.kind == "zeroshot" else fewshot_style()
        ),
    script:
        "../scripts/llm_prompting.py"


rule llm_cot:
    input:
        unpack(lambda wildcards: eval_prompts(wildcards, "zeroshot")),
        data=DATASET_FILES,
        split=SPLIT,
        model=llm_model_files,
    output:
        predictions=LLM_RUN.replace("{kind}", "cot") + "/predictions.parquet",
        info=LLM_RUN.replace("{kind}", "cot") + "/run_info.json",
    log:
        "logs/llm_cot/{setting}/{dataset}/{model}/seed{seed}.log",
    wildcard_constraints:
        model=LLM_MODELS,
    conda:
        "../../envs/llm.yaml"
    threads: llm_threads
    resources:
        mem_mb=llm_mem,
        runtime=llm_runtime,
        gpu=llm_gpu,
    params:
        entry=llm_entry,
        location=llm_location,
        options=lambda wildcards: method_settings(LLM, wildcards.model, "cot"),
        expert=lambda wildcards: LLM["cot"]["experts"].get(
            wildcards.dataset, LLM["cot"]["experts"]["default"]
        ),
    script:
        "../scripts/llm_cot.py"


rule llm_lora:
    input:
        unpack(lambda wildcards: eval_prompts(wildcards, lora_style(wildcards))),
        train=lambda wildcards: prompt_file(wildcards, lora_style(wildcards), "train"),
        data=DATASET_FILES,
        split=SPLIT,
        model=llm_model_files,
    output:
        predictions=LLM_RUN.replace("{kind}", "lora") + "/predictions.parquet",
        info=LLM_RUN.replace("{kind}", "lora") + "/run_info.json",
        adapter=directory("results/models/lora/{setting}/{dataset}/{model}/seed{seed}"),
    log:
        "logs/llm_lora/{setting}/{dataset}/{model}/seed{seed}.log",
    wildcard_constraints:
        model=LLM_MODELS,
    conda:
        "../../envs/llm.yaml"
    threads: llm_threads
    resources:
        mem_mb=llm_mem,
        runtime=llm_runtime,
        gpu=llm_gpu,
    params:
        entry=llm_entry,
        location=llm_location,
        options=lambda wildcards: method_settings(LLM, wildcards.model, "lora"),
    script:
        "../scripts/llm_lora.py"
