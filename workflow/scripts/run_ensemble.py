"""Average other runs' predicted distributions; members and weights cross-fitted on validation."""

from pathlib import Path

import pandas as pd

from gemsflow.io import write_json, write_parquet
from gemsflow.learners import ensemble
from gemsflow.logs import setup_logging
from gemsflow.survey import SurveyData

log = setup_logging(snakemake.log[0])
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = pd.read_parquet(snakemake.input.split)
members = {
    name: pd.read_parquet(path)
    for name, path in zip(snakemake.params.members, snakemake.input.members, strict=True)
}
predictions, info = ensemble(
    data,
    split,
    members,
    seed=int(snakemake.wildcards.seed),
    folds=snakemake.params.folds,
    max_steps=snakemake.params.max_steps,
    axis=snakemake.params.axis,
    metric=snakemake.params.metric,
)
write_parquet(predictions, snakemake.output.predictions)
write_json(info, snakemake.output.info)
