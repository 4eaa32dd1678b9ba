"""Build the leaderboard of one (setting, dataset) from the metrics.json of its runs, their predictions
(for the paired intervals of the leads over the best floor) and the benchmark files of their training
jobs."""

from pathlib import Path

from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.leaderboard import (
    build_leaderboard,
    panel_board,
    run_credits,
    training_costs,
    write_leaderboard,
)
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
costs = training_costs(snakemake.params.training_jobs, snakemake.params.root)
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
splits = dict(zip(snakemake.params.seeds, snakemake.input.splits, strict=True))
board = build_leaderboard(
    snakemake.input.metrics,
    costs,
    credits=run_credits(snakemake.input.metrics, data, splits),
    placeholders=snakemake.params.placeholders,
    bootstrap=snakemake.params.bootstrap,
)
panel = panel_board(snakemake.input.metrics)
write_leaderboard(
    board, snakemake.output.tsv, snakemake.output.md, snakemake.output.html, panel=panel
)
log.info("%s", board.attrs["pick_note"])
