"""Scoring and comparing runs: every method is scored by the same code, from its predictions file.

- :mod:`gemsflow.evaluation.accuracy`: tie-aware accuracy, the one definition of "right";
- :mod:`gemsflow.evaluation.contract`: a run's predictions checked against its split;
- :mod:`gemsflow.evaluation.metrics`, :mod:`~gemsflow.evaluation.resampling`,
  :mod:`~gemsflow.evaluation.retest`: metric definitions, bootstrap intervals, test-retest normalisation;
- :mod:`gemsflow.evaluation.run_metrics`: every metric of one run;
- :mod:`gemsflow.evaluation.scoring`: the scorer every method goes through (writes ``metrics.json``);
- :mod:`gemsflow.evaluation.selection`: out-of-fold validation figures;
- :mod:`gemsflow.evaluation.leaderboard`, :mod:`~gemsflow.evaluation.pick`,
  :mod:`~gemsflow.evaluation.summary`: methods x metrics over seeds, and the noise-honest pick;
- :mod:`gemsflow.evaluation.costs`: time and memory per rule, from Snakemake's ``benchmark:`` files.
"""
