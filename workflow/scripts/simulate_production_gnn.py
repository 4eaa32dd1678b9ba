"""Production model, step 2: train the GNN with the new-question regime (the setting-3 trainer)."""

import torch

from gemsflow.io import load_torch
from gemsflow.logs import setup_logging
from gemsflow.methods.gnn.graph import check_bundle
from gemsflow.methods.gnn.training import train_run
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    bundle = load_torch(snakemake.input.graph)
    check_bundle(bundle, snakemake.input.graph)
    info = train_run(
        bundle,
        snakemake.wildcards.arch,
        snakemake.params.gnn_config,
        int(snakemake.wildcards.seed),
        out,
    )
    log.info("best epoch %d, val accuracy %.4f", info["best_epoch"], info["best_val_accuracy"])
