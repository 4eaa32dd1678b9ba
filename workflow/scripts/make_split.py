"""Split one dataset's answers into train/val/test for one setting and seed."""

from pathlib import Path

from gemsflow.data.splits import SplitSpec, make_split, require_parts, split_sizes
from gemsflow.data.survey import SurveyData
from gemsflow.io import write_json, write_parquet
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
data = SurveyData.load(Path(snakemake.input[0]).parent)
spec = SplitSpec(**snakemake.params.spec)
seed = int(snakemake.wildcards.seed)
table = make_split(data, spec, seed)
require_parts(table, f"{snakemake.wildcards.dataset} {snakemake.wildcards.setting} seed {seed}")
sizes = {"setting": snakemake.wildcards.setting, "seed": seed, **vars(spec), **split_sizes(table)}
write_parquet(table, snakemake.output.split)
write_json(sizes, snakemake.output.sizes)
log.info("split sizes: %s", sizes)
