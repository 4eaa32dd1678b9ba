"""Non-graph learners (logreg) and the ensemble: contract, validation-based selection, determinism,
and that they find real structure the majority floor misses."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_DATASET_ENTRY, snakemake, tiny_config, write_tiny_gems

from gemsflow.data.datasets import load_source
from gemsflow.data.splits import TRAIN, SplitSpec, make_split
from gemsflow.errors import InputDataError
from gemsflow.evaluation.run_metrics import align
from gemsflow.evaluation.scoring import score
from gemsflow.evaluation.selection import validation_folds
from gemsflow.methods.baselines import majority
from gemsflow.methods.learners import (
    boosted_trees,
    ensemble,
    logreg,
    multilayer_perceptron,
    per_question,
)
from gemsflow.methods.pooled_learners import parse_pooled_features, pooled

SETTING1 = SplitSpec("individual", 0.2, 0.4, 0.4)
SETTING2 = SplitSpec("individual", 0.2, 0.4, 0.0)
CS = [0.01, 0.1, 1.0]


def tiny(tmp_path, *, traits=True, n_people=300):
    """The tiny survey: answers follow party (70 %); age carries nothing."""
    directory = write_tiny_gems(tmp_path / "tiny", n_people=n_people)
    entry = {**TINY_DATASET_ENTRY, "dir": str(directory)}
    if not traits:  # party hidden: only the person's other answers reveal it
        entry["traits"] = {"age": TINY_DATASET_ENTRY["traits"]["age"]}
    return load_source("tiny", entry)


@pytest.mark.slow
def test_logreg_predictions_follow_the_contract_and_record_the_validation_choice(tmp_path):
    data = tiny(tmp_path)
    split = make_split(data, SETTING1, 5)
    predictions, info = logreg(data, split, seed=5, cs=CS, features=["traits", "traits+answers"])
    # The scorer's own contract check: every val/test pair, every real option, sums to 1.
    parts = align(predictions, data, split)
    assert parts["val"].n + parts["test"].n == int(split["part"].isin(["val", "test"]).sum())
    assert list(predictions.columns) == ["individual", "question", "part", "code", "prob"]
    # The recorded choice is the best validation figure among every candidate tried.
    grid = info["val_accuracy"]
    assert set(grid) == {"traits", "traits+answers"} and all(
        len(v) == len(CS) for v in grid.values()
    )
    best = max((acc, name, c) for name, row in grid.items() for c, acc in row.items())
    assert info["best_val_accuracy"] == best[0]
    assert grid[info["selected"]["features"]][repr(info["selected"]["C"])] == best[0]
    # The validation rows are cross-fitted: each fold of people is predicted by the candidate best on
    # the other fold, so the scorer reads the out-of-fold figure, not the maximum over candidates.
    assert [f["predicts_fold"] for f in info["fold_selected"]] == [0, 1]
    val = score(predictions, data, split)["parts"]["val"]["accuracy"]
    assert val == pytest.approx(info["out_of_fold_val_accuracy"])


@pytest.mark.slow
def test_logreg_is_deterministic(tmp_path):
    data = tiny(tmp_path, n_people=120)
    split = make_split(data, SETTING1, 9)
    first, info1 = logreg(data, split, seed=9, cs=CS, features=["traits+answers+summary"])
    second, info2 = logreg(data, split, seed=9, cs=CS, features=["traits+answers+summary"])
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert info1["val_accuracy"] == info2["val_accuracy"]


def test_setting2_uses_traits_only_and_beats_majority(tmp_path):
    data = tiny(tmp_path)
    split = make_split(data, SETTING2, 3)
    predictions, info = logreg(data, split, seed=3, cs=CS, features=["traits", "traits+answers"])
    # Evaluation people reveal nothing: answer features would be empty at prediction time.
    assert set(info["val_accuracy"]) == {"traits"} and info["reveal_rate"] == 0.0
    learned = score(predictions, data, split)
    floor = score(majority(data, split), data, split)
    assert learned["accuracy"] > floor["accuracy"] + 0.2


@pytest.mark.slow
def test_setting1_reads_the_revealed_answers(tmp_path):
    # Party is hidden from the traits, so only the person's revealed answers can reveal it.
    data = tiny(tmp_path, traits=False)
    split = make_split(data, SETTING1, 4)
    predictions, info = logreg(data, split, seed=4, cs=CS, features=["traits", "traits+answers"])
    assert info["selected"]["features"] == "traits+answers"
    evaluation = split.loc[split["part"] != "train", "individual"].unique()
    shown = split.loc[split["individual"].isin(evaluation), "part"].eq("train").mean()
    assert info["reveal_rate"] == pytest.approx(shown) and 0.2 < shown < 0.5
    grid = info["val_accuracy"]
    assert max(grid["traits+answers"].values()) > max(grid["traits"].values()) + 0.1
    learned = score(predictions, data, split)["accuracy"]
    assert learned > score(majority(data, split), data, split)["accuracy"] + 0.1


def test_ensemble_weights_members_on_validation(tmp_path):
    data = tiny(tmp_path)
    split = make_split(data, SETTING2, 6)
    members = {
        "majority": majority(data, split),
        "logreg": logreg(data, split, seed=6, cs=CS, features=["traits"])[0],
    }
    predictions, info = ensemble(data, split, members, seed=6, max_steps=5)
    align(predictions, data, split)
    assert info["members"] == ["majority", "logreg"]
    assert sum(info["weights"].values()) == pytest.approx(1.0)
    # Greedy selection never ends below the best single member, on the metric it selects by (minus
    # the log-loss by default), on the pairs it was fitted on.
    assert info["metric"] == "log_loss"
    assert info["selection_trace"][-1]["score"] >= max(info["member_val_score"].values())
    assert info["weights"].get("logreg", 0) > info["weights"].get("majority", 0)
    # The scorer's validation figure is the recorded out-of-fold one, made of the per-fold selections.
    val = score(predictions, data, split)["parts"]["val"]["accuracy"]
    assert val == pytest.approx(info["out_of_fold_val_accuracy"])
    assert [(f["predicts_fold"], f["selected_on_folds"]) for f in info["folds"]] == [
        (0, [1]),
        (1, [0]),
    ]
    n_val_people = split.loc[split["part"] == "val", "individual"].nunique()
    assert sum(f["n_people"] for f in info["folds"]) == n_val_people
    again, info2 = ensemble(data, split, members, seed=6, max_steps=5)
    pd.testing.assert_frame_equal(predictions, again, check_exact=True)
    assert info == info2


def noise_members(data, split, n_members, seed):
    """Members that are pure noise: every pair's distribution is a random Dirichlet draw."""
    held = split.loc[split["part"].isin(["val", "test"]), ["individual", "question", "part"]]
    options = data.options[["question", "code"]].astype({"question": str})
    rows = held.astype(str).merge(options, on="question")
    rng = np.random.default_rng(seed)
    members = {}
    for m in range(n_members):
        prob = rng.gamma(1.0, size=len(rows))
        frame = rows.assign(prob=prob)
        frame["prob"] /= frame.groupby(["individual", "question", "part"])["prob"].transform("sum")
        members[f"noise{m}"] = frame
    return members


