"""Text features of a study's answer choices, built like the dataset's (option ‖ question embeddings)."""

import torch

from gemsflow.logs import setup_logging
from gemsflow.methods.llm.features import save_features
from gemsflow.simulation.production import study_features
from gemsflow.simulation.studies import load_study

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
study = load_study(snakemake.input.study)
save_features(study_features(study, snakemake.params.embedder), snakemake.output.features)
log.info("%d questions of study %s embedded", len(study.questions), study.name)
