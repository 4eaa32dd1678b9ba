"""One LoRA job on the toy survey, run under ``accelerate launch`` by tests/test_llm_finetune.py.

Usage: llm_lora_job.py <tiny model dir> <out dir>. Every process writes its learning-rate trace; the main
process writes the predictions and the run summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from llm_toy import make_split, make_survey  # noqa: E402

from gemsflow.methods.llm.finetune import train_lora  # noqa: E402
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts  # noqa: E402
from gemsflow.methods.llm.runs import validation_credit  # noqa: E402

SETTINGS = {
    "epochs": 2,
    "lr": 0.03,
    "batch_size": 6,
    "grad_accum": 2,
    "r": 4,
    "alpha": 8,
    "dropout": 0.0,
    "warmup_ratio": 0.2,
    "target_modules": ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    "weight_decay": 0.0,
    "eval_batch_size": 16,
}


def run(model: str, out: Path) -> None:
    torch.set_num_threads(1)
    data = make_survey(n_people=16)
    split = make_split(data)
    prompts = {
        p: build_prompts(data, split, p, PromptStyle(0), seed=0) for p in ("train", "val", "test")
    }
    trace = []
    predictions, info = train_lora(
        model,
        prompts["train"],
        prompts["val"],
        prompts["test"],
        validation_credit(data, split),
        out / "adapter",
        settings=SETTINGS,
        seed=0,
        on_step=lambda step, lr: trace.append([step, lr]),
    )
    from accelerate import PartialState

    rank = PartialState().process_index
    (out / f"lr_rank{rank}.json").write_text(json.dumps(trace))
    if rank == 0:
        predictions.to_parquet(out / "predictions.parquet")
        (out / "info.json").write_text(json.dumps(info))


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[2]))
