"""Tabulate the time and memory of every benchmarked job under results/benchmarks/, per rule."""

from pathlib import Path

from gemsflow.evaluation.costs import benchmark_table, read_benchmarks, write_benchmark_report
from gemsflow.logs import setup_logging

log = setup_logging(snakemake.log[0])
root = Path(snakemake.params.root)
jobs = read_benchmarks(root.glob("*/**/*.tsv"), root)
table = benchmark_table(jobs)
write_benchmark_report(table, snakemake.output.tsv, snakemake.output.html)
log.info("benchmarks of %d jobs over %d rules", len(jobs), len(table))
