"""What the LLM runs of a finished workflow report besides accuracy, one table per method kind.

Reads ``results/runs/<setting>/<dataset>/<method>/seed<k>/{run_info,metrics}.json`` and the jobs'
benchmark files, and prints markdown:

* LoRA: validation accuracy before training (the untuned model) and at the selected epoch, the
  out-of-fold validation figure the leaderboard uses, training prompts and the job's wall time and peak
  memory;
* agentic CoT: pairs, answers retried, answers still unparsable (abstained) and the abstain rate;
* mappings onto LLM hidden states: the feature variant, layer and ridge alpha chosen on validation.

    python tools/llm_run_summary.py --model smollm2-135m --results results
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _benchmark(path: Path) -> tuple[float, float]:
    with path.open() as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))
    return float(row["s"]), float(row["max_rss"])


def runs(results: Path, pattern: str):
    for info_path in sorted(results.glob("runs/*/*/*/seed*/run_info.json")):
        setting, dataset, method, seed = info_path.parts[-5:-1]
        if re.fullmatch(pattern, method):
            yield setting, dataset, method, seed.removeprefix("seed"), info_path.parent


def markdown(columns: list[str], rows: list[list]) -> list[str]:
    """A markdown table: one header line, one rule, one line per row (cells already formatted)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def lora_table(results: Path, model: str) -> list[str]:
    rows = []
    for setting, dataset, _, seed, folder in runs(results, f"lora-{re.escape(model)}"):
        info = _read(folder / "run_info.json")
        bench = results / f"benchmarks/llm_lora/{setting}/{dataset}/{model}/seed{seed}.tsv"
        wall, rss = _benchmark(bench) if bench.exists() else (float("nan"), float("nan"))
        rows.append(
            [setting, dataset, seed, f"{info['val_accuracy_before_training']:.4f}"]
            + [f"{info['val_accuracy_at_best']:.4f}", f"{info['out_of_fold_val_accuracy']:.4f}"]
            + [info["best_epoch"], info["n_train_prompts"], f"{wall:.0f}", f"{rss:.0f}"]
        )
    columns = ["setting", "dataset", "seed", "val before", "val at best epoch", "out-of-fold val"]
    return markdown(columns + ["best epoch", "train prompts", "job wall s", "peak RSS MB"], rows)


def cot_table(results: Path, model: str) -> list[str]:
    rows = []
    for setting, dataset, _, seed, folder in runs(results, f"cot-{re.escape(model)}(-chat)?"):
        info = _read(folder / "run_info.json")
        metrics = _read(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
        panel = info.get("panel") or {}
        people = f"{panel.get('val_individuals', 'all')}/{panel.get('test_individuals', 'all')}"
        rows.append(
            [setting, dataset, seed, people, info["n_pairs"], info["n_retried"], info["n_invalid"]]
            + [f"{info['invalid_rate']:.3f}", f"{metrics.get('accuracy', float('nan')):.4f}"]
        )
    columns = ["setting", "dataset", "seed", "people (val/test)", "pairs", "retried"]
    return markdown(columns + ["abstained", "abstain rate", "test accuracy"], rows)


def mapping_table(results: Path, model: str) -> list[str]:
    rows = []
    for setting, dataset, method, seed, folder in runs(results, f"mapping-.+-{re.escape(model)}"):
        info = _read(folder / "run_info.json")
        rows.append(
            [setting, dataset, method, seed, info["best_variant"], info["best_layer"]]
            + [f"{info['best_alpha']:g}", f"{info['val_accuracy_at_best']:.4f}"]
            + [f"{info['out_of_fold_val_accuracy']:.4f}"]
        )
    columns = ["setting", "dataset", "method", "seed", "variant", "layer", "alpha"]
    return markdown(columns + ["val (in-sample)", "out-of-fold val"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="llm.models key, e.g. smollm2-135m")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    results = Path(args.results)
    for title, table in (
        ("LoRA", lora_table(results, args.model)),
        ("Agentic CoT", cot_table(results, args.model)),
        ("Mapping onto hidden states", mapping_table(results, args.model)),
    ):
        print(f"### {title}\n")
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
