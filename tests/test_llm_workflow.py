"""The whole LLM branch through Snakemake: tiny model, MiniLM embeddings, prompts, four methods, metrics."""

from __future__ import annotations

import json

import pandas as pd
from conftest import snakemake, tiny_config

METHODS = ["zeroshot-tiny", "fewshot-tiny", "cot-tiny", "lora-tiny"]


def test_llm_branch_end_to_end(workdir):
    config = tiny_config(workdir)
    import yaml

    cfg = yaml.safe_load(config.read_text())
    cfg["methods"]["setting1"] = METHODS
    cfg["llm"]["tiny"]["corpus_dataset"] = "tiny"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake(workdir, "--configfile", str(config))

    runs = workdir / "results" / "runs" / "setting1" / "tiny"
    split = pd.read_parquet(
        workdir / "results" / "splits" / "setting1" / "tiny" / "seed42" / "split.parquet"
    )
    n_test = int((split["part"] == "test").sum())
    for method in METHODS:
        metrics = json.loads((runs / method / "seed42" / "metrics.json").read_text())
        assert metrics["method"] == method
        assert metrics["n_test"] == n_test
        assert 0.0 <= metrics["accuracy"] <= 1.0
    info = {m: json.loads((runs / m / "seed42" / "run_info.json").read_text()) for m in METHODS}
    assert 0.0 < info["zeroshot-tiny"]["valid_letter_mass_mean"] <= 1.0
    assert (
        info["fewshot-tiny"]["mean_examples"] > 0
    )  # setting 1 reveals some answers of test people
    assert (
        info["cot-tiny"]["n_reflections"]
        == split.loc[split["part"] != "train", "individual"].nunique()
    )
    assert 0.0 <= info["cot-tiny"]["invalid_rate"] <= 1.0
    lora = info["lora-tiny"]
    assert [e["epoch"] for e in lora["epochs"]] == [1, 2]
    best = max(lora["epochs"], key=lambda e: e["val_accuracy"])
    assert lora["best_epoch"] == best["epoch"]
    # Nothing reads test before the end: no test accuracy in the run's info (nor in method_info).
    lora_metrics = json.loads((runs / "lora-tiny" / "seed42" / "metrics.json").read_text())
    assert not [k for k in json.dumps(lora_metrics["method_info"]).split('"') if "test" in k]
    assert lora_metrics["method_info"]["best_val_accuracy"] == best["val_accuracy"]
    assert (
        workdir
        / "results"
        / "models"
        / "lora"
        / "setting1"
        / "tiny"
        / "tiny"
        / "seed42"
        / "adapter_config.json"
    ).exists()
    embeddings = (
        workdir / "results" / "embeddings" / "tiny" / "minilm" / "text_embeddings.safetensors"
    )
    assert embeddings.exists()
