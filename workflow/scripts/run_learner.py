"""Fit a per-question learner (logreg, gbt, mlp) on one split and predict its held-out pairs."""

from pathlib import Path

from threadpoolctl import threadpool_limits

from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.learners import estimator_of, per_question
from gemsflow.logs import setup_logging
from gemsflow.staging import staged_outputs
from gemsflow.survey import SurveyData

log = setup_logging(snakemake.log[0])
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    options = snakemake.params.options
    with threadpool_limits(snakemake.threads):
        predictions, info = per_question(
            estimator_of(snakemake.wildcards.method, options),
            data,
            split,
            seed=int(snakemake.wildcards.seed),
            features=options["features"],
            masks=options["masks"],
            folds=snakemake.params.folds,
        )
    write_parquet(predictions, out["predictions"])
    write_json(info, out["info"])
    log.info(
        "%s: %d predicted rows; selected %s",
        snakemake.wildcards.method, len(predictions), info["selected"],
    )  # fmt: skip
