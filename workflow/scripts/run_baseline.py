"""Predict held-out answers with a model-free baseline (majority, subgroup majority, uniform, position prior)."""

from pathlib import Path

from gemsflow.baselines import majority, position_prior, subgroup_majority, uniform
from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.staging import staged_outputs
from gemsflow.survey import SurveyData

log = setup_logging(snakemake.log[0])
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    options = snakemake.params.options
    method = snakemake.wildcards.method
    if method == "majority":
        predictions = majority(data, split, smoothing=options["smoothing"])
        info = {"smoothing": options["smoothing"]}
    elif method == "uniform":
        predictions, info = uniform(data, split), {}
    elif method == "position_prior":
        predictions, info = position_prior(data, split, smoothing=options["smoothing"])
    else:
        predictions, info = subgroup_majority(
            data,
            split,
            trait=options["subgroup_trait"],
            smoothing=options["smoothing"],
            prior_strength=options["prior_strength"],
            seed=int(snakemake.wildcards.seed),
            folds=snakemake.params.folds,
        )
    write_parquet(predictions, out["predictions"])
    write_json(info, out["info"])
    log.info("%s: %d predicted rows; %s", snakemake.wildcards.method, len(predictions), info)
