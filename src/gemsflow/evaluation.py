"""Every metric of a run, computed once from its predicted distributions, for every method alike.

Inputs are the shared ``predictions.parquet`` (one row per option of each held-out pair), the canonical
:class:`~gemsflow.survey.SurveyData` and the split table. Nothing here knows which method produced the
predictions, so a majority baseline, a GNN and an LLM are scored by the same code.

Metrics (definitions fixed here, cited by the report captions):

* accuracy: the tie-aware credit of :mod:`gemsflow.accuracy` (``1/t`` when the answer is one of the ``t``
  options sharing the top probability, so a flat distribution earns ``1/K``, never "option A"; 0 for an
  abstained pair); micro over (individual, question) pairs and macro (mean of per-question accuracies).
* abstentions: a pair the method marked ``abstained`` (it could not answer) scores 0 for accuracy and is
  scored with the uniform distribution over its question's options for every distribution metric
  (log-loss, Brier, calibration, answer distributions); ``abstain_rate`` is the share of such pairs.
* log-loss: mean of ``-log p(answer)``, with ``p`` clipped below at ``LOG_LOSS_EPS`` so a method that puts
  zero mass on the answer (e.g. a one-hot majority vote) scores a large finite value.
* Brier score: mean over pairs of ``sum_k (p_k - 1[k = answer])^2``.
* expected calibration error (ECE): confidence = the top probability, correct = the tie-aware credit;
  pairs fall into ``calibration_bins`` equal-width bins ``(lo, hi]``;
  ``ECE = sum_b n_b / N * |accuracy_b - confidence_b|``.
* answer distributions per question: the predicted distribution is the mean of the predicted probabilities of
  the people who answered the question; the observed one is the share of each answer among them. Ordinal
  questions compare them with the Wasserstein-1 distance on option positions ``0..K-1`` (the earth mover's
  distance between the two histograms); nominal questions with the total variation distance. OpinionQA's
  representativeness is ``1 - distance / max distance``: ``max = K - 1`` for Wasserstein on K ordered
  options (all mass at one end versus the other), ``1`` for total variation (the Wasserstein distance under
  the 0/1 metric on unordered options).
* subgroups: for each trait value, accuracy and mean representativeness over questions of that subgroup's
  pairs; the demographic parity difference (DPD) of a trait is best minus worst subgroup accuracy among
  subgroups with at least ``min_subgroup_individuals`` people.
* survey weights: when the responses carry unequal ``weight`` values, the same metrics with every pair
  weighted by its respondent's weight.
* bootstrap: percentile confidence intervals from resampling individuals with replacement (the unit that was
  sampled), seeded, with all resamples computed as one sparse-times-dense product.
* retest: given a table of re-asked answers (Twin-2K-500 wave 4), the model's accuracy on those pairs divided
  by the people's own agreement with their earlier answer (Park et al., 2024). Without the table the metric is
  reported as unavailable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from gemsflow.accuracy import accuracy, pair_credit
from gemsflow.errors import InputDataError
from gemsflow.survey import SurveyData, join_answers

log = logging.getLogger(__name__)

LOG_LOSS_EPS = 1e-15
# A distribution that is off by more than this from summing to 1 is a method bug, not float rounding.
PROB_SUM_TOLERANCE = 1e-3
PARTS = ("val", "test")


@dataclass(frozen=True)
class EvaluationConfig:
    """The ``evaluation:`` section of the workflow config."""

    calibration_bins: int = 10
    n_boot: int = 1000
    bootstrap_seed: int = 20240607
    ci_level: float = 0.95
    min_subgroup_individuals: int = 10

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> EvaluationConfig:
        """The schema-validated ``evaluation:`` section (config/schema.yaml owns defaults and ranges)."""
        boot = section["bootstrap"]
        return cls(
            calibration_bins=int(section["calibration_bins"]),
            n_boot=int(boot["n_boot"]),
            bootstrap_seed=int(boot["seed"]),
            ci_level=float(boot["level"]),
            min_subgroup_individuals=int(section["min_subgroup_individuals"]),
        )


# --------------------------------------------------------------------------------------------------
# Distances between answer distributions


def wasserstein_ordinal(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance between histograms on positions ``0..K-1`` (last axis).

    On a line with unit spacing it equals the L1 distance between the two cumulative distributions.
    Zero padding beyond a question's real options leaves both CDFs at 1 there, so padded rows are safe.
    """
    return np.abs(np.cumsum(np.asarray(p) - np.asarray(q), axis=-1)).sum(axis=-1)


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance (last axis): half the L1 distance, in [0, 1]."""
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def distribution_distance(
    pred: np.ndarray, obs: np.ndarray, ordinal: np.ndarray, n_options: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance and representativeness per question for ``[..., Q, K]`` distributions.

    ``pred``/``obs`` may be unnormalised sums (rows are normalised here); a question with no mass in
    ``obs`` (nobody answered it in this slice) gets NaN.
    """
    pred = np.asarray(pred, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    pred_total = pred.sum(axis=-1, keepdims=True)
    obs_total = obs.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = pred / pred_total
        obs = obs / obs_total
    dist = np.where(ordinal, wasserstein_ordinal(pred, obs), total_variation(pred, obs))
    max_dist = np.where(ordinal, np.maximum(np.asarray(n_options) - 1, 1), 1.0)
    rep = 1.0 - dist / max_dist
    empty = obs_total[..., 0] <= 0
    return np.where(empty, np.nan, dist), np.where(empty, np.nan, rep)


def expected_calibration_error(
    count: np.ndarray, confidence_sum: np.ndarray, correct_sum: np.ndarray
) -> np.ndarray:
    """ECE from per-bin sums along the last axis (broadcasts over leading axes, e.g. resamples)."""
    total = count.sum(axis=-1)
    gap = np.abs(correct_sum - confidence_sum).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gap / total


def calibration_bin(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each confidence for equal-width bins ``(lo, hi]`` on [0, 1].

    The slack keeps a confidence that is an edge up to float rounding (0.6 after renormalising can be
    0.6000000000000001) in the bin it belongs to.
    """
    scaled = np.ceil(confidence * n_bins - 1e-9).astype(np.int64)
    return np.clip(scaled - 1, 0, n_bins - 1)


def group_sum(index: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` ([n] or [n, F]) into ``n_groups`` groups given each row's group index."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.ndim == 1
    if flat:
        values = values[:, None]
    indicator = sparse.csr_matrix(
        (np.ones(len(index)), (np.asarray(index), np.arange(len(index)))),
        shape=(n_groups, len(index)),
    )
    out = np.asarray(indicator @ values)
    return out[:, 0] if flat else out


# --------------------------------------------------------------------------------------------------
# Aligning predictions with the held-out answers


@dataclass
class PartArrays:
    """Held-out pairs of one part with their predicted distributions, as dense arrays."""

    individuals: pd.Series  # individual id per pair
    ind: np.ndarray  # [n] index into the part's unique individuals
    n_individuals: int
    q: np.ndarray  # [n] index into questions
    answer: np.ndarray  # [n] option position of the observed answer
    weight: np.ndarray  # [n] survey weight of the response
    probs: np.ndarray  # [n, K] predicted probabilities by option position, zero-padded
    n_options: np.ndarray  # [n] number of real options of the pair's question
    abstained: np.ndarray  # [n] bool: the method could not answer (probs are then uniform)

    @property
    def n(self) -> int:
        return len(self.q)


@dataclass
class QuestionInfo:
    keys: list[str]
    ordinal: np.ndarray  # [Q] bool
    n_options: np.ndarray  # [Q] int
    max_options: int


def question_info(data: SurveyData) -> QuestionInfo:
    keys = data.questions["question"].astype(str).tolist()
    n_options = (
        data.options.groupby("question").size().reindex(keys).fillna(0).astype(int).to_numpy()
    )
    return QuestionInfo(
        keys=keys,
        ordinal=data.questions["ordinal"].astype(bool).to_numpy(),
        n_options=n_options,
        max_options=int(n_options.max()) if len(n_options) else 0,
    )


def align(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    *,
    predictions_path: str | Path | None = None,
) -> dict[str, PartArrays]:
    """Check the predictions against the contract and lay them out per part as dense arrays."""
    where = predictions_path or "predictions"
    for column in ("individual", "question", "part", "code", "prob"):
        if column not in predictions.columns:
            raise InputDataError(
                where, column, "column missing", "write predictions as docs/ARCHITECTURE.md says"
            )
    info = question_info(data)
    q_of = pd.Series(np.arange(len(info.keys)), index=info.keys)
    positions = data.options[["question", "code", "position"]].astype(
        {"question": str, "code": "int64", "position": "int64"}
    )

    held = split.loc[split["part"].isin(PARTS), ["individual", "question", "part"]].astype(str)
    held = join_answers(held, data.responses, source="split", columns=("code", "weight"))
    held = held.merge(positions.rename(columns={"position": "answer"}), on=["question", "code"])
    held = held.reset_index(drop=True)
    held["row"] = np.arange(len(held))

    columns = ["individual", "question", "part", "code", "prob"]
    if "abstained" in predictions.columns:
        columns.append("abstained")
    pred = predictions[columns].astype({"individual": str, "question": str, "part": str})
    pred = pred.merge(
        held[["individual", "question", "part", "row"]],
        on=["individual", "question", "part"],
        how="left",
    )
    if pred["row"].isna().any():
        row = pred.loc[pred["row"].isna()].iloc[0]
        raise InputDataError(
            where,
            "individual/question",
            f"prediction for ({row['individual']}, {row['question']}, part {row['part']}) is not a "
            "held-out pair of the split",
            "predict exactly the val/test pairs of split.parquet",
        )
    pred = pred.astype({"code": "int64"}).merge(positions, on=["question", "code"], how="left")
    if pred["position"].isna().any():
        row = pred.loc[pred["position"].isna()].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"code {row['code']} is not an option of question {row['question']}",
            "write one row per real option of the question",
        )
    if pred.duplicated(["row", "position"]).any():
        row = pred.loc[pred.duplicated(["row", "position"])].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"option {row['code']} of ({row['individual']}, {row['question']}) appears twice",
            "write each option of a pair once",
        )
    prob = pred["prob"].to_numpy(dtype=np.float64)
    if not np.isfinite(prob).all() or (prob < 0).any():
        raise InputDataError(
            where, "prob", "probabilities must be finite and >= 0", "fix the method's output"
        )
    rows = pred["row"].to_numpy(dtype=np.int64)
    probs = np.zeros((len(held), info.max_options))
    probs[rows, pred["position"].to_numpy(dtype=np.int64)] = prob
    covered = np.bincount(rows, minlength=len(held)) > 0
    if not covered.all():
        row = held.loc[~covered].iloc[0]
        raise InputDataError(
            where,
            "individual/question",
            f"{int((~covered).sum())} held-out pairs have no prediction, e.g. "
            f"({row['individual']}, {row['question']}, part {row['part']})",
            "predict every val/test pair of split.parquet (uniform if the method has no answer)",
        )
    listed = np.bincount(rows, minlength=len(held))
    short = listed != info.n_options[q_of.loc[held["question"]].to_numpy()]
    if short.any():
        row = held.loc[short].iloc[0]
        raise InputDataError(
            where,
            "code",
            f"({row['individual']}, {row['question']}) lists {listed[np.argmax(short)]} options, "
            "not every option of the question",
            "write one row per option of the question (probability 0 where the method gives none)",
        )
    totals = probs.sum(axis=1)
    off = np.abs(totals - 1.0) > PROB_SUM_TOLERANCE
    if off.any():
        row = held.loc[off].iloc[0]
        raise InputDataError(
            where,
            "prob",
            f"probabilities of ({row['individual']}, {row['question']}) sum to "
            f"{totals[np.argmax(off)]:.6f}, not 1",
            "normalise each pair's distribution over the question's options",
        )
    probs /= totals[:, None]
    n_options = info.n_options[q_of.loc[held["question"]].to_numpy()]
    abstained = _abstained(pred, rows, held, where)
    # An abstention carries no information: score it as the uniform distribution, whatever was written.
    uniform = (np.arange(info.max_options) < n_options[:, None]) / n_options[:, None]
    probs[abstained] = uniform[abstained]

    out = {}
    for part in PARTS:
        mask = (held["part"] == part).to_numpy()
        sub = held.loc[mask]
        ind_codes, uniques = pd.factorize(sub["individual"], sort=False)
        out[part] = PartArrays(
            individuals=sub["individual"].reset_index(drop=True),
            ind=ind_codes.astype(np.int64),
            n_individuals=len(uniques),
            q=q_of.loc[sub["question"]].to_numpy(dtype=np.int64),
            answer=sub["answer"].to_numpy(dtype=np.int64),
            weight=sub["weight"].to_numpy(dtype=np.float64),
            probs=probs[mask],
            n_options=n_options[mask],
            abstained=abstained[mask],
        )
    return out


def _abstained(pred: pd.DataFrame, rows: np.ndarray, held: pd.DataFrame, where: Any) -> np.ndarray:
    """[pairs] bool from the optional per-pair ``abstained`` column (absent: nobody abstained)."""
    if "abstained" not in pred.columns:
        return np.zeros(len(held), dtype=bool)
    flag = pred["abstained"]
    if flag.isna().any() or not (pd.api.types.is_bool_dtype(flag) or flag.isin([0, 1]).all()):
        raise InputDataError(
            where,
            "abstained",
            "must be boolean (true where the method could not answer the pair), without blanks",
            "write True/False for every row, or leave the column out",
        )
    hits = np.bincount(rows, weights=flag.to_numpy(dtype=np.float64), minlength=len(held))
    listed = np.bincount(rows, minlength=len(held))
    mixed = (hits > 0) & (hits < listed)
    if mixed.any():
        row = held.loc[mixed].iloc[0]
        raise InputDataError(
            where,
            "abstained",
            f"the option rows of ({row['individual']}, {row['question']}) disagree on abstained",
            "abstention is per pair: write the same value on every option row of the pair",
        )
    return hits > 0


# --------------------------------------------------------------------------------------------------
# Point metrics


def part_accuracy(
    predictions: pd.DataFrame, data: SurveyData, split: pd.DataFrame, part: str = "val"
) -> float:
    """Tie-aware accuracy of one part only, for choices made on validation (the other part unread).

    ``predictions`` may hold other parts' rows; only ``part``'s are checked and scored.
    """
    keep = split["part"].isin(["train", part])
    arr = align(predictions[predictions["part"] == part], data, split[keep])[part]
    return accuracy(arr.probs, arr.answer, valid=_valid(arr), abstained=arr.abstained)


def _valid(arr: PartArrays) -> np.ndarray:
    return np.arange(arr.probs.shape[1]) < arr.n_options[:, None]


def _pair_stats(arr: PartArrays, n_bins: int) -> dict[str, np.ndarray]:
    rows = np.arange(arr.n)
    p_answer = arr.probs[rows, arr.answer]
    onehot = np.zeros_like(arr.probs)
    onehot[rows, arr.answer] = 1.0
    confidence = arr.probs.max(axis=1)
    return {
        "correct": pair_credit(arr.probs, arr.answer, valid=_valid(arr), abstained=arr.abstained),
        "nll": -np.log(np.clip(p_answer, LOG_LOSS_EPS, None)),
        "brier": ((arr.probs - onehot) ** 2).sum(axis=1),
        "confidence": confidence,
        "bin": calibration_bin(confidence, n_bins),
        "onehot": onehot,
    }


def _point_metrics(
    arr: PartArrays, stats: dict[str, np.ndarray], w: np.ndarray, info: QuestionInfo, n_bins: int
) -> dict[str, Any]:
    """Metrics of one part with per-pair weights ``w`` (ones = unweighted)."""
    n_q = len(info.keys)
    total = w.sum()
    q_weight = np.bincount(arr.q, weights=w, minlength=n_q)
    q_correct = np.bincount(arr.q, weights=w * stats["correct"], minlength=n_q)
    q_nll = np.bincount(arr.q, weights=w * stats["nll"], minlength=n_q)
    asked = q_weight > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        q_acc = q_correct / q_weight
    bin_count = np.bincount(stats["bin"], weights=w, minlength=n_bins)
    bin_conf = np.bincount(stats["bin"], weights=w * stats["confidence"], minlength=n_bins)
    bin_correct = np.bincount(stats["bin"], weights=w * stats["correct"], minlength=n_bins)
    pred_sum = group_sum(arr.q, n_q, arr.probs * w[:, None])
    obs_sum = group_sum(arr.q, n_q, stats["onehot"] * w[:, None])
    dist, rep = distribution_distance(pred_sum, obs_sum, info.ordinal, info.n_options)
    ordinal_asked = asked & info.ordinal
    nominal_asked = asked & ~info.ordinal
    return {
        "accuracy": _f(q_correct.sum() / total),
        "macro_accuracy": _f(q_acc[asked].mean()) if asked.any() else None,
        "log_loss": _f((w * stats["nll"]).sum() / total),
        "brier": _f((w * stats["brier"]).sum() / total),
        "ece": _f(expected_calibration_error(bin_count, bin_conf, bin_correct)),
        "mean_representativeness": _f(np.nanmean(rep[asked])) if asked.any() else None,
        "mean_wasserstein_ordinal": _f(dist[ordinal_asked].mean()) if ordinal_asked.any() else None,
        "mean_total_variation_nominal": _f(dist[nominal_asked].mean())
        if nominal_asked.any()
        else None,
        "_q": {
            "asked": asked,
            "n": np.bincount(arr.q, minlength=n_q),
            "accuracy": q_acc,
            "log_loss": q_nll / np.where(asked, q_weight, 1.0),
            "distance": dist,
            "representativeness": rep,
            "predicted": pred_sum / np.where(asked, q_weight, 1.0)[:, None],
            "observed": obs_sum / np.where(asked, q_weight, 1.0)[:, None],
        },
        "_bins": {"count": bin_count, "confidence": bin_conf, "correct": bin_correct},
    }


def _subgroups(
    arr: PartArrays,
    stats: dict[str, np.ndarray],
    w: np.ndarray,
    data: SurveyData,
    info: QuestionInfo,
    min_individuals: int,
) -> dict[str, Any]:
    """Per trait value: accuracy and mean representativeness; DPD of accuracy per trait."""
    n_q = len(info.keys)
    individuals = data.individuals.assign(individual=data.individuals["individual"].astype(str))
    person = individuals.set_index("individual").reindex(arr.individuals.unique())
    out: dict[str, Any] = {}
    for trait in data.traits:
        values = person[trait.name].astype("string")
        order = list(trait.categories) + sorted(
            set(values.dropna().unique()) - set(trait.categories)
        )
        codes = pd.Categorical(values, categories=order).codes.astype(np.int64)  # -1 = missing
        pair_group = codes[arr.ind]
        keep = pair_group >= 0
        n_groups = len(order)
        g = pair_group[keep]
        kw = w[keep]
        weight_sum = np.bincount(g, weights=kw, minlength=n_groups)
        correct = np.bincount(g, weights=kw * stats["correct"][keep], minlength=n_groups)
        n_pairs = np.bincount(g, minlength=n_groups)
        n_people = np.bincount(codes[codes >= 0], minlength=n_groups)
        cell = g * n_q + arr.q[keep]
        pred = group_sum(cell, n_groups * n_q, arr.probs[keep] * kw[:, None])
        obs = group_sum(cell, n_groups * n_q, stats["onehot"][keep] * kw[:, None])
        _, rep = distribution_distance(
            pred.reshape(n_groups, n_q, -1),
            obs.reshape(n_groups, n_q, -1),
            info.ordinal,
            info.n_options,
        )
        groups = {}
        for k, name in enumerate(order):
            if n_pairs[k] == 0:
                continue
            groups[name] = {
                "accuracy": _f(correct[k] / weight_sum[k]),
                "mean_representativeness": _f(np.nanmean(rep[k])),
                "n": int(n_pairs[k]),
                "n_individuals": int(n_people[k]),
            }
        eligible = {
            name: g_["accuracy"]
            for name, g_ in groups.items()
            if g_["n_individuals"] >= min_individuals
        }
        entry: dict[str, Any] = {
            "groups": groups,
            "min_individuals": min_individuals,
            "n_groups_compared": len(eligible),
        }
        if len(eligible) >= 2:
            best = max(eligible, key=eligible.get)
            worst = min(eligible, key=eligible.get)
            entry.update(dpd=_f(eligible[best] - eligible[worst]), best=best, worst=worst)
        else:
            entry.update(dpd=None, best=None, worst=None)
        out[trait.name] = entry
    return out


# --------------------------------------------------------------------------------------------------
# Bootstrap over individuals


def bootstrap(
    arr: PartArrays, stats: dict[str, np.ndarray], info: QuestionInfo, cfg: EvaluationConfig
) -> dict[str, Any]:
    """Percentile intervals of the headline metrics, resampling individuals with replacement.

    Each resample is a vector of multiplicities over individuals; all per-individual sums are one sparse
    matrix, so the B resampled totals are a single product ``counts @ sums``. Distances between answer
    distributions are biased upwards under resampling (sampling noise adds distance), so their intervals
    are wide on the pessimistic side when the predicted and observed distributions nearly match.
    """
    n_q, n_bins, k = len(info.keys), cfg.calibration_bins, info.max_options
    rng = np.random.default_rng(cfg.bootstrap_seed)
    counts = rng.multinomial(
        arr.n_individuals, np.full(arr.n_individuals, 1.0 / arr.n_individuals), size=cfg.n_boot
    ).astype(np.float64)

    def per_person(columns: np.ndarray, values: np.ndarray, width: int) -> sparse.csr_matrix:
        return sparse.csr_matrix(
            (values, (np.repeat(arr.ind, values.size // arr.n), columns)),
            shape=(arr.n_individuals, width),
        )

    q_cols = arr.q
    blocks = {
        "n": per_person(q_cols, np.ones(arr.n), n_q),
        "correct": per_person(q_cols, stats["correct"], n_q),
        "nll": per_person(q_cols, stats["nll"], n_q),
        "bin_n": per_person(stats["bin"], np.ones(arr.n), n_bins),
        "bin_conf": per_person(stats["bin"], stats["confidence"], n_bins),
        "bin_correct": per_person(stats["bin"], stats["correct"], n_bins),
        "pred": per_person((arr.q[:, None] * k + np.arange(k)).ravel(), arr.probs.ravel(), n_q * k),
        "obs": per_person((arr.q * k + arr.answer), np.ones(arr.n), n_q * k),
    }
    # (S^T C^T)^T keeps the sparse matrix on the left, where scipy multiplies it efficiently.
    res = {name: np.asarray((m.T @ counts.T).T) for name, m in blocks.items()}
    n_total = res["n"].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q_acc = res["correct"] / res["n"]
    _, rep = distribution_distance(
        res["pred"].reshape(cfg.n_boot, n_q, k),
        res["obs"].reshape(cfg.n_boot, n_q, k),
        info.ordinal,
        info.n_options,
    )
    samples = {
        "accuracy": res["correct"].sum(axis=1) / n_total,
        "macro_accuracy": np.nanmean(q_acc, axis=1),
        "log_loss": res["nll"].sum(axis=1) / n_total,
        "ece": expected_calibration_error(res["bin_n"], res["bin_conf"], res["bin_correct"]),
        "mean_representativeness": np.nanmean(rep, axis=1),
    }
    alpha = (1.0 - cfg.ci_level) / 2
    return {
        name: {
            "low": _f(np.quantile(values, alpha)),
            "high": _f(np.quantile(values, 1 - alpha)),
            "std": _f(values.std(ddof=1)),
        }
        for name, values in samples.items()
    }


# --------------------------------------------------------------------------------------------------
# Test-retest normalisation


def read_retest_table(path: str | Path) -> pd.DataFrame:
    """A table of re-asked answers: columns ``individual``, ``question``, ``code`` (parquet or csv)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(
            path,
            None,
            "retest table configured but not found",
            "download the re-asked answers or remove evaluation.retest.<dataset> from the config",
        )
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    for column in ("individual", "question", "code"):
        if column not in frame.columns:
            raise InputDataError(
                path,
                column,
                "column missing",
                "write one row per re-asked answer with individual, question, code",
            )
    codes = pd.to_numeric(frame["code"], errors="coerce")
    return pd.DataFrame(
        {
            "individual": frame["individual"].astype(str),
            "question": frame["question"].astype(str),
            "code": codes,
        }
    )


def retest_metrics(
    arr: PartArrays,
    stats: dict[str, np.ndarray],
    data: SurveyData,
    info: QuestionInfo,
    retest: pd.DataFrame | None,
    retest_source: str = "",
) -> dict[str, Any]:
    """Model accuracy normalised by people's agreement with their own earlier answers."""
    if retest is None:
        return {
            "available": False,
            "reason": "no retest table configured for this dataset (evaluation.retest)",
        }
    valid = data.options[["question", "code"]].astype({"question": str, "code": "float64"})
    clean = retest.dropna(subset=["code"]).merge(valid, on=["question", "code"], how="inner")
    n_dropped = len(retest) - len(clean)
    first = data.responses[["individual", "question", "code"]].astype(
        {"individual": str, "question": str, "code": "float64"}
    )
    paired = clean.merge(
        first, on=["individual", "question"], suffixes=("_retest", "_first"), validate="one_to_one"
    )
    test_pairs = pd.DataFrame(
        {
            "individual": arr.individuals,
            "question": np.asarray(info.keys, dtype=object)[arr.q],
            "model_correct": stats["correct"],
        }
    )
    paired = paired.merge(test_pairs, on=["individual", "question"], how="inner")
    if paired.empty:
        return {
            "available": False,
            "reason": f"retest table {retest_source} shares no (individual, question) pair with the "
            "test part",
            "n_dropped_invalid_codes": int(n_dropped),
        }
    paired["human_agree"] = (paired["code_retest"] == paired["code_first"]).astype(float)
    per_person = paired.groupby("individual")[["human_agree", "model_correct"]].mean()
    usable = per_person["human_agree"] > 0
    human = float(paired["human_agree"].mean())
    model = float(paired["model_correct"].mean())
    return {
        "available": True,
        "source": retest_source,
        "n_pairs": len(paired),
        "n_individuals": len(per_person),
        "n_dropped_invalid_codes": int(n_dropped),
        "human_retest_accuracy": _f(human),
        "model_accuracy_on_retest_pairs": _f(model),
        "normalized_accuracy": _f(model / human) if human > 0 else None,
        "normalized_accuracy_mean_over_individuals": _f(
            (per_person.loc[usable, "model_correct"] / per_person.loc[usable, "human_agree"]).mean()
        )
        if usable.any()
        else None,
    }


# --------------------------------------------------------------------------------------------------
# Everything together


def evaluate(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    config: EvaluationConfig | None = None,
    *,
    retest: pd.DataFrame | None = None,
    retest_source: str = "",
    predictions_path: str | Path | None = None,
) -> dict[str, Any]:
    """All metrics of one run as a JSON-ready dict (the metric sections of ``metrics.json``)."""
    cfg = config or EvaluationConfig()
    info = question_info(data)
    parts = align(predictions, data, split, predictions_path=predictions_path)
    weights_vary = bool(
        len(data.responses) and np.ptp(data.responses["weight"].to_numpy(dtype=float)) > 0
    )
    out: dict[str, Any] = {
        "parts": {},
        "per_question": {},
        "calibration": {},
        "distribution": {},
        "subgroups": {},
        "weighted": {"available": weights_vary},
        "bootstrap": {
            "unit": "individual",
            "n_boot": cfg.n_boot,
            "seed": cfg.bootstrap_seed,
            "level": cfg.ci_level,
        },
    }
    if not weights_vary:
        out["weighted"]["reason"] = (
            "all survey weights are equal: weighted metrics equal unweighted"
        )
    for part, arr in parts.items():
        if arr.n == 0:
            out["parts"][part] = {
                "accuracy": None,
                "macro_accuracy": None,
                "n": 0,
                "n_abstained": 0,
                "abstain_rate": None,
            }
            out["per_question"][part] = {}
            continue
        stats = _pair_stats(arr, cfg.calibration_bins)
        ones = np.ones(arr.n)
        point = _point_metrics(arr, stats, ones, info, cfg.calibration_bins)
        qd, bins = point.pop("_q"), point.pop("_bins")
        out["parts"][part] = {
            "accuracy": point["accuracy"],
            "macro_accuracy": point["macro_accuracy"],
            "n": arr.n,
            "n_abstained": int(arr.abstained.sum()),
            "abstain_rate": _f(arr.abstained.mean()),
            "n_individuals": arr.n_individuals,
            "log_loss": point["log_loss"],
            "brier": point["brier"],
            "ece": point["ece"],
        }
        asked = np.flatnonzero(qd["asked"])
        out["per_question"][part] = {
            info.keys[j]: {"accuracy": _f(qd["accuracy"][j]), "n": int(qd["n"][j])} for j in asked
        }
        out["distribution"][part] = {
            key: point[key]
            for key in (
                "mean_representativeness",
                "mean_wasserstein_ordinal",
                "mean_total_variation_nominal",
            )
        } | {
            "n_ordinal_questions": int((qd["asked"] & info.ordinal).sum()),
            "n_nominal_questions": int((qd["asked"] & ~info.ordinal).sum()),
            "per_question": {
                info.keys[j]: {
                    "ordinal": bool(info.ordinal[j]),
                    "distance_kind": "wasserstein1" if info.ordinal[j] else "total_variation",
                    "distance": _f(qd["distance"][j]),
                    "representativeness": _f(qd["representativeness"][j]),
                    "log_loss": _f(qd["log_loss"][j]),
                    "predicted": [_f(x) for x in qd["predicted"][j, : info.n_options[j]]],
                    "observed": [_f(x) for x in qd["observed"][j, : info.n_options[j]]],
                }
                for j in asked
            },
        }
        edges = np.linspace(0.0, 1.0, cfg.calibration_bins + 1)
        out["calibration"][part] = {
            "n_bins": cfg.calibration_bins,
            "ece": point["ece"],
            "bins": [
                {
                    "lower": _f(edges[b]),
                    "upper": _f(edges[b + 1]),
                    "count": int(bins["count"][b]),
                    "confidence": _f(bins["confidence"][b] / bins["count"][b])
                    if bins["count"][b]
                    else None,
                    "accuracy": _f(bins["correct"][b] / bins["count"][b])
                    if bins["count"][b]
                    else None,
                }
                for b in range(cfg.calibration_bins)
            ],
        }
        if part != "test":
            continue
        out["subgroups"][part] = _subgroups(
            arr, stats, ones, data, info, cfg.min_subgroup_individuals
        )
        if weights_vary:
            wpoint = _point_metrics(arr, stats, arr.weight, info, cfg.calibration_bins)
            wpoint.pop("_q"), wpoint.pop("_bins")
            out["weighted"][part] = wpoint
            out["weighted"][f"subgroups_{part}"] = _subgroups(
                arr, stats, arr.weight, data, info, cfg.min_subgroup_individuals
            )
        if cfg.n_boot > 0:
            out["bootstrap"][part] = bootstrap(arr, stats, info, cfg)
        out["retest"] = retest_metrics(arr, stats, data, info, retest, retest_source)
    if "retest" not in out:
        out["retest"] = {"available": False, "reason": "no test pairs"}
    return out


def _f(x: Any) -> float | None:
    """A JSON-safe float: NaN (an empty slice) becomes null."""
    x = float(x)
    return None if not np.isfinite(x) else x
