"""Held-out evidence for one setting-3 split: simulate its validation and test questions as new studies
through model directories built from the split (the GNN with its validation-selected mapping, and the
similar-questions model), compare subgroup shares and contrasts with the observed ones."""

from pathlib import Path

import pandas as pd
import torch

from gemsflow.data.survey import SurveyData
from gemsflow.io import read_json, read_parquet, write_json, write_parquet
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import load_choice_features, load_gnn_embeddings, question_parts
from gemsflow.simulation import heldout
from gemsflow.simulation.production import (
    build_similar_model,
    fit_production_mapping,
    save_production_model,
    simulate,
)

log = setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
seed = int(snakemake.wildcards.seed)
features_key = snakemake.wildcards.features
data = SurveyData.load(Path(snakemake.input.data[0]).parent)
split = read_parquet(snakemake.input.split)
features = load_choice_features(snakemake.input.features)
gnn = load_gnn_embeddings(snakemake.input.gnn)
out = Path(snakemake.output.distances).parent
mapping_name = f"mapping-{snakemake.wildcards.arch}-{features_key}"
similar_name = f"similar-{features_key}"

ridge, selected, interval_sd = fit_production_mapping(
    features, gnn, data, split, **snakemake.params.mapping_grid
)
validation = {
    "gnn_val_accuracy": read_json(snakemake.input.gnn_info)["best_val_accuracy"],
    "mapping_val_accuracy": selected["best_val_accuracy"],
    "variant": selected["best_variant"],
    "alpha": selected["best_alpha"],
    "layer": selected["best_layer"],
}
save_production_model(
    out / "model",
    gnn,
    ridge,
    data,
    {
        "arch": snakemake.wildcards.arch,
        "features": features_key,
        "embedder": snakemake.params.embedder,
        "seed": seed,
        "variant": selected["best_variant"],
        "alpha": selected["best_alpha"],
        "layer": selected["best_layer"],
        "interval_sd": interval_sd,
        "validation": validation,
    },
)
fit = build_similar_model(
    out / "model_similar",
    data,
    split,
    features,
    {"features": features_key, "embedder": snakemake.params.embedder},
    snakemake.params.similar,
    snakemake.params.smoothing,
    seed,
    snakemake.threads,
)

llm_backend = None
if snakemake.params.llm:
    from gemsflow.methods.llm.backends import make_backend

    torch.manual_seed(seed)
    llm_backend = make_backend(snakemake.params.llm_entry, model_path=snakemake.params.llm_location)

parts = question_parts(split)
train_shares = heldout.training_group_shares(data, split)
selected_similar = fit.info["selected"]
frames, distances, accuracy, support = [], [], {}, {}
for part in ("val", "test"):
    questions = parts[part]
    if not questions:
        continue
    study = heldout.test_study(data, questions, f"heldout_{part}_seed{seed}")
    study_features = heldout.study_features_from_dataset(features, data, questions)
    sims = {
        mapping_name: simulate(out / "model", study, features=study_features, n_boot=200),
        similar_name: simulate(out / "model_similar", study, features=study_features, n_boot=0),
    }
    llm = None
    if llm_backend is not None:
        groups = sims[mapping_name].distributions[["question", "trait", "group"]].drop_duplicates()
        llm = heldout.llm_shares(llm_backend, data, study, groups)
        llm.attrs["model"] = snakemake.params.llm
    predicted = {name: sim.individuals for name, sim in sims.items()}
    shares = heldout.group_shares(data, split, part, predicted, llm)
    shares["no_contrast"] = heldout.no_contrast(shares, similar_name)
    shares["nearest_question"] = heldout.nearest_question(
        shares, train_shares, data, features, selected_similar["variant"], "pooled_subgroup"
    )
    shares["trait_lean"], multiples = heldout.trait_lean(
        shares, train_shares, data, features, selected_similar["variant"], similar_name,
        selected_similar["temperature"], selected_similar["neighbours"],
    )  # fmt: skip
    keys = ["question", "trait", "group", "position"]
    for name, sim in sims.items():
        interval = sim.distributions[[*keys, "boot_lo", "boot_hi", "lo", "hi"]]
        shares = shares.merge(interval.add_prefix(f"{name}:").rename(
            columns={f"{name}:{k}": k for k in keys}), on=keys, how="left")  # fmt: skip
    halves = heldout.observed_halves(data, split, part, seed)
    shares = shares.merge(halves.rename(columns={"n": "n_half"}), on=keys, how="left")
    if snakemake.params.generator:
        truth = heldout.synthetic_truth(data, snakemake.params.generator, questions)
        shares = shares.merge(truth, on=keys, how="left")
    frames.append(shares.assign(part=part))
    support[part] = {
        q: e["support"] for q, e in sims[similar_name].info["question_support"].items()
    }
    accuracy[part] = {
        name: heldout.predicted_accuracy(data, split, part, sim.individuals)
        for name, sim in sims.items()
    }
    if part == "test":
        methods = heldout.share_methods(shares)
        distances = heldout.subgroup_distances(shares, methods)
    log.info("%s: %d questions; trait-lean multiples %s", part, len(questions), multiples)

write_parquet(pd.concat(frames, ignore_index=True).assign(seed=seed), snakemake.output.shares)
write_json(
    {
        "seed": seed,
        "accuracy": accuracy,
        "support": support,
        "similar": fit.info["selected"],
        "mapping": validation,
    },
    snakemake.output.info,
)
write_parquet(distances.assign(seed=seed), snakemake.output.distances)
log.info("seed %d: %d test questions", seed, len(parts["test"]))
