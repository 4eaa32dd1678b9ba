"""Metric definitions: distances between answer distributions, calibration, point and subgroup metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.accuracy import pair_credit
from gemsflow.evaluation.contract import PartArrays, QuestionInfo, align, question_info

LOG_LOSS_EPS = 1e-15


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
# Point metrics


def part_credit(
    predictions: pd.DataFrame,
    data: SurveyData,
    split: pd.DataFrame,
    part: str = "val",
    unit: str = "individual",
) -> tuple[pd.Series, np.ndarray]:
    """(``unit`` of each pair: its individual or question, its tie-aware credit) on one part only, for
    choices made on validation (the other part unread). ``predictions`` may hold other parts' rows;
    only ``part``'s are checked."""
    keep = split["part"].isin(["train", part])
    arr = align(predictions[predictions["part"] == part], data, split[keep])[part]
    credit = pair_credit(arr.probs, arr.answer, valid=_valid(arr), abstained=arr.abstained)
    if unit == "question":
        return pd.Series(np.asarray(question_info(data).keys)[arr.q]), credit
    return arr.individuals, credit


def part_accuracy(
    predictions: pd.DataFrame, data: SurveyData, split: pd.DataFrame, part: str = "val"
) -> float:
    """Tie-aware accuracy of one part only (see :func:`part_credit`)."""
    return float(part_credit(predictions, data, split, part)[1].mean())


def pair_log_loss(probs: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """[n] ``-log p(answer)`` of each pair, ``p`` clipped below at ``LOG_LOSS_EPS``."""
    return -np.log(np.clip(probs[np.arange(len(answer)), answer], LOG_LOSS_EPS, None))


def _valid(arr: PartArrays) -> np.ndarray:
    return np.arange(arr.probs.shape[1]) < arr.n_options[:, None]


def _pair_stats(arr: PartArrays, n_bins: int) -> dict[str, np.ndarray]:
    rows = np.arange(arr.n)
    onehot = np.zeros_like(arr.probs)
    onehot[rows, arr.answer] = 1.0
    confidence = arr.probs.max(axis=1)
    return {
        "correct": pair_credit(arr.probs, arr.answer, valid=_valid(arr), abstained=arr.abstained),
        "nll": pair_log_loss(arr.probs, arr.answer),
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


def _f(x: Any) -> float | None:
    """A JSON-safe float: NaN (an empty slice) becomes null."""
    x = float(x)
    return None if not np.isfinite(x) else x
