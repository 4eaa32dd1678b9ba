"""Average other runs' predicted distributions; members and weights cross-fitted on validation."""

from pathlib import Path

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.learners import ensemble
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    members = {
        name: read_parquet(path)
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
    write_parquet(predictions, out["predictions"])
    write_json(info, out["info"])
