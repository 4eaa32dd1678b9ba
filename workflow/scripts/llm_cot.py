"""Agentic chain of thought: a reflection per individual, a JSON answer per question."""

from dataclasses import asdict
from pathlib import Path

import torch

from gemsflow.data.splits import Panel
from gemsflow.data.survey import SurveyData
from gemsflow.io import read_jsonl, read_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.agentic import run_cot
from gemsflow.methods.llm.backends import make_backend
from gemsflow.methods.llm.prompts import persona_texts
from gemsflow.methods.llm.runs import write_run
from gemsflow.staging import staged_outputs

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    options = snakemake.params.options
    split = read_parquet(snakemake.input.split)
    records = read_jsonl(snakemake.input.val) + read_jsonl(snakemake.input.test)
    panel = Panel(**snakemake.params.panel) if snakemake.params.panel else None
    if panel:  # generation is the costliest stage: CoT may answer for a prefix of the panel only
        panel = panel.smaller(options.get("panel_individuals"))
        members = panel.individuals(split)
        records = [r for r in records if r["individual"] in set(members[r["part"]])]
    backend = make_backend(snakemake.params.entry, model_path=snakemake.params.location)
    predictions, info = run_cot(
        backend,
        data,
        records,
        split,
        persona_texts(data, header=False),
        expert=snakemake.params.expert,
        reflection_tokens=int(options["reflection_tokens"]),
        answer_tokens=int(options["answer_tokens"]),
        max_prior=options.get("max_prior_answers"),
        retry_temperature=options["retry_temperature"],
        seed=int(snakemake.wildcards.seed),
    )
    info["model"] = snakemake.wildcards.model
    info.update(backend.describe())
    if panel:
        info["panel"] = asdict(panel)
    write_run(predictions, info, out["predictions"], out["info"])
