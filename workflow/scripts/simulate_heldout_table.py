"""The held-out-question tables of one dataset: subgroup distances (trust table), contrasts with their
noise ceilings and interval coverage; the validation choice of simulate's method and the per-trait
evidence that a study's page reports."""

import pandas as pd

from gemsflow.io import atomic_path, read_json, read_parquet, write_json, write_text
from gemsflow.logs import setup_logging
from gemsflow.simulation import contrasts
from gemsflow.simulation.heldout import (
    contrast_markdown,
    heldout_table,
    share_methods,
    simulate_choice,
    subgroup_distances,
)

log = setup_logging(snakemake.log[0])
dataset = snakemake.wildcards.dataset
min_n = int(snakemake.params.min_n)
shares = pd.concat([read_parquet(path) for path in snakemake.input.shares], ignore_index=True)
infos = [read_json(path) for path in snakemake.input.info]
similar = f"similar-{snakemake.params.features}"
mapping = f"mapping-{snakemake.params.arch}-{snakemake.params.features}"
methods = share_methods(shares)

test = shares.loc[shares["part"] == "test"]
rows = pd.concat(
    [subgroup_distances(r, methods).assign(seed=s) for s, r in test.groupby("seed")],
    ignore_index=True,
)
table, markdown = heldout_table(rows, dataset)
with atomic_path(snakemake.output.tsv) as tmp:
    table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
write_text(markdown, snakemake.output.md)

targets = ["observed", *(["truth"] if "truth" in test else [])]
tables = [contrasts.heldout_contrasts(test, methods, target, min_n) for target in targets]
# Each method's prediction interval: sampling noise of the group's answers plus the model's error on
# questions it did not learn from (the bootstrap over people leaves the latter out).
intervals = {name: (f"{name}:lo", f"{name}:hi") for name in (similar, mapping)}
cover = pd.concat(
    [
        contrasts.coverage(r, target, intervals, min_n).assign(seed=str(s), target=target)
        for target in targets
        for s, r in [*test.groupby("seed"), ("pooled", contrasts.pooled(test))]
    ],
    ignore_index=True,
)
contrast_table = pd.concat(tables, ignore_index=True)
with atomic_path(snakemake.output.contrasts) as tmp:
    contrast_table.merge(
        cover.rename(columns={"n": "n_coverage"}), on=["trait", "method", "seed", "target"],
        how="outer",
    ).to_csv(tmp, sep="\t", index=False, float_format="%.4f")  # fmt: skip
validation = shares.loc[shares["part"] == "val"]
choice = simulate_choice(validation, infos, [similar, mapping], min_n)
write_json(choice, snakemake.output.choice)
write_text(
    contrast_markdown(dataset, contrast_table, cover, methods, choice),
    snakemake.output.contrasts_md,
)

# Evidence per trait for each method simulate can use: pooled test questions against what was observed
# (the synthetic survey's true shares where known).
target = targets[-1]
evidence = contrast_table.loc[
    (contrast_table["seed"] == "pooled")
    & (contrast_table["target"] == target)
    & contrast_table["method"].isin([similar, mapping])
].copy()
evidence["held_up"] = evidence.apply(contrasts.held_up, axis=1)
with atomic_path(snakemake.output.evidence) as tmp:
    evidence.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
log.info("\n%s", markdown)
log.info("simulate choice: %s", choice)
