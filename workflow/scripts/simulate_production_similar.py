"""Production model of simulate.method similar: similar-<features> fitted on the production split (all
people, all questions but the validation slice) and written as a self-contained model directory."""

from pathlib import Path

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import load_choice_features
from gemsflow.simulation.production import build_similar_model
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    fit = build_similar_model(
        Path(out["info"]).parent,
        SurveyData.load(Path(snakemake.input.data[0]).parent),
        read_parquet(snakemake.input.split),
        load_choice_features(snakemake.input.features),
        {
            "features": snakemake.wildcards.features,
            "embedder": snakemake.params.embedder,
            "split": snakemake.input.split,
        },
        snakemake.params.similar,
        snakemake.params.smoothing,
        int(snakemake.wildcards.seed),
        snakemake.threads,
    )
    log.info(
        "similar production model: %s, val accuracy %s",
        fit.info["selected"],
        fit.info["val_accuracy"],
    )
