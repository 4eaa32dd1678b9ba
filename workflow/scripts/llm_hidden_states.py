"""Hidden states of a dataset's choice texts from one configured causal LM."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.backends import load_causal_lm
from gemsflow.methods.llm.features import save_features
from gemsflow.methods.llm.hidden_states import choice_hidden_states
from gemsflow.staging import staged_outputs

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
entry, options = snakemake.params.entry, snakemake.params.options
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    tokenizer, model = load_causal_lm(
        snakemake.params.location, dtype=entry.get("dtype", "auto"), adapter=entry.get("adapter")
    )
    features = choice_hidden_states(
        SurveyData.load(Path(snakemake.input.data[0]).parent),
        model,
        tokenizer,
        position=snakemake.wildcards.position,
        layers=options["layers"],
        batch_size=options["batch_size"],
        store_dtype=options["store_dtype"],
        info={"model": snakemake.wildcards.model, "location": snakemake.params.location},
    )
    save_features(features, out["features"])
