"""Production model, step 3: choose the mapping's alpha and layer on validation questions, fit the ridge,
and write the self-contained model directory that every study (and gemsflow.simulate) reads."""

from pathlib import Path

import torch

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_json, read_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import load_choice_features, load_gnn_embeddings
from gemsflow.simulation.production import fit_production_mapping, save_production_model
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Outputs are update()-flagged: the previous run's files stay until this run has written all of its own.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    gnn = load_gnn_embeddings(snakemake.input.gnn)
    gnn_info = read_json(snakemake.input.gnn_info)
    n_options = data.options.groupby("question").size()
    ridge, selected, interval_sd = fit_production_mapping(
        load_choice_features(snakemake.input.features),
        gnn,
        data,
        split,
        **snakemake.params.mapping_grid,
    )
    info = {
        "arch": snakemake.wildcards.arch,
        "features": snakemake.wildcards.features,
        "embedder": snakemake.params.embedder,
        "seed": int(snakemake.wildcards.seed),
        "variant": selected["best_variant"],
        "alpha": selected["best_alpha"],
        "layer": selected["best_layer"],
        "split": snakemake.input.split,
        "gnn_embeddings": snakemake.input.gnn,
        "interval_sd": interval_sd,
        "validation": {
            "gnn_val_accuracy": gnn_info["best_val_accuracy"],
            "gnn_best_epoch": gnn_info["best_epoch"],
            "mapping_val_accuracy": selected["best_val_accuracy"],
            "variant": selected["best_variant"],
            "alpha": selected["best_alpha"],
            "layer": selected["best_layer"],
            "n_val_questions": int(split.loc[split["part"] == "val", "question"].nunique()),
            # What a flat guess earns on the same validation pairs, to read the figure above against.
            "mapping_val_chance": float(
                (1.0 / split.loc[split["part"] == "val", "question"].map(n_options)).mean()
            ),
            "grid": selected["grid"],
        },
    }
    save_production_model(Path(out["info"]).parent, gnn, ridge, data, info)
    log.info("alpha %s, layer %s, mapping val accuracy %.4f", info["alpha"], info["layer"],
             selected["best_val_accuracy"])  # fmt: skip
