"""Text embeddings of a dataset's questions and choices with one configured embedder."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.logs import setup_logging
from gemsflow.methods.llm.embeddings import text_embeddings
from gemsflow.methods.llm.features import save_features
from gemsflow.staging import staged_outputs

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    features = text_embeddings(
        SurveyData.load(Path(snakemake.input.data[0]).parent),
        snakemake.params.embedder,
        cache_dir=snakemake.params.cache_dir,
    )
    save_features(features, out["features"])
