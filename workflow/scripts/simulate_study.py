"""Simulate a study on the production models of every seed: a thin wrapper of gemsflow.simulate."""

from pathlib import Path

import pandas as pd

from gemsflow.io import read_json
from gemsflow.logs import setup_logging
from gemsflow.methods.mapping import load_choice_features
from gemsflow.simulation.evidence import read_evidence
from gemsflow.simulation.production import simulate, write_simulation
from gemsflow.simulation.studies import load_study

# No torch here: the job reads the model and features with numpy, so it does not pay torch's import.
log = setup_logging(snakemake.log[0])
boot = snakemake.params.bootstrap
sim = simulate(
    [Path(path).parent for path in snakemake.input.models],
    load_study(snakemake.input.study),
    features=load_choice_features(snakemake.input.features),
    n_boot=boot["n_boot"],
    level=boot["level"],
    seed=boot["seed"],
    evidence=pd.read_csv(snakemake.input.evidence, sep="\t"),
    choice=read_json(snakemake.input.choice),
)
heldout = snakemake.params.heldout
write_simulation(
    sim,
    snakemake.output[0],
    evidence=read_evidence(
        heldout["method"],
        heldout["setting"],
        heldout["metrics"],
        heldout["heldout"],
        heldout["table_link"],
    )
    if heldout
    else None,
)
log.info(
    "study %s: %s, %d questions, seeds %s",
    sim.study.name,
    sim.info["method"],
    len(sim.study.questions),
    sim.info["seeds"],
)
if not sim.info["method_choice"]["agrees"]:
    log.warning("simulate.method: %s", sim.info["method_choice"]["note"])
