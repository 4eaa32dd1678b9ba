"""GEMS graph neural networks: the cached graph of a split, the models, and their training.

- :mod:`gemsflow.methods.gnn.graph`: build the heterogeneous graph bundle of one (setting, dataset, seed);
- :mod:`gemsflow.methods.gnn.models`: node encoders, the heterogeneous GNN and the dot-product decoder;
- :mod:`gemsflow.methods.gnn.training`: train one model, select its epoch on validation, write its outputs.

Nothing is imported here, so that ``import gemsflow.methods.gnn`` stays cheap; every module of the package
needs torch (and ``models`` torch_geometric), which the workflow's planning process never imports.
"""
