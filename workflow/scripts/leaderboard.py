"""Build the leaderboard of one (setting, dataset) from the metrics.json of its runs."""

from gemsflow.leaderboard import build_leaderboard, write_leaderboard
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
board = build_leaderboard(snakemake.input)
write_leaderboard(board, snakemake.output.tsv, snakemake.output.md, snakemake.output.html)
log.info(
    "leaderboard of %d methods: %s",
    len(board),
    ", ".join(f"{m} {a:.4f}" for m, a in zip(board["method"], board["accuracy_mean"], strict=True)),
)
