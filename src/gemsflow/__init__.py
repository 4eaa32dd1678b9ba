"""gemsflow: predict how individuals answer survey questions, and measure how well each method does it.

The package holds all computation; the Snakemake workflow only wires it together. Nothing here imports
Snakemake, so every stage can be used from a notebook or a test.
"""

__version__ = "0.1.0"
