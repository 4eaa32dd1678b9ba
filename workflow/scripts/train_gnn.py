"""Train one GEMS model (setting, dataset, arch, seed) on its cached graph and write the run files."""

from gemsflow.io import load_torch
from gemsflow.logs import setup_logging
from gemsflow.methods.gnn.graph import check_bundle
from gemsflow.methods.gnn.training import train_run
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
bundle = load_torch(snakemake.input.graph)
check_bundle(bundle, snakemake.input.graph)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as staged:
    info = train_run(
        bundle,
        snakemake.params.arch,  # the wildcard may name a variant (gnn.variants) of this arch
        snakemake.params.gnn_config,
        int(snakemake.wildcards.seed),
        staged,
        folds=snakemake.params.folds,
    )
log.info(
    "%s %s %s seed %s: best epoch %d, val accuracy %.4f",
    snakemake.wildcards.setting,
    snakemake.wildcards.dataset,
    snakemake.wildcards.arch,
    snakemake.wildcards.seed,
    info["best_epoch"],
    info["best_val_accuracy"],
)