@pytest.mark.slow
def test_ensemble_validation_figure_is_not_biased_by_its_own_selection(tmp_path):
    # Noise members all have the same true accuracy (chance), so whatever the selected average gains
    # on the pairs it was selected on is overfitting, and the test part shows it as a gap. Selecting on
    # accuracy overfits most visibly; cross-fitting must remove the gap whatever the metric.
    data = tiny(tmp_path, n_people=500)
    split = make_split(data, SETTING1, 2)
    in_sample_gap, oof_gap, over_best_single = [], [], []
    for seed in range(12):
        members = noise_members(data, split, 8, seed)
        predictions, info = ensemble(
            data, split, members, seed=seed, max_steps=10, metric="accuracy"
        )
        parts = score(predictions, data, split)["parts"]
        assert parts["val"]["accuracy"] == pytest.approx(info["out_of_fold_val_accuracy"])
        test = parts["test"]["accuracy"]
        in_sample_gap.append(info["in_sample_val_accuracy"] - test)
        oof_gap.append(info["out_of_fold_val_accuracy"] - test)
        best_single = max(info["member_val_accuracy"].values())
        over_best_single.append(info["out_of_fold_val_accuracy"] - best_single)
    # The old, in-sample figure: above the test figure for every seed, by ~4.5 points on average.
    assert min(in_sample_gap) > 0 and np.mean(in_sample_gap) > 0.03
    # The out-of-fold figure: no systematic gap to test (standard error of the mean ~0.01) ...
    assert abs(np.mean(oof_gap)) < 0.025
    assert np.mean(in_sample_gap) > np.mean(oof_gap) + 0.03
    # ... and never above the best single member's validation figure beyond noise.
    assert np.mean(over_best_single) <= 0.0 and max(over_best_single) < 0.02


