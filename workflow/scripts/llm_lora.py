"""LoRA fine-tuning on the training prompts; the epoch is chosen on validation, test is scored once."""

from pathlib import Path

import pandas as pd

from gemsflow.io import read_jsonl
from gemsflow.llm.finetune import train_lora
from gemsflow.llm.runs import subsample_individuals, validation_credit, write_run
from gemsflow.logs import setup_logging
from gemsflow.reproducibility import configure_torch
from gemsflow.survey import SurveyData

setup_logging(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
options = dict(snakemake.params.options)
configure_torch(snakemake.threads, bool(options.pop("deterministic", False)))
entry = snakemake.params.entry
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = pd.read_parquet(snakemake.input.split)
train = subsample_individuals(
    read_jsonl(snakemake.input.train), options.pop("max_train_individuals", None), seed
)
options.pop("prompt_style", None)
# Folds split what the setting holds out: people, or questions on the question axis.
unit = "question" if snakemake.params.axis == "question" else "individual"
predictions, info = train_lora(
    snakemake.params.location,
    train,
    read_jsonl(snakemake.input.val),
    read_jsonl(snakemake.input.test),
    validation_credit(data, split, unit),
    snakemake.output.adapter,
    settings=options,
    seed=seed,
    folds=snakemake.params.folds,
    unit=unit,
    dtype=entry.get("dtype", "auto"),
    is_chat=bool(entry.get("chat", False)),
    chat_template_kwargs=entry.get("chat_template_kwargs"),
)
info["model"] = snakemake.wildcards.model
write_run(predictions, info, snakemake.output.predictions, snakemake.output.info)
