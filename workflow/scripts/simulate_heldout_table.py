"""The held-out-question table: mean subgroup distances of gemsflow and the alternatives over seeds."""

import pandas as pd

from gemsflow.io import atomic_path, write_text
from gemsflow.logs import setup_logging
from gemsflow.simulate_heldout import heldout_table

log = setup_logging(snakemake.log[0])
rows = pd.concat([pd.read_parquet(path) for path in snakemake.input.distances], ignore_index=True)
table, markdown = heldout_table(rows, snakemake.wildcards.dataset)
with atomic_path(snakemake.output.tsv) as tmp:
    table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
write_text(markdown, snakemake.output.md)
log.info("\n%s", markdown)