def confident_member(data, split, hit_rate, mass, seed):
    """Puts ``mass`` on one option per held-out pair, the answer with probability ``hit_rate`` (else
    the option after it), and spreads the rest evenly."""
    options = data.options.astype({"question": str})[["question", "code", "position"]]
    answers = data.responses.astype({"individual": str, "question": str}).merge(
        options, on=["question", "code"]
    )[["individual", "question", "position"]]
    held = split.loc[split["part"].isin(["val", "test"]), ["individual", "question", "part"]]
    held = held.astype(str).merge(answers.rename(columns={"position": "answer"}))
    n_options = options.groupby("question").size().rename("k").reset_index()
    held = held.merge(n_options, on="question")
    hit = np.random.default_rng(seed).random(len(held)) < hit_rate
    held["top"] = np.where(hit, held["answer"], (held["answer"] + 1) % held["k"])
    rows = held.merge(options, on="question")
    rows["prob"] = np.where(rows["position"] == rows["top"], mass, (1 - mass) / (rows["k"] - 1))
    return rows[["individual", "question", "part", "code", "prob"]]


def test_ensemble_selects_on_log_loss_unless_told_accuracy(tmp_path):
    # "sure" is right more often but all but certain when wrong; "hedged" is right less often but
    # never far off. Log-loss prefers hedged, accuracy prefers sure.
    data = tiny(tmp_path)
    split = make_split(data, SETTING2, 6)
    members = {
        "sure": confident_member(data, split, hit_rate=0.7, mass=0.99, seed=1),
        "hedged": confident_member(data, split, hit_rate=0.6, mass=0.6, seed=2),
    }
    for member in members.values():
        align(member, data, split)
    _, by_log_loss = ensemble(data, split, members, seed=6, max_steps=5)
    _, by_accuracy = ensemble(data, split, members, seed=6, max_steps=5, metric="accuracy")
    assert by_log_loss["selection_trace"][0]["add"] == "hedged"
    assert by_accuracy["selection_trace"][0]["add"] == "sure"
    accuracy_of = by_log_loss["member_val_accuracy"]
    assert accuracy_of["sure"] > accuracy_of["hedged"] + 0.05
    with pytest.raises(InputDataError, match="learners.ensemble.metric"):
        ensemble(data, split, members, seed=6, metric="brier")


