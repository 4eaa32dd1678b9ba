"""Each metric against values worked out by hand on a tiny survey, and against scipy where it has one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cityblock
from scipy.stats import wasserstein_distance

from gemsflow.data.survey import SurveyData, Trait, build_options_table
from gemsflow.errors import InputDataError
from gemsflow.evaluation import run_metrics as ev

# Four people, two questions. q1: ordinal 5-point scale (codes 1..5); q2: nominal (codes 10, 20, 30).
# d did not answer q1. Everything answered is held out in the test part except one training answer (e).
ANSWERS = {
    ("a", "q1"): 1,
    ("b", "q1"): 5,
    ("c", "q1"): 3,
    ("a", "q2"): 10,
    ("b", "q2"): 20,
    ("c", "q2"): 30,
    ("d", "q2"): 10,
    ("e", "q1"): 2,
}
WEIGHTS = {"a": 1.0, "b": 1.0, "c": 2.0, "d": 2.0, "e": 1.0}
Q1_PRED = [0.5, 0.0, 0.0, 0.0, 0.5]  # a tie of codes 1 and 5: credit 1/2 when the answer is 1 or 5
PREDS = {
    ("a", "q1"): Q1_PRED,
    ("b", "q1"): Q1_PRED,
    ("c", "q1"): Q1_PRED,
    ("a", "q2"): [0.6, 0.3, 0.1],  # right
    ("b", "q2"): [0.6, 0.3, 0.1],  # wrong (answered 20)
    ("c", "q2"): [0.2, 0.2, 0.6],  # right
    ("d", "q2"): [0.2, 0.5, 0.3],  # wrong (answered 10)
}
CODES = {"q1": [1, 2, 3, 4, 5], "q2": [10, 20, 30]}


def tiny_data(weights: dict[str, float] = WEIGHTS) -> SurveyData:
    individuals = pd.DataFrame(
        {
            "individual": list("abcde"),
            "wave": 1,
            "weight": [weights[p] for p in "abcde"],
            "sex": ["m", "m", "f", "f", None],
        }
    )
    questions = pd.DataFrame(
        {
            "question": ["q1", "q2"],
            "wave": 1,
            "text": ["How much?", "Which one?"],
            "n_options": [5, 3],
            "ordinal": [True, False],
        }
    )
    options = build_options_table(
        {q: [(c, f"option {c}") for c in codes] for q, codes in CODES.items()},
        {"q1": "How much?", "q2": "Which one?"},
    )
    responses = pd.DataFrame(
        [(p, q, c, weights[p]) for (p, q), c in ANSWERS.items()],
        columns=["individual", "question", "code", "weight"],
    )
    return SurveyData(
        name="tiny",
        individuals=individuals,
        questions=questions,
        options=options,
        responses=responses,
        traits=(Trait("sex", "Sex", ("m", "f")),),
    )


def tiny_split() -> pd.DataFrame:
    return pd.DataFrame(
        [(p, q, "train" if p == "e" else "test") for (p, q) in ANSWERS],
        columns=["individual", "question", "part"],
    )


def tiny_predictions(preds: dict = PREDS) -> pd.DataFrame:
    rows = [
        (p, q, "test", code, prob)
        for (p, q), probs in preds.items()
        for code, prob in zip(CODES[q], probs, strict=True)
    ]
    return pd.DataFrame(rows, columns=["individual", "question", "part", "code", "prob"])


CFG = ev.EvaluationConfig(calibration_bins=10, n_boot=200, min_subgroup_individuals=1)


@pytest.fixture(scope="module")
def metrics():
    return ev.evaluate(tiny_predictions(), tiny_data(), tiny_split(), CFG)


def test_wasserstein_on_a_five_point_scale_by_hand_and_scipy():
    # Half the mass at each end vs. everything in the middle: each half moves 2 steps.
    p = np.array([0.5, 0, 0, 0, 0.5])
    q = np.array([0, 0, 1.0, 0, 0])
    assert ev.wasserstein_ordinal(p, q) == pytest.approx(2.0)
    # All mass at one end vs the other end: the maximum, K - 1 = 4.
    assert ev.wasserstein_ordinal(np.eye(5)[0], np.eye(5)[4]) == pytest.approx(4.0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        expected = wasserstein_distance(np.arange(5), np.arange(5), a, b)
        assert ev.wasserstein_ordinal(a, b) == pytest.approx(expected, abs=1e-12)


def test_total_variation_by_hand_and_scipy():
    assert ev.total_variation(np.array([0.4, 0.325, 0.275]), np.array([0.5, 0.25, 0.25])) == (
        pytest.approx(0.1)
    )
    rng = np.random.default_rng(1)
    a, b = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    assert ev.total_variation(a, b) == pytest.approx(cityblock(a, b) / 2)


def test_representativeness_follows_opinionqa():
    pred = np.array([[[0.5, 0, 0, 0, 0.5]], [[1.0, 0, 0, 0, 0]]])
    obs = np.array([[[0, 0, 1.0, 0, 0]], [[0, 0, 0, 0, 1.0]]])
    dist, rep = ev.distribution_distance(pred, obs, np.array([True]), np.array([5]))
    assert dist[:, 0] == pytest.approx([2.0, 4.0])
    assert rep[:, 0] == pytest.approx([0.5, 0.0])  # 1 - WD / (K - 1)


def test_accuracy_micro_and_macro(metrics):
    test = metrics["parts"]["test"]
    # Credit: (a, q1) and (b, q1) 1/2 each (tie of codes 1 and 5), (a, q2), (c, q2) 1: 3 of 7 pairs.
    assert test["accuracy"] == pytest.approx(3 / 7)
    assert test["macro_accuracy"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert test["n"] == 7 and test["n_individuals"] == 4
    assert metrics["per_question"]["test"]["q1"] == {"accuracy": pytest.approx(1 / 3), "n": 3}
    # No validation part in this split: reported as empty, not skipped.
    assert metrics["parts"]["val"] == {
        "accuracy": None,
        "macro_accuracy": None,
        "n": 0,
        "n_abstained": 0,
        "abstain_rate": None,
    }


def test_log_loss_brier_and_ece(metrics):
    test = metrics["parts"]["test"]
    # (c, q1) puts zero mass on the answer: clipped at 1e-15.
    nll = [math.log(2), math.log(2), -math.log(1e-15)]
    nll += [-math.log(0.6), -math.log(0.3), -math.log(0.6), -math.log(0.2)]
    assert test["log_loss"] == pytest.approx(sum(nll) / 7)
    assert test["brier"] == pytest.approx((0.5 + 0.5 + 1.5 + 0.26 + 0.86 + 0.24 + 0.98) / 7)
    # Bin (0.4, 0.5]: confidences 0.5 x4, credit 1/2 + 1/2 -> |1 - 2.0|; bin (0.5, 0.6]: 0.6 x3, two right.
    assert test["ece"] == pytest.approx((1.0 + 0.2) / 7)
    bins = metrics["calibration"]["test"]["bins"]
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 4, 3, 0, 0, 0, 0]
    assert bins[4]["accuracy"] == pytest.approx(0.25)
    assert bins[5]["confidence"] == pytest.approx(0.6)


def test_per_question_distributions(metrics):
    q1 = metrics["distribution"]["test"]["per_question"]["q1"]
    # Predicted mean [.5,0,0,0,.5] vs observed thirds at codes 1, 3, 5: |CDF gap| = 1/6 at four cuts.
    assert q1["distance_kind"] == "wasserstein1"
    assert q1["distance"] == pytest.approx(2 / 3)
    assert q1["representativeness"] == pytest.approx(1 - (2 / 3) / 4)
    q2 = metrics["distribution"]["test"]["per_question"]["q2"]
    assert q2["distance_kind"] == "total_variation"
    assert q2["predicted"] == pytest.approx([0.4, 0.325, 0.275])
    assert q2["observed"] == pytest.approx([0.5, 0.25, 0.25])
    assert q2["distance"] == pytest.approx(0.1)
    dist = metrics["distribution"]["test"]
    assert dist["mean_representativeness"] == pytest.approx((5 / 6 + 0.9) / 2)
    assert dist["mean_wasserstein_ordinal"] == pytest.approx(2 / 3)
    assert dist["mean_total_variation_nominal"] == pytest.approx(0.1)


def test_subgroups_and_demographic_parity_difference(metrics):
    sex = metrics["subgroups"]["test"]["sex"]
    # m = a, b: credit 1/2 + 1/2 on q1 (ties) + 1 on (a, q2) of 4 pairs; f = c, d: (c, q2) of 3 pairs.
    assert sex["groups"]["m"]["accuracy"] == pytest.approx(0.5)
    assert sex["groups"]["f"]["accuracy"] == pytest.approx(1 / 3)
    assert sex["groups"]["f"]["n_individuals"] == 2
    assert sex["dpd"] == pytest.approx(0.5 - 1 / 3)
    assert (sex["best"], sex["worst"]) == ("m", "f")
    # f: q1 only c (observed code 3, predicted mean [.5,0,0,0,.5]: WD 2, rep 0.5);
    # q2: c, d -> predicted [.2, .35, .45] vs observed [.5, 0, .5]: TV 0.35, rep 0.65.
    assert sex["groups"]["f"]["mean_representativeness"] == pytest.approx((0.5 + 0.65) / 2)


def test_dpd_ignores_groups_below_the_size_floor():
    cfg = ev.EvaluationConfig(n_boot=0, min_subgroup_individuals=3)
    out = ev.evaluate(tiny_predictions(), tiny_data(), tiny_split(), cfg)
    assert out["subgroups"]["test"]["sex"]["dpd"] is None
    assert out["subgroups"]["test"]["sex"]["n_groups_compared"] == 0


def test_survey_weighted_variants(metrics):
    assert metrics["weighted"]["available"] is True
    # Weights: a, b = 1, c, d = 2. Credit: (a,q1) .5 + (b,q1) .5 + (a,q2) 1 + (c,q2) 2 of 1+1+2+1+1+2+2.
    assert metrics["weighted"]["test"]["accuracy"] == pytest.approx(4 / 10)
    flat = ev.evaluate(
        tiny_predictions(), tiny_data(dict.fromkeys("abcde", 3.0)), tiny_split(), CFG
    )
    assert flat["weighted"]["available"] is False


def test_bootstrap_matches_a_loop_over_resamples_and_is_seeded():
    data, split, preds = tiny_data(), tiny_split(), tiny_predictions()
    cfg = ev.EvaluationConfig(n_boot=50, bootstrap_seed=3, min_subgroup_individuals=1)
    arr = ev.align(preds, data, split)["test"]
    stats = ev._pair_stats(arr, cfg.calibration_bins)
    boot = ev.bootstrap(arr, stats, ev.question_info(data), cfg)
    # Recompute accuracy per resample with an explicit loop over the same multiplicities.
    rng = np.random.default_rng(3)
    counts = rng.multinomial(arr.n_individuals, np.full(arr.n_individuals, 0.25), size=50)
    loop = []
    for b in range(50):
        w = counts[b, arr.ind]
        loop.append((w * stats["correct"]).sum() / w.sum())
    assert boot["accuracy"]["low"] == pytest.approx(np.quantile(loop, 0.025))
    assert boot["accuracy"]["high"] == pytest.approx(np.quantile(loop, 0.975))
    assert boot["accuracy"]["std"] == pytest.approx(np.std(loop, ddof=1))
    again = ev.bootstrap(arr, stats, ev.question_info(data), cfg)
    assert again == boot


def test_bootstrap_interval_covers_the_estimate_on_a_larger_sample():
    rng = np.random.default_rng(5)
    people = [f"p{i}" for i in range(300)]
    answers = {(p, q): int(rng.integers(1, 6)) for p in people for q in ("q1",)}
    answers |= {(p, "q2"): int(rng.choice([10, 20, 30])) for p in people}
    data = tiny_data()
    data = SurveyData(
        name="larger",
        individuals=pd.DataFrame(
            {"individual": people, "wave": 1, "weight": 1.0, "sex": ["m", "f"] * 150}
        ),
        questions=data.questions,
        options=data.options,
        responses=pd.DataFrame(
            [(p, q, c, 1.0) for (p, q), c in answers.items()],
            columns=["individual", "question", "code", "weight"],
        ),
        traits=data.traits,
    )
    split = pd.DataFrame(
        [(p, q, "test") for (p, q) in answers], columns=["individual", "question", "part"]
    )
    # Predictions lean towards the first option while answers are uniform, so the distributions differ
    # clearly (a distance near 0 is biased upwards under resampling and would not be covered).
    preds = tiny_predictions(
        {(p, q): rng.dirichlet([4.0] + [1.0] * (len(CODES[q]) - 1)).tolist() for (p, q) in answers}
    )
    out = ev.evaluate(preds, data, split, ev.EvaluationConfig(n_boot=300))
    for name in ("accuracy", "log_loss", "ece", "mean_representativeness"):
        ci = out["bootstrap"]["test"][name]
        point = (
            out["distribution"]["test"][name]
            if name.startswith("mean_")
            else out["parts"]["test"][name]
        )
        assert ci["low"] < point < ci["high"], name


def test_retest_normalisation(tmp_path):
    table = pd.DataFrame(
        {
            "individual": ["a", "b", "c", "d", "d"],
            "question": ["q1", "q1", "q1", "q2", "q1"],
            # a, c, d repeat their answer, b does not; (d, q1) was never answered; code 99 is invalid.
            "code": [1, 4, 3, 10, 99],
        }
    )
    path = tmp_path / "retest.csv"
    table.to_csv(path, index=False)
    retest = ev.read_retest_table(path)
    out = ev.evaluate(
        tiny_predictions(), tiny_data(), tiny_split(), CFG, retest=retest, retest_source=str(path)
    )["retest"]
    assert out["available"] is True
    assert out["n_pairs"] == 4 and out["n_dropped_invalid_codes"] == 1
    assert out["human_retest_accuracy"] == pytest.approx(3 / 4)
    # Tie credit 1/2 on (a, q1) and (b, q1), 0 on (c, q1) and (d, q2).
    assert out["model_accuracy_on_retest_pairs"] == pytest.approx(1 / 4)
    assert out["normalized_accuracy"] == pytest.approx((1 / 4) / (3 / 4))
    # Per person: a (1/2)/1, b excluded (never repeats), c 0/1, d 0/1.
    assert out["normalized_accuracy_mean_over_individuals"] == pytest.approx(1 / 6)


def test_retest_absent_is_reported_not_invented(metrics):
    assert metrics["retest"]["available"] is False
    assert "normalized_accuracy" not in metrics["retest"]


def test_retest_table_errors_name_the_file(tmp_path):
    with pytest.raises(InputDataError, match="not found"):
        ev.read_retest_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"individual": ["a"], "code": [1]}).to_csv(bad, index=False)
    with pytest.raises(InputDataError, match="bad.csv.*question"):
        ev.read_retest_table(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f[f["individual"] != "d"], "no prediction"),
        (lambda f: f.assign(code=f["code"].where(f["code"] != 30, 31)), "not an option"),
        (lambda f: f.assign(prob=f["prob"] * 1.1), "sum to"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "appears twice"),
        (lambda f: f.assign(prob=f["prob"].where(f.index != 0, np.nan)), "finite"),
        (lambda f: f.drop(columns="prob"), "prob"),
        (lambda f: f[~((f["individual"] == "a") & (f["code"] == 30))], "not every option"),
    ],
)
def test_bad_predictions_raise_clear_errors(edit, message):
    with pytest.raises(InputDataError, match=message):
        ev.evaluate(
            edit(tiny_predictions()), tiny_data(), tiny_split(), CFG, predictions_path="p.parquet"
        )


def test_prediction_for_a_training_pair_is_rejected():
    extra = pd.DataFrame(
        [("e", "q1", "test", c, 0.2) for c in CODES["q1"]],
        columns=["individual", "question", "part", "code", "prob"],
    )
    with pytest.raises(InputDataError, match="not a held-out pair"):
        ev.evaluate(pd.concat([tiny_predictions(), extra]), tiny_data(), tiny_split(), CFG)


def test_config_section_is_read_and_checked():
    section = {
        "calibration_bins": 15,
        "min_subgroup_individuals": 3,
        "bootstrap": {"n_boot": 10, "seed": 1, "level": 0.9},
    }
    cfg = ev.EvaluationConfig.from_config(section)
    assert (cfg.calibration_bins, cfg.n_boot, cfg.bootstrap_seed, cfg.ci_level) == (15, 10, 1, 0.9)
    assert cfg.min_subgroup_individuals == 3
    # The schema, not the code, rejects an out-of-range level before any job runs.
    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "config/schema.yaml").read_text())
    evaluation = schema["properties"]["evaluation"]
    bad = dict(section, bootstrap={"n_boot": 10, "seed": 1, "level": 1.5})
    with pytest.raises(jsonschema.ValidationError, match="1.5"):
        jsonschema.validate(bad, evaluation)
