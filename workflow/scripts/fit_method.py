"""Fit a method that the registry assigns to this generic rule (`baseline`, `learner`) on one split and
predict its held-out pairs; the method's function comes from gemsflow.methods.registry."""

from pathlib import Path

from threadpoolctl import threadpool_limits

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.registry import family_of_rule
from gemsflow.staging import staged_outputs

if snakemake.rule == "learner":
    # Loaded before threadpool_limits, which limits only the pools already loaded: scikit-learn's OpenMP
    # and SciPy's OpenBLAS (lbfgs's) would otherwise keep one thread per core and, on cores other jobs
    # share, spin between small calls (logreg on Dunning-Kruger: 50 s against 14 s with one thread).
    import sklearn.linear_model  # noqa: F401

log = setup_logging(snakemake.log[0])
method = snakemake.wildcards.method
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    with threadpool_limits(snakemake.threads):
        predictions, info = family_of_rule(snakemake.rule, method).function()(
            data,
            split,
            snakemake.params.options,
            seed=int(snakemake.wildcards.seed),
            folds=snakemake.params.folds,
        )
    write_parquet(predictions, out["predictions"])
    write_json(info, out["info"])
    log.info("%s: %d predicted rows; %s", method, len(predictions), info)
