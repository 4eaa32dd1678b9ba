"""The deliverable results/<setting>/<dataset>/: the (setting, dataset)'s leaderboard, as rule leaderboard
built it, and every run's metrics."""

from gemsflow.evaluation.summary import write_deliverable
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
board = write_deliverable(
    snakemake.input.leaderboard_tsv,
    snakemake.input.leaderboard_md,
    list(snakemake.input.metrics),
    snakemake.output[0],
    snakemake.params.methods,
)
log.info(
    "%d methods over seeds %s: %s",
    len(board),
    snakemake.params.seeds,
    ", ".join(f"{m} {a:.4f}" for m, a in zip(board["method"], board["accuracy_mean"], strict=True)),
)
