"""Everything of the LLM and GNN branches that needs a GPU, checked in one run (< 8 minutes on one GPU).

1. Batched letter scoring of a random-weight 7B-class Llama config in bf16: tokens/s and the fraction of
   the GPU's peak dense bf16 FLOP/s (the pieces of ``benchmarks/llm_scoring_throughput.py``).
2. Hidden states of 1,000 choice texts of the synthetic survey (``gemsflow.methods.llm.hidden_states.extract``)
   through the same model.
3. One LoRA epoch (``gemsflow.methods.llm.finetune.train_lora``) on a 1,000-prompt slice of the synthetic survey's
   training prompts, with a random-weight ~0.6B Llama built and saved like the tiny model.
4. ``deterministic: true`` on a GNN run (SAGE, synthetic setting 1) on the GPU, twice: does it run, and
   are the two runs' predictions bit-identical?

Prints one table. Without CUDA it runs the same code with the tiny config and small sizes, and says so
(a smoke test of the script, not GPU figures):
    python benchmarks/gpu_check.py            # GPU: full sizes; CPU: tiny sizes
"""

from __future__ import annotations

import os

# cuBLAS reads this when its first handle is created; the deterministic GNN run (4.) needs it.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LORA = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["llm"]["lora"]
sys.path.insert(0, str(ROOT / "benchmarks"))
from llm_scoring_throughput import (  # noqa: E402
    build_model,
    flops_per_token,
    peak_tflops,
    scoring_throughput,
    synthetic_prompts,
)

SIZES = {
    # scoring model, prompts, prompt tokens, batch; hidden-state texts; LoRA model, prompts; GNN epochs
    "gpu": dict(model="7b", prompts=256, tokens=450, batch=32, texts=1000, lora_hidden=2048,
                lora_layers=16, lora_prompts=1000, people=400, gnn_epochs=20, gnn_steps=10),
    "cpu": dict(model="tiny", prompts=16, tokens=40, batch=8, texts=100, lora_hidden=64,
                lora_layers=2, lora_prompts=32, people=60, gnn_epochs=2, gnn_steps=2),
}  # fmt: skip


def synthetic_data(out: Path, people: int):
    from gemsflow.data.datasets import load_source
    from gemsflow.data.datasets.synthetic import write_synthetic_gems_layout
    from gemsflow.data.splits import SplitSpec, make_split

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    entry = config["datasets"]["synthetic"]
    write_synthetic_gems_layout(out, prefix=entry["prefix"], n_individuals=people, n_questions=24)
    data = load_source("synthetic", {**entry, "dir": str(out)})
    split = make_split(data, SplitSpec(**config["settings"]["setting1"]), 42)
    return config, data, split


def check_scoring(size: dict, device: torch.device):
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build_model(size["model"], device, dtype, size["tokens"])
    ids, letters, tables = synthetic_prompts(
        size["prompts"], size["tokens"], model.config.vocab_size, 5, seed=0
    )
    tokens = sum(len(x) for x in ids)
    fpt = flops_per_token(model, sum(len(x) ** 2 for x in ids) / tokens / 2)
    r = scoring_throughput(
        model, ids, letters, tables, size["batch"], fpt, peak_tflops(device, None), 2
    )
    share = r["fraction_of_peak_bf16"]
    detail = f"{r['tokens_per_s']:.0f} tokens/s, {r['tflops']:.3g} TFLOP/s" + (
        f", {share:.1%} of peak bf16" if share is not None else ", no peak known (CPU)"
    )
    params = sum(p.numel() for p in model.parameters()) / 1e9
    what = f"{size['model']} ({params:.2f}B) {str(dtype)[6:]}, {len(ids)} prompts, batch {size['batch']}"
    return model, ("letter scoring", what, r["seconds"], detail)


def check_hidden_states(model, data, size: dict):
    from gemsflow.methods.llm.hidden_states import extract
    from gemsflow.methods.llm.tiny_model import build_tokenizer, corpus

    # 960 BPE tokens plus at most 26 added letters: ids < 1024, valid for every config's vocabulary.
    tokenizer = build_tokenizer(corpus(data), vocab_size=960)
    choices = data.options["choice_text"].astype(str).tolist()
    texts = [f"{choices[i % len(choices)]} ({i})" for i in range(size["texts"])]
    start = time.perf_counter()
    states, layers = extract(model, tokenizer, texts, layers="all", batch_size=32)
    seconds = time.perf_counter() - start
    ok = bool(torch.isfinite(states.float()).all())
    detail = f"{tuple(states.shape)}, finite: {ok}, {len(texts) / seconds:.0f} texts/s"
    return ("hidden states", f"{len(texts)} choice texts, {len(layers)} layers", seconds, detail)


