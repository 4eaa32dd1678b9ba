"""Write the provenance page of the report: code version, software, input checksums, configuration."""

from gemsflow.logs import setup_logging
from gemsflow.provenance import write_provenance

log = setup_logging(snakemake.log[0])
write_provenance(
    snakemake.output[0],
    dict(snakemake.params.config),
    list(snakemake.input),
    snakemake.params.workflow_dir,
)
log.info("provenance of %d input files written", len(snakemake.input))
