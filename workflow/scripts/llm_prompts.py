"""Prompt records of the requested split parts in one style (zeroshot / fewshot<k>)."""

from pathlib import Path

import torch

from gemsflow.data.splits import Panel
from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, write_jsonl
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.features import load_features
from gemsflow.methods.llm.prompts import PromptStyle, build_prompts

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
style = PromptStyle.parse(snakemake.wildcards.style)
embeddings = load_features(snakemake.input.embeddings) if style.k else None
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = read_parquet(snakemake.input.split)
panel = Panel(**snakemake.params.panel) if snakemake.params.panel else None
for part, path in snakemake.output.items():
    records = build_prompts(
        data,
        split,
        part,
        style,
        seed=int(snakemake.wildcards.seed),
        shuffle_options=bool(snakemake.params.shuffle_options),
        question_states=embeddings.question_states if embeddings else None,
        question_keys=embeddings.questions if embeddings else None,
        panel=panel,
    )
    write_jsonl(records, path)
