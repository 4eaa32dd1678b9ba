"""Predict new questions' answers from each person's answers to training questions with similar options."""

from pathlib import Path

from threadpoolctl import threadpool_limits

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import load_choice_features
from gemsflow.methods.similar_questions import similar_questions
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    features = load_choice_features(snakemake.input.features)
    options = snakemake.params.options
    with threadpool_limits(snakemake.threads):
        predictions, info = similar_questions(
            data,
            read_parquet(snakemake.input.split),
            features.choices,
            features.candidates(),
            temperatures=options["temperatures"],
            neighbours=options["neighbours"],
            shrinkage=options["shrinkage"],
            smoothing=snakemake.params.smoothing,
            seed=int(snakemake.wildcards.seed),
        )
    write_parquet(predictions, out["predictions"])
    write_json({**info, "features": snakemake.input.features}, out["info"])
    log.info(
        "similar questions: %d predicted rows; selected %s", len(predictions), info["selected"]
    )
