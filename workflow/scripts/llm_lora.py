"""LoRA fine-tuning on the training prompts; the epoch is chosen on validation, test is scored once."""

from dataclasses import asdict
from pathlib import Path

from gemsflow.data.splits import Panel
from gemsflow.data.survey import SurveyData
from gemsflow.io import read_jsonl, read_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.finetune import train_lora
from gemsflow.methods.llm.runs import subsample_individuals, validation_credit, write_run
from gemsflow.reproducibility import configure_torch
from gemsflow.staging import staged_outputs

setup_logging(snakemake.log[0])
seed = int(snakemake.wildcards.seed)
options = dict(snakemake.params.options)
configure_torch(snakemake.threads, bool(options.pop("deterministic", False)))
entry = snakemake.params.entry
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    panel = Panel(**snakemake.params.panel) if snakemake.params.panel else None
    # The validation prompts hold the panel's people only (evaluation.panel), so credit is read there.
    val_split = panel.restrict(split) if panel else split
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
        validation_credit(data, val_split, unit),
        out["adapter"],
        settings=options,
        seed=seed,
        folds=snakemake.params.folds,
        unit=unit,
        dtype=entry.get("dtype", "auto"),
        is_chat=bool(entry.get("chat", False)),
        chat_template_kwargs=entry.get("chat_template_kwargs"),
    )
    # Where the adapter lives once the run is in place (it is written to a staging folder first).
    info.update(model=snakemake.wildcards.model, adapter=snakemake.output.adapter)
    if panel:
        info["panel"] = asdict(panel)
    write_run(predictions, info, out["predictions"], out["info"])
