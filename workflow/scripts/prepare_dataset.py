"""Build the canonical tables of one dataset from its source files."""

from pathlib import Path

from gemsflow.data.datasets import load_source
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
data = load_source(snakemake.wildcards.dataset, snakemake.params.entry)
data.save(Path(snakemake.output[0]).parent)
log.info("dataset %s: %s; filter: %s", data.name, data.counts(), data.filter_log)
