"""Production model, step 1: a question split with only a validation slice held out, and its graph."""

from pathlib import Path

import torch

from gemsflow.gnn.graph import build_graph, counts
from gemsflow.io import save_torch, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.splits import SplitSpec, make_split
from gemsflow.survey import SurveyData

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
