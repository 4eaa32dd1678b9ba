"""Summarise a (setting, dataset) over its configured methods and seeds into results/<setting>/<dataset>/."""

from pathlib import Path

from gemsflow.logs import setup_logging
from gemsflow.summary import write_deliverable

log = setup_logging(snakemake.log[0])
# Inputs are results/runs/<setting>/<dataset>/<method>/seed<k>/metrics.json.
runs = {
    (Path(path).parent.parent.name, int(Path(path).parent.name.removeprefix("seed"))): path
    for path in snakemake.input
}
table = write_deliverable(
    runs,
    snakemake.output[0],
    setting=snakemake.wildcards.setting,
    dataset=snakemake.wildcards.dataset,
    methods=snakemake.params.methods,
    seeds=snakemake.params.seeds,
)
log.info("summary:\n%s", table.to_string(index=False))
