"""Score one run's predictions with the common scorer into metrics.json."""

from pathlib import Path

import pandas as pd

from gemsflow.evaluation import EvaluationConfig, read_retest_table
from gemsflow.io import read_json, write_json
from gemsflow.logs import setup_logging
from gemsflow.scoring import score
from gemsflow.survey import SurveyData

log = setup_logging(snakemake.log[0])
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = pd.read_parquet(snakemake.input.split)
predictions = pd.read_parquet(snakemake.input.predictions)
identity = {
    "setting": snakemake.wildcards.setting,
    "dataset": snakemake.wildcards.dataset,
    "method": snakemake.wildcards.method,
    "seed": int(snakemake.wildcards.seed),
}
retest_path = snakemake.params.retest
metrics = score(
    predictions,
    data,
    split,
    identity=identity,
    method_info=read_json(snakemake.input.info),
    evaluation=EvaluationConfig.from_config(snakemake.params.evaluation),
    retest=read_retest_table(retest_path) if retest_path else None,
    retest_source=retest_path or "",
    where=snakemake.input.predictions,
)
write_json(metrics, snakemake.output[0])
log.info(
    "test accuracy %.4f on %d pairs; log-loss %.4f; ECE %.4f; representativeness %.4f",
    metrics["accuracy"],
    metrics["n_test"],
    metrics["parts"]["test"]["log_loss"],
    metrics["parts"]["test"]["ece"],
    metrics["distribution"]["test"]["mean_representativeness"],
)
