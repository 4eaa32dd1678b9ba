"""Draw the report figures of one (setting, dataset) from the metrics.json of its runs."""

from gemsflow.logs import setup_logging
from gemsflow.plots import draw_all

log = setup_logging(snakemake.log[0])
draw_all(
    snakemake.input,
    accuracy=snakemake.output.accuracy,
    calibration=snakemake.output.calibration,
    subgroups=snakemake.output.subgroups,
)
log.info("figures written for %d runs", len(snakemake.input))
