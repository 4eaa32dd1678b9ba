"""Write the GEMS layout of a Hugging Face dataset (rule download_dataset)."""

from pathlib import Path

from gemsflow.data.datasets.huggingface import download_dataset
from gemsflow.logs import setup_logging

setup_logging(snakemake.log[0])
download_dataset(
    snakemake.wildcards.hf_dataset,
    Path(snakemake.output.responses).parent,
    prefix=snakemake.wildcards.hf_dataset,
)
