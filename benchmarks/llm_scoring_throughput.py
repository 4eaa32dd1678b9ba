"""Throughput of letter scoring: batched prompts vs one prompt per forward pass.

Builds a random-weight Llama model (no download; weights are never needed to time the arithmetic), makes
synthetic prompts of varying length, and times ``TransformersBackend.letter_scores_from_ids`` (the exact
code path of zero/few-shot scoring and LoRA evaluation) at ``--batch-size`` and at batch size 1.

Reports prompts/s, real (unpadded) tokens/s, achieved FLOP/s and the fraction of the GPU's peak dense
bf16 FLOP/s (FLOPs per real token ~ 2 x parameters + 2 x layers x context x hidden for causal attention).

GPU (7B-class, about 14 GB of bf16 weights):
    python benchmarks/llm_scoring_throughput.py --model 7b --n-prompts 256 --batch-size 32
CPU check with a tiny config:
    python benchmarks/llm_scoring_throughput.py --model tiny --n-prompts 32 --batch-size 8 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import torch

from gemsflow.methods.llm.backends import TransformersBackend

CONFIGS = {
    # Llama-2-7B shapes.
    "7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    ),
    "1b": dict(
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        vocab_size=32000,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
    ),
}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, matched by substring of the device name.
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
    "L4": 121.0,
}


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    # H100 PCIe has a lower peak than SXM; treat "PCIe" specially.
    if "H100" in name and "PCIe" in name:
        return 756.0
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def build_model(name: str, device: torch.device, dtype: torch.dtype, max_len: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**CONFIGS[name], max_position_embeddings=max(max_len * 2, 4096))
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    return model.eval()


def synthetic_prompts(n: int, mean_len: int, vocab: int, n_options: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(mean_len // 2, mean_len * 3 // 2 + 1, (n,), generator=g).tolist()
    ids = [torch.randint(10, vocab, (length,), generator=g).tolist() for length in lengths]
    letters = [chr(ord("A") + i) for i in range(n_options)]
    table = {letter: [(3 + i,)] for i, letter in enumerate(letters)}
    return ids, [letters] * n, [table] * n


def flops_per_token(model, context: float) -> float:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    return 2.0 * params + 2.0 * cfg.num_hidden_layers * context * cfg.hidden_size


def time_scoring(backend, ids, letter_lists, tables, device, repeats: int) -> float:
    backend.letter_scores_from_ids(
        ids[: min(len(ids), backend.batch_size)], letter_lists, tables
    )  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        backend.letter_scores_from_ids(ids, letter_lists, tables)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def scoring_throughput(
    model, ids, letter_lists, tables, batch_size: int, fpt: float, peak: float | None, repeats: int
) -> dict:
    """Timed letter scoring of ``ids`` at ``batch_size``: prompts/s, tokens/s, TFLOP/s, share of peak."""
    device = next(model.parameters()).device
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=1)
    backend = TransformersBackend("", tokenizer=tokenizer, model=model, batch_size=batch_size)
    seconds = time_scoring(backend, ids, letter_lists[: len(ids)], tables, device, repeats)
    real_tokens = sum(len(x) for x in ids)
    achieved = fpt * real_tokens / seconds
    return {
        "batch_size": batch_size,
        "prompts": len(ids),
        "seconds": round(seconds, 4),
        "prompts_per_s": round(len(ids) / seconds, 2),
        "tokens_per_s": round(real_tokens / seconds, 1),
        "tflops": round(achieved / 1e12, 3),
        "fraction_of_peak_bf16": round(achieved / (peak * 1e12), 4) if peak else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=sorted(CONFIGS), default="7b")
    parser.add_argument("--n-prompts", type=int, default=256)
    parser.add_argument(
        "--prompt-tokens", type=int, default=450, help="mean prompt length (few-shot Twin: ~450)"
    )
    parser.add_argument("--options", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--single-prompts",
        type=int,
        default=None,
        help="prompts timed one at a time (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="override the device's peak bf16 TFLOP/s"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = (
        getattr(torch, args.dtype)
        if args.dtype
        else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    )
    model = build_model(args.model, device, dtype, args.prompt_tokens)
    ids, letter_lists, tables = synthetic_prompts(
        args.n_prompts, args.prompt_tokens, model.config.vocab_size, args.options, seed=0
    )
    tokens = sum(len(x) for x in ids)
    context = sum(len(x) ** 2 for x in ids) / tokens / 2  # mean attended length per token (causal)
    fpt = flops_per_token(model, context)
    peak = peak_tflops(device, args.peak_tflops)
    results = {}
    n_single = args.single_prompts or len(ids)
    for label, batch_size, subset in (
        ("batched", args.batch_size, ids),
        ("one_at_a_time", 1, ids[:n_single]),
    ):
        results[label] = scoring_throughput(
            model, subset, letter_lists, tables, batch_size, fpt, peak, args.repeats
        )
    results["speedup_prompts_per_s"] = round(
        results["batched"]["prompts_per_s"] / results["one_at_a_time"]["prompts_per_s"], 2
    )
    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": args.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(dtype).removeprefix("torch."),
        "mean_prompt_tokens": round(tokens / len(ids), 1),
        "options": args.options,
        "peak_bf16_tflops": peak,
        **results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