def check_lora(data, split, size: dict, work: Path):
    from gemsflow.methods.llm.finetune import train_lora
    from gemsflow.methods.llm.prompts import PromptStyle, build_prompts
    from gemsflow.methods.llm.runs import validation_credit
    from gemsflow.methods.llm.tiny_model import build_tiny_model

    heads = max(4, size["lora_hidden"] // 128)
    path = build_tiny_model(
        data,
        work / "lora_model",
        hidden_size=size["lora_hidden"],
        n_layers=size["lora_layers"],
        n_heads=heads,
        initializer_range=0.02 if size["lora_hidden"] > 256 else 0.2,
    )
    prompts = {
        p: build_prompts(data, split, p, PromptStyle(0), seed=0) for p in ("train", "val", "test")
    }
    n = size["lora_prompts"]
    val = prompts["val"][: n // 5]
    # Validation is scored on exactly the sliced pairs: the scorer requires every val pair it is given.
    sliced = pd.MultiIndex.from_tuples([(r["individual"], r["question"]) for r in val])
    pairs = pd.MultiIndex.from_frame(split[["individual", "question"]])
    val_split = split[(split["part"] != "val") | pairs.isin(sliced)]
    start = time.perf_counter()
    _, info = train_lora(
        str(path),
        prompts["train"][:n],
        val,
        prompts["test"][: n // 5],
        validation_credit(data, val_split),
        work / "adapter",
        # llm.lora's defaults (config/config.yaml owns them), one epoch without accumulation.
        settings={**LORA, "epochs": 1, "batch_size": 8, "grad_accum": 1, "lr": 2e-4},
        seed=0,
    )
    seconds = time.perf_counter() - start
    (epoch,) = info["epochs"]
    what = f"{n} prompts, 1 epoch, {info['trainable_parameters']} LoRA parameters"
    detail = (
        f"{info['optimizer_steps']} steps, loss {epoch['train_loss']:.3f}, "
        f"val accuracy {epoch['val_accuracy']:.3f} ({n // 5} val prompts)"
    )
    return ("LoRA epoch", what, seconds, detail)


def check_gnn_determinism(config, data, split, size: dict, work: Path):
    from gemsflow.config import deep_merge, graph_config, resolve_config
    from gemsflow.methods.gnn.graph import build_graph
    from gemsflow.methods.gnn.training import pick_device, train_run

    gc = graph_config(config, "synthetic", "setting1")
    bundle = build_graph(data, split, gc, setting="setting1", seed=42)
    cfg = deep_merge(
        resolve_config(config["gnn"], "sage", "synthetic"),
        {
            "deterministic": True,
            "threads": 1,
            "training": {
                "max_epochs": size["gnn_epochs"],
                "steps_per_epoch": size["gnn_steps"],
                "patience": 100,
            },
        },
    )
    runs, start = [], time.perf_counter()
    try:
        for run in (1, 2):
            out = {k: str(work / f"gnn{run}_{k}") for k in ("curve", "model", "run_info")}
            out["predictions"] = str(work / f"gnn{run}.parquet")
            train_run(bundle, "sage", cfg, 42, out, progress=False)
            runs.append(pd.read_parquet(out["predictions"]))
    except RuntimeError as error:  # an op without a deterministic kernel: that is the finding
        return (
            "GNN deterministic",
            "sage setting1",
            time.perf_counter() - start,
            f"FAILED: {error}",
        )
    finally:
        torch.use_deterministic_algorithms(False)
    same = runs[0].equals(runs[1])
    device = pick_device(str(cfg.get("device", "auto")))
    what = f"sage setting1, {size['gnn_epochs']}x{size['gnn_steps']} steps, twice, {device}"
    return ("GNN deterministic", what, time.perf_counter() - start, f"bit-identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = "gpu" if device.type == "cuda" else "cpu"
    size = SIZES[kind]
    if kind == "cpu":
        torch.set_num_threads(1)
    name = torch.cuda.get_device_name(device) if kind == "gpu" else "CPU"
    print(
        f"device: {name}"
        + (
            ""
            if kind == "gpu"
            else " -- no CUDA: tiny config and sizes, a smoke test, not GPU figures"
        )
    )
    rows, total = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config, data, split = synthetic_data(work / "synthetic", size["people"])
        model, row = check_scoring(size, device)
        rows.append(row)
        rows.append(check_hidden_states(model, data, size))
        del model
        if kind == "gpu":
            torch.cuda.empty_cache()
        rows.append(check_lora(data, split, size, work))
        rows.append(check_gnn_determinism(config, data, split, size, work))
    widths = [max(len(str(r[i])) for r in rows) for i in (0, 1)]
    print(f"{'check':<{widths[0]}}  {'size':<{widths[1]}}  {'seconds':>8}  result")
    for check, what, seconds, detail in rows:
        print(f"{check:<{widths[0]}}  {what:<{widths[1]}}  {seconds:8.2f}  {detail}")
    print(f"total {time.perf_counter() - total:.1f} s on {kind}")


if __name__ == "__main__":
    main()
