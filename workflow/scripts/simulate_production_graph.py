"""Production model, step 1: a question split with only a validation slice held out, and its graph."""

from pathlib import Path

import torch

from gemsflow.data.splits import SplitSpec, make_split
from gemsflow.data.survey import SurveyData
from gemsflow.io import save_torch, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.gnn.graph import build_graph, counts

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
seed = int(snakemake.wildcards.seed)
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = make_split(data, SplitSpec("question", snakemake.params.val_ratio, 0.0), seed)
write_parquet(split, snakemake.output.split)
bundle = build_graph(
    data,
    split,
    snakemake.params.graph_config,
    setting=snakemake.params.regime,
    seed=seed,
    split_source=snakemake.output.split,
)
save_torch(bundle, snakemake.output.graph)
log.info("production graph %s: %s", bundle["key"][:12], counts(bundle))
