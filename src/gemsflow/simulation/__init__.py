"""Setting 3 as a product: ask a dataset's population questions it was never asked.

- :mod:`gemsflow.simulation.studies`: study files (the new questions and their breakdowns);
- :mod:`gemsflow.simulation.production`: the production model and ``simulate`` (``gemsflow.simulate``);
- :mod:`gemsflow.simulation.heldout`: held-out evidence that simulated subgroup shares can be trusted;
- :mod:`gemsflow.simulation.contrasts`: differences between groups, what a breakdown is read for;
- :mod:`gemsflow.simulation.evidence`: the held-out evidence a study page shows.
"""
