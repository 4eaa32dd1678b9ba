"""Prediction methods, one module or subpackage per family, and the registry that names them.

- :mod:`gemsflow.methods.registry`: every method family declared once (name pattern, settings, rule);
- :mod:`gemsflow.methods.baselines`: the floors (majority votes, matrix factorisation);
- :mod:`gemsflow.methods.learners`: per-question learners (``logreg``, ``gbt``, ``mlp``) and the ensemble;
- :mod:`gemsflow.methods.similar_questions`: ``similar-<features>`` for new questions;
- :mod:`gemsflow.methods.gnn`: the GEMS graph neural networks;
- :mod:`gemsflow.methods.mapping`: setting 3's text-to-choice-embedding mapping;
- :mod:`gemsflow.methods.llm`: text embeddings, hidden states, prompting, agentic CoT and LoRA.

Every method writes the same predictions file, which :mod:`gemsflow.evaluation` scores.
"""
