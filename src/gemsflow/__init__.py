"""gemsflow: predict how individuals answer survey questions, and measure how well each method does it.

The package holds all computation; the Snakemake workflow only wires it together. Nothing here imports
Snakemake, so every stage can be used from a notebook or a test.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # gemsflow.simulate(model_dirs, questions) for notebooks, imported on first use so that importing
    # the package (as the workflow does while planning) stays cheap.
    if name == "simulate":
        from gemsflow.simulation.production import simulate

        return simulate
    raise AttributeError(f"module 'gemsflow' has no attribute {name!r}")
