"""Setting 3: map choice-text features to GNN choice embeddings and predict new questions' answers."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import fit_mapping, load_choice_features, load_gnn_embeddings
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    result = fit_mapping(
        load_choice_features(snakemake.input.features),
        load_gnn_embeddings(snakemake.input.gnn),
        data.options,
        read_parquet(snakemake.input.split),
        data.responses,
        alphas=snakemake.params.alphas,
        skip_embedding_layer=snakemake.params.skip_embedding_layer,
        variants=snakemake.params.feature_variants,
        seed=int(snakemake.wildcards.seed),
        folds=snakemake.params.folds,
    )
    write_parquet(result.predictions, out["predictions"])
    write_json(
        {
            **result.info,
            "features": snakemake.input.features,
            "gnn_embeddings": snakemake.input.gnn,
        },
        out["info"],
    )