def test_ensemble_fold_predictions_ignore_that_folds_answers(tmp_path):
    data = tiny(tmp_path, n_people=200)
    split = make_split(data, SETTING2, 3)
    # Noise members: any change of validation answers moves the selection, so a leak would show.
    members = {"majority": majority(data, split), **noise_members(data, split, 5, 3)}
    before, info = ensemble(data, split, members, seed=3, max_steps=5)
    val_people = split.loc[split["part"] == "val", "individual"].astype(str)
    fold = pd.Series(validation_folds(val_people, 2, 3), index=val_people.to_numpy())
    fold0 = set(fold[fold == 0].index)
    # Rewrite every validation answer of fold 0's people to the next option of the question.
    pairs = split.loc[split["part"].eq("val") & split["individual"].astype(str).isin(fold0)]
    responses = data.responses.astype({"individual": str, "question": str})
    keys = pairs[["individual", "question"]].astype(str)
    hit = responses.merge(keys, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    assert hit.sum() > 50
    options = data.options.astype({"question": str}).sort_values(["question", "position"])
    options["next"] = options.groupby("question")["code"].transform(lambda c: np.roll(c, -1))
    moved = responses[hit].merge(options, on=["question", "code"], how="left")
    responses.loc[hit, "code"] = moved["next"].to_numpy()
    perturbed = dataclasses.replace(data, responses=responses)
    after, info_after = ensemble(perturbed, split, members, seed=3, max_steps=5)
    in_fold0 = (before["part"] == "val") & before["individual"].isin(fold0)
    key = ["individual", "question", "part", "code"]
    pd.testing.assert_frame_equal(
        before[in_fold0].sort_values(key).reset_index(drop=True),
        after[after["part"].eq("val") & after["individual"].isin(fold0)]
        .sort_values(key)
        .reset_index(drop=True),
        check_exact=True,
    )
    # Fold 0 is predicted by the selection made on fold 1 alone; the one made on fold 0 did see the change.
    assert info_after["folds"][0] == info["folds"][0]
    assert info_after["folds"][1]["weights"] != info["folds"][1]["weights"]
    assert info_after["weights"] != info["weights"]


def test_ensemble_on_new_questions_cross_fits_over_questions(tmp_path):
    """On a question-axis split the folds are validation questions, so a fold's predictions never
    depend on that fold's answers: the out-of-fold figure measures generalisation to new questions."""
    data = tiny(tmp_path, n_people=120)
    split = make_split(data, SplitSpec("question", 0.34, 0.33), 5)
    members = noise_members(data, split, 4, 5)
    before, info = ensemble(data, split, members, seed=5, max_steps=4, axis="question")
    assert info["selected_on"].endswith("folds of questions")
    val_questions = split.loc[split["part"] == "val", "question"].astype(str)
    fold = pd.Series(
        validation_folds(val_questions, 2, 5, kind="questions"), index=val_questions.to_numpy()
    )
    fold0 = set(fold[fold == 0].index)
    assert fold0 and set(fold.index) - fold0
    # Rewrite every answer to fold 0's questions to the next option.
    responses = data.responses.astype({"individual": str, "question": str})
    hit = responses["question"].isin(fold0).to_numpy()
    options = data.options.astype({"question": str}).sort_values(["question", "position"])
    options["next"] = options.groupby("question")["code"].transform(lambda c: np.roll(c, -1))
    moved = responses[hit].merge(options, on=["question", "code"], how="left")
    responses.loc[hit, "code"] = moved["next"].to_numpy()
    perturbed = dataclasses.replace(data, responses=responses)
    after, info_after = ensemble(perturbed, split, members, seed=5, max_steps=4, axis="question")
    key = ["individual", "question", "part", "code"]

    def fold0_val(frame):
        rows = frame["part"].eq("val") & frame["question"].isin(fold0)
        return frame[rows].sort_values(key).reset_index(drop=True)

    pd.testing.assert_frame_equal(fold0_val(before), fold0_val(after), check_exact=True)
    assert info_after["folds"][0] == info["folds"][0]
    assert info_after["folds"][1]["weights"] != info["folds"][1]["weights"]


def test_ensemble_with_one_validation_question_says_it_cannot_cross_fit(tmp_path):
    data = tiny(tmp_path, n_people=60)
    split = make_split(data, SplitSpec("question", 0.34, 0.33), 5)
    val = split["part"] == "val"
    kept = split.loc[val, "question"].astype(str).min()
    one_val = split[~val | (split["question"].astype(str) == kept)]
    members = noise_members(data, one_val, 2, 5)
    with pytest.raises(InputDataError, match="one validation question"):
        ensemble(data, one_val, members, seed=5, max_steps=2, axis="question")


def test_ensemble_without_members_is_a_config_error(tmp_path):
    data = tiny(tmp_path, n_people=60)
    split = make_split(data, SETTING2, 1)
    with pytest.raises(InputDataError, match="learners.ensemble.members"):
        ensemble(data, split, {}, seed=1)


def test_workflow_runs_logreg_and_ensemble(workdir):
    methods = ["majority", "logreg", "ensemble"]
    config = tiny_config(workdir, methods={"setting1": methods, "setting2": methods})
    runs = "results/runs/setting1/tiny"
    targets = [f"{runs}/{m}/seed42/metrics.json" for m in methods]
    snakemake(workdir, "--configfile", str(config), "--", *targets)
    info = json.loads((workdir / runs / "ensemble/seed42/run_info.json").read_text())
    # members: auto = every other method of the setting.
    assert info["members"] == ["majority", "logreg"]
    # The leaderboard's validation figure of the ensemble is its out-of-fold one.
    scored = json.loads((workdir / runs / "ensemble/seed42/metrics.json").read_text())
    assert scored["parts"]["val"]["accuracy"] == pytest.approx(info["out_of_fold_val_accuracy"])
    bench = workdir / "results/benchmarks/learner/setting1/tiny/logreg/seed42.tsv"
    assert bench.exists() and "s\t" in bench.read_text().splitlines()[0] + "\t"
    metrics = json.loads((workdir / runs / "logreg/seed42/metrics.json").read_text())
    assert np.isfinite(metrics["accuracy"]) and metrics["method_info"]["selected"]


def test_logreg_refuses_a_new_question_split(tmp_path):
    data = tiny(tmp_path, n_people=60)
    split = make_split(data, SplitSpec("question", 0.2, 0.2, 0.0), 2)
    with pytest.raises(InputDataError, match="axis: individual"):
        logreg(data, split, seed=2, cs=CS, features=["traits"])


def test_feature_set_names_are_checked():
    from gemsflow.methods.learners import parse_feature_set

    assert parse_feature_set("traits+answers+summary+ordinal+neighbours") == {
        "traits",
        "answers",
        "summary",
        "ordinal",
        "neighbours",
    }
    for bad in (
        "traits+ordinal",
        "traits+answers+ordinal+summary",
        "answers",
        "traits+answers+knn",
    ):
        with pytest.raises(InputDataError, match="learners.logreg.features"):
            parse_feature_set(bad)


def test_ordinal_and_neighbour_blocks_never_see_the_target_answer(tmp_path):
    """The +ordinal and +neighbours columns for question q are the same whatever the person's own answer
    to q is: the target never leaks into its own features."""
    from gemsflow.methods.learners import Design, build_problem

    data = tiny(tmp_path, n_people=120)
    data = dataclasses.replace(data, questions=data.questions.assign(ordinal=True))
    problem = build_problem(data, make_split(data, SETTING1, 7))
    name = "traits+answers+ordinal+neighbours"
    base = Design(problem, 7, name)
    # The ordinal columns: one per other question, 0 where the answer is not shown, centred otherwise.
    assert base._ordinal(0).shape[1] == len(problem.questions) - 1
    assert np.all(base.ordinal_values[~base.shown] == 0.0)
    assert np.allclose(base.ordinal_values.sum(axis=0), 0.0)
    # One training person's own answer to question 0 changes.
    person = np.flatnonzero(base.shown[:, 0] & (problem.part[:, 0] == TRAIN))[0]
    changed = dataclasses.replace(problem, answer=problem.answer.copy())
    changed.answer[person, 0] = (changed.answer[person, 0] + 1) % problem.n_options[0]
    other = Design(changed, 7, name)
    # That person's features for question 0 ignore it ...
    assert np.array_equal(base(0, [person]).toarray(), other(0, [person]).toarray())
    # ... while other people's (whose neighbour they may be) and their own for question 1 read it.
    assert not np.array_equal(base(0).toarray(), other(0).toarray())
    assert not np.array_equal(base(1, [person]).toarray(), other(1, [person]).toarray())


@pytest.mark.slow
def test_neighbours_find_the_hidden_group(tmp_path):
    # Party is hidden from the traits: people who answer alike are of the same party, so the answers of
    # the nearest people predict the target question.
    from gemsflow.methods.learners import Design, build_problem

    data = tiny(tmp_path, traits=False)
    split = make_split(data, SETTING1, 4)
    problem = build_problem(data, split)
    shares = Design(problem, 4, "traits+answers+neighbours").neighbours(0)
    assert shares.shape == (len(problem.people), problem.n_options[0])
    held = problem.part[:, 0] >= 2
    top_share = shares[held].argmax(axis=1) == problem.answer[held, 0]
    assert top_share.mean() > 0.6  # the tiny survey's answers follow party 70 % of the time
    _, info = logreg(data, split, seed=4, cs=CS, features=["traits", "traits+answers+neighbours"])
    grid = info["val_accuracy"]
    assert max(grid["traits+answers+neighbours"].values()) > max(grid["traits"].values()) + 0.1


@pytest.mark.slow
def test_extra_masks_rethin_training_people_only_and_are_seeded(tmp_path):
    from gemsflow.methods.learners import answer_features, build_problem

    data = tiny(tmp_path, n_people=120)
    split = make_split(data, SETTING1, 8)
    problem = build_problem(data, split)
    first, shown0 = answer_features(problem, 8)
    second, shown1 = answer_features(problem, 8, mask=1)
    evaluation = problem.evaluation_people
    # Evaluation people show their real reveal in every mask; training people get another thinning.
    first, second = first.toarray(), second.toarray()
    assert np.array_equal(first[evaluation], second[evaluation])
    assert not np.array_equal(shown0[~evaluation], shown1[~evaluation])
    assert shown1[~evaluation].mean() == pytest.approx(shown0[~evaluation].mean(), abs=0.05)
    assert np.array_equal(answer_features(problem, 8, mask=1)[0].toarray(), second)
    features = ["traits+answers+summary"]
    one, info1 = logreg(data, split, seed=8, cs=CS, features=features, masks=1)
    two, info2 = logreg(data, split, seed=8, cs=CS, features=features, masks=2)
    again, _ = logreg(data, split, seed=8, cs=CS, features=features, masks=2)
    pd.testing.assert_frame_equal(two, again, check_exact=True)
    assert (info1["masks"], info2["masks"]) == (1, 2)
    assert not one["prob"].equals(two["prob"])  # the extra rows change the fit
    parts = align(two, data, split)  # the scorer's contract: every held-out pair, once
    assert parts["val"].n + parts["test"].n == int(split["part"].isin(["val", "test"]).sum())


@pytest.mark.parametrize(
    "estimator",
    [
        boosted_trees([0.2], [4, 8], max_iter=10, l2=1.0),
        multilayer_perceptron([[8]], [0.01, 1.0], max_iter=300),
    ],
    ids=["gbt", "mlp"],
)
@pytest.mark.slow
def test_tree_and_mlp_learners_find_the_party_signal_and_choose_on_validation(tmp_path, estimator):
    data = tiny(tmp_path)
    split = make_split(data, SETTING2, 3)
    predictions, info = per_question(estimator, data, split, seed=3, features=["traits"])
    learned = score(predictions, data, split)
    floor = score(majority(data, split), data, split)
    assert learned["accuracy"] > floor["accuracy"] + 0.2
    grid = info["val_accuracy"]["traits"]
    assert len(grid) == 2 and info["best_val_accuracy"] == max(grid.values())
    chosen = {k: v for k, v in info["selected"].items() if k != "features"}
    assert grid[estimator.label(chosen)] == info["best_val_accuracy"]
    again, _ = per_question(estimator, data, split, seed=3, features=["traits"])
    pd.testing.assert_frame_equal(predictions, again, check_exact=True)


POOLED_OPTIONS = {
    "gbt_pooled": {
        "learning_rates": [0.2],
        "max_leaf_nodes": [4, 8],
        "max_iter": 20,
        "l2_regularization": 1.0,
        "features": ["traits", "traits+summary+neighbours"],
    },
    "mlp_pooled": {
        "hidden": [16],
        "weight_decays": [0.0],
        "epochs": [5, 20],
        "embedding_dim": 8,
        "dropout": 0.1,
        "lr": 0.01,
        "batch_size": 64,
        "features": ["traits", "traits+summary+neighbours"],
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(POOLED_OPTIONS))
def test_pooled_learners_find_the_party_signal_and_choose_on_validation(tmp_path, method):
    data = tiny(tmp_path)
    options = POOLED_OPTIONS[method]
    for spec, sets in ((SETTING2, ["traits"]), (SETTING1, options["features"])):
        split = make_split(data, spec, 3)
        predictions, info = pooled(method, data, split, seed=3, options=options)
        parts = align(predictions, data, split)  # the scorer's contract: every held-out pair, once
        assert parts["val"].n + parts["test"].n == int(split["part"].isin(["val", "test"]).sum())
        learned = score(predictions, data, split)
        floor = score(majority(data, split), data, split)
        assert learned["accuracy"] > floor["accuracy"] + 0.2
        # Answer blocks only where evaluation people reveal answers; two candidates per set.
        assert list(info["val_accuracy"]) == sets
        assert all(len(row) == 2 for row in info["val_accuracy"].values())
        best = max(acc for row in info["val_accuracy"].values() for acc in row.values())
        assert info["best_val_accuracy"] == best
        val = score(predictions, data, split)["parts"]["val"]["accuracy"]
        assert val == pytest.approx(info["out_of_fold_val_accuracy"])
    again, _ = pooled(method, data, split, seed=3, options=options)
    pd.testing.assert_frame_equal(predictions, again, check_exact=True)


def test_pooled_feature_sets_are_checked():
    with pytest.raises(InputDataError, match="neighbours"):
        parse_pooled_features("traits+neighbours+summary")
    assert parse_pooled_features("traits+summary+neighbours") == {"summary", "neighbours"}
