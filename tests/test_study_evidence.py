"""The study page's held-out evidence: what it says about the method, chance and the floors."""

from __future__ import annotations

import pandas as pd

from gemsflow.io import write_json
from gemsflow.simulation.evidence import evidence_html, read_evidence, verdict


def _evidence(tmp_path, own, uniform=(0.25, 0.25, 0.25), prior=(0.2, 0.22, 0.3)):
    metrics = {}
    for name, values in (
        ("mapping-sage-minilm", own),
        ("uniform", uniform),
        ("position_prior", prior),
    ):
        metrics[name] = []
        for seed, accuracy in zip((41, 42, 43), values, strict=True):
            path = tmp_path / f"{name}-{seed}.json"
            write_json({"seed": seed, "accuracy": accuracy}, path)
            metrics[name].append(path)
    heldout = tmp_path / "simulation.tsv"
    pd.DataFrame(
        {
            "method": ["gemsflow", "position_prior"],
            "subgroup_tv": [0.40, 0.43],
            "subgroup_w1": [None, None],
        }
    ).to_csv(heldout, sep="\t", index=False)
    return read_evidence(
        "mapping-sage-minilm", "setting3", metrics, heldout, "../../../leaderboards/x/simulation.md"
    )


VALIDATION = {
    "41": {
        "mapping_val_accuracy": 0.16,
        "mapping_val_chance": 0.25,
        "n_val_questions": 2,
        "alpha": 100.0,
        "layer": 0,
    }
}


def test_a_method_below_chance_on_held_out_questions_is_called_a_guess(tmp_path):
    evidence = _evidence(tmp_path, own=(0.2, 0.24, 0.21))
    assert verdict(evidence).startswith("not above chance on any held-out split")
    page = evidence_html(evidence, VALIDATION)
    # The production model's own validation figure is read against chance on the same questions.
    assert "mapping val acc 0.160 on 2 validation question(s), chance 0.250: below chance" in page
    assert "href='../../../leaderboards/x/simulation.md'" in page
    assert "gemsflow 0.400, position_prior 0.430" in page
    assert "<b>not</b> how wrong the model can be" in page  # what the bootstrap does not cover


def test_mixed_and_clear_evidence(tmp_path):
    assert "above chance on 2 of 3" in verdict(_evidence(tmp_path, own=(0.3, 0.2, 0.35)))
    clear = _evidence(tmp_path, own=(0.4, 0.41, 0.42))
    assert (
        verdict(clear)
        == "above chance and the position prior on every one of the 3 held-out splits"
    )
    assert "0.410 ± 0.010" in evidence_html(clear, VALIDATION)


def test_without_evidence_the_page_says_none_was_built():
    assert "No held-out evidence was built" in evidence_html(None, VALIDATION)
