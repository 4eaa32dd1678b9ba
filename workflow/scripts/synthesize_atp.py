"""Write synthetic Pew ATP waves for an OpinionQA dataset entry (rules synthesize_atp_<dataset>)."""

from gemsflow.data.datasets.atp_synthetic import write_atp_dataset
from gemsflow.logs import setup_logging

setup_logging(snakemake.log[0])
write_atp_dataset(snakemake.params.entry, where=snakemake.params.where)
