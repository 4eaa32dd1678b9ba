"""Write the synthetic survey in the GEMS file layout (rule synthesize_dataset)."""

from pathlib import Path

from gemsflow.data.datasets.synthetic import check_generator_params, write_synthetic_gems_layout
from gemsflow.logs import setup_logging

setup_logging(snakemake.log[0])
params = check_generator_params(
    snakemake.params.generator, where="config/config.yaml: datasets.synthetic"
)
write_synthetic_gems_layout(
    Path(snakemake.output.responses).parent, prefix=snakemake.params.prefix, **params
)
