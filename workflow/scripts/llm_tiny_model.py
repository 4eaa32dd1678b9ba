"""Build the tiny random-weight causal LM used by the default run and the tests."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.tiny_model import build_tiny_model

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
options = dict(snakemake.params.tiny)
options.pop("corpus_dataset", None)
build_tiny_model(
    SurveyData.load(Path(snakemake.input.data[0]).parent), snakemake.output[0], **options
)
