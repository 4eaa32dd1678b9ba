"""Held-out evidence for one setting-3 split: simulate its test questions as a new study through a model
directory built from the split's GNN and validation-selected mapping, and compare subgroup shares."""

from pathlib import Path

import torch

from gemsflow.io import read_json, read_parquet, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.mapping import load_choice_features, load_gnn_embeddings, question_parts
from gemsflow.simulate_heldout import (
    llm_shares,
    study_features_from_dataset,
    subgroup_distances,
    test_study,
)
from gemsflow.simulation import fit_production_mapping, save_production_model, simulate
from gemsflow.survey import SurveyData

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
seed = int(snakemake.wildcards.seed)
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = read_parquet(snakemake.input.split)
features = load_choice_features(snakemake.input.features)
gnn = load_gnn_embeddings(snakemake.input.gnn)
ridge, selected = fit_production_mapping(
    features,
    gnn,
    data,
    split,
    **snakemake.params.mapping_grid,
)
model_dir = Path(snakemake.output.distances).parent / "model"
validation = {
    "gnn_val_accuracy": read_json(snakemake.input.gnn_info)["best_val_accuracy"],
    "mapping_val_accuracy": selected["val_accuracy_at_best"],
    "variant": selected["best_variant"],
    "alpha": selected["best_alpha"],
    "layer": selected["best_layer"],
}
save_production_model(
    model_dir,
    gnn,
    ridge,
    data,
    {
        "arch": snakemake.wildcards.arch,
        "features": snakemake.wildcards.features,
        "embedder": snakemake.params.embedder,
        "seed": seed,
        "variant": selected["best_variant"],
        "alpha": selected["best_alpha"],
        "layer": selected["best_layer"],
        "validation": validation,
    },
)
questions = question_parts(split)["test"]
study = test_study(data, questions, f"heldout_seed{seed}")
sim = simulate(
    model_dir, study, features=study_features_from_dataset(features, data, questions), n_boot=0
)
llm = None
if snakemake.params.llm:
    from gemsflow.llm.backends import make_backend

    torch.manual_seed(seed)
    backend = make_backend(snakemake.params.llm_entry, model_path=snakemake.params.llm_location)
    groups = sim.distributions[["question", "trait", "group"]].drop_duplicates()
    llm = llm_shares(backend, data, study, groups)
    llm.attrs["model"] = snakemake.params.llm
rows = subgroup_distances(data, split, sim.individuals, llm)
write_parquet(rows.assign(seed=seed), snakemake.output.distances)
log.info("seed %d: %d test questions, %d subgroup rows", seed, len(questions), len(rows))
