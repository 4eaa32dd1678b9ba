"""Build the GEMS graph of one (setting, dataset, split seed) and cache it as graph.pt."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, save_torch
from gemsflow.logs import setup_logging
from gemsflow.methods.gnn.graph import build_graph, counts

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = read_parquet(snakemake.input.split)
bundle = build_graph(
    data,
    split,
    snakemake.params.graph_config,
    setting=snakemake.wildcards.setting,
    seed=int(snakemake.wildcards.seed),
    split_source=snakemake.input.split,
)
save_torch(bundle, snakemake.output.graph)
log.info("graph %s: %s", bundle["key"][:12], counts(bundle))
