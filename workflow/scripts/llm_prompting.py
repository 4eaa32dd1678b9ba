"""Zero-shot or few-shot letter scoring of the val and test prompts with one model."""

from dataclasses import asdict

import torch

from gemsflow.data.splits import Panel
from gemsflow.io import read_jsonl
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.backends import make_backend
from gemsflow.methods.llm.runs import score_records, write_run
from gemsflow.staging import staged_outputs

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
torch.manual_seed(int(snakemake.wildcards.seed))
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    records = read_jsonl(snakemake.input.val) + read_jsonl(snakemake.input.test)
    backend = make_backend(snakemake.params.entry, model_path=snakemake.params.location)
    predictions, info = score_records(backend, records)
    info.update(style=snakemake.params.style, model=snakemake.wildcards.model)
    info.update(backend.describe())
    panel = Panel(**snakemake.params.panel) if snakemake.params.panel else None
    if panel:  # the prompt files hold the panel's pairs only
        info["panel"] = asdict(panel)
    write_run(predictions, info, out["predictions"], out["info"])
