"""Build the leaderboard of one (setting, dataset) from the metrics.json of its runs and the benchmark
files of their training jobs."""

from gemsflow.leaderboard import (
    build_leaderboard,
    panel_board,
    training_costs,
    write_leaderboard,
)
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
costs = training_costs(snakemake.params.training_jobs, snakemake.params.root)
board = build_leaderboard(snakemake.input.metrics, costs)
panel = panel_board(snakemake.input.metrics)
write_leaderboard(
    board, snakemake.output.tsv, snakemake.output.md, snakemake.output.html, panel=panel
)
log.info(
    "leaderboard of %d methods: %s",
    len(board),
    ", ".join(f"{m} {a:.4f}" for m, a in zip(board["method"], board["accuracy_mean"], strict=True)),
)
