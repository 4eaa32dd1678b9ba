"""Figures of a (setting, dataset) report, drawn from the runs' metrics.json files with matplotlib.

PNG output with fixed metadata, so the same metrics give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gemsflow.io import atomic_path, read_json  # noqa: E402
from gemsflow.methods.registry import FLOOR_METHODS  # noqa: E402

# Subgroup panels show at most this many groups (the largest), so traits with many values stay readable.
MAX_GROUPS_SHOWN = 12


def load_runs(metrics_paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    return [read_json(p) for p in metrics_paths]


def _methods(runs: list[dict[str, Any]]) -> list[str]:
    """Floors first, then the rest by mean test accuracy (the figures' order; the leaderboard orders
    by validation, what its pick uses)."""
    acc: dict[str, list[float]] = {}
    for run in runs:
        acc.setdefault(run["method"], []).append(run["accuracy"])
    rest = sorted((m for m in acc if m not in FLOOR_METHODS), key=lambda m: -np.mean(acc[m]))
    return [m for m in FLOOR_METHODS if m in acc] + rest


def _save(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _title(runs: list[dict[str, Any]]) -> str:
    return f"{runs[0]['setting']}, {runs[0]['dataset']}"


def accuracy_bars(runs: list[dict[str, Any]], path: str | Path) -> None:
    """Test accuracy per method: bar = mean over seeds, error bar = std, dots = single seeds."""
    methods = _methods(runs)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(methods) + 1.5), 3.6))
    for i, method in enumerate(methods):
        values = np.array([r["accuracy"] for r in runs if r["method"] == method])
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        colour = "0.6" if method in FLOOR_METHODS else f"C{i % 10}"
        ax.bar(i, values.mean(), yerr=std, color=colour, capsize=4, alpha=0.85)
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(i + jitter, values, color="k", s=12, zorder=3)
        ax.text(i + 0.3, values.mean(), f"{values.mean():.3f}", ha="left", va="center", fontsize=8)
    floors = {m: np.mean([r["accuracy"] for r in runs if r["method"] == m]) for m in methods}
    floors = {m: v for m, v in floors.items() if m in FLOOR_METHODS}
    if floors:
        best = max(floors, key=floors.get)
        ax.axhline(floors[best], color="0.3", linestyle="--", linewidth=1, label=f"{best} floor")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    # Bars start at 0: a cut axis makes half a point between two bars look like a factor.
    ax.set_ylim(0.0, min(1.0, max(r["accuracy"] for r in runs) + 0.05))
    ax.set_title(f"Accuracy per method ({_title(runs)})")
    _save(fig, path)


def calibration_plot(runs: list[dict[str, Any]], path: str | Path) -> None:
    """Reliability diagram per method: accuracy vs confidence in each bin, pooled over seeds."""
    methods = _methods(runs)
    fig, (ax, ax_n) = plt.subplots(
        2, 1, figsize=(5.2, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", label="perfect calibration")
    for i, method in enumerate(methods):
        bins = [
            r.get("calibration", {}).get("test", {}).get("bins")
            for r in runs
            if r["method"] == method
        ]
        if not all(bins):
            ax.text(0.5, 0.05 + 0.06 * i, f"{method}: no calibration in metrics.json", fontsize=7)
            continue
        count = np.array([[b["count"] for b in bs] for bs in bins], dtype=float).sum(axis=0)
        conf = np.array([[(b["confidence"] or 0) * b["count"] for b in bs] for bs in bins])
        hits = np.array([[(b["accuracy"] or 0) * b["count"] for b in bs] for bs in bins])
        used = count > 0
        mid = np.array([(b["lower"] + b["upper"]) / 2 for b in bins[0]])
        ece = np.mean([r["calibration"]["test"]["ece"] for r in runs if r["method"] == method])
        colour = "0.4" if method in FLOOR_METHODS else f"C{i % 10}"
        ax.plot(
            conf.sum(0)[used] / count[used],
            hits.sum(0)[used] / count[used],
            marker="o",
            color=colour,
            label=f"{method} (ECE {ece:.3f})",
        )
        width = 1.0 / len(mid) / (len(methods) + 1)
        ax_n.bar(mid + (i - len(methods) / 2) * width, count / count.sum(), width, color=colour)
    ax.set_ylabel("observed accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"Calibration ({_title(runs)})")
    ax_n.set_xlabel("confidence (top predicted probability)")
    ax_n.set_ylabel("share of pairs")
    _save(fig, path)


def subgroup_accuracy_plot(runs: list[dict[str, Any]], path: str | Path) -> None:
    """Per trait, accuracy of each method in each subgroup (mean over seeds); DPD in the legend."""
    methods = _methods(runs)
    first = runs[0].get("subgroups", {}).get("test", {})
    traits = list(first)
    if not traits:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "this dataset has no traits", ha="center", va="center")
        _save(fig, path)
        return
    n_cols = 3 if len(traits) > 4 else len(traits)
    n_rows = int(np.ceil(len(traits) / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(4.6 * n_cols, 3.3 * n_rows), squeeze=False, sharey=True
    )
    for ax, trait in zip(axes.ravel(), traits, strict=False):
        entry = first[trait]
        floor_n = entry.get("min_individuals", 0)
        groups = [g for g, v in entry["groups"].items() if v["n_individuals"] >= floor_n]
        groups = sorted(groups, key=lambda g: -entry["groups"][g]["n_individuals"])
        groups = [g for g in entry["groups"] if g in groups[:MAX_GROUPS_SHOWN]]
        width = 0.8 / max(1, len(methods))
        dpds = []
        for i, method in enumerate(methods):
            per_seed = [r["subgroups"]["test"][trait] for r in runs if r["method"] == method]
            acc = [
                np.mean([s["groups"][g]["accuracy"] for s in per_seed if g in s["groups"]])
                for g in groups
            ]
            dpd = [s["dpd"] for s in per_seed if s.get("dpd") is not None]
            dpds.append(f"{np.mean(dpd):.3f}" if dpd else "n/a")
            colour = "0.6" if method in FLOOR_METHODS else f"C{i % 10}"
            ax.bar(np.arange(len(groups)) + i * width, acc, width, color=colour, label=method)
        ax.set_xticks(
            np.arange(len(groups)) + width * (len(methods) - 1) / 2,
            [f"{_short(g)}\n(n={entry['groups'][g]['n_individuals']})" for g in groups],
            rotation=45,
            ha="right",
            fontsize=7,
        )
        ax.set_title(f"{trait}\nDPD: {' / '.join(dpds)}", fontsize=8)
    for ax in axes.ravel()[len(traits) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle(f"Accuracy per subgroup ({_title(runs)}); DPD per method in legend order")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(len(labels), 6),
        fontsize=8,
        bbox_to_anchor=(0.5, 0.965),
    )
    _save(fig, path)


def _short(label: str, limit: int = 24) -> str:
    """Shorten a long group name in the middle, keeping the end that tells groups apart."""
    if len(label) <= limit:
        return label
    keep = (limit - 1) // 2
    return f"{label[:keep]}…{label[-keep:]}"


def draw_all(
    metrics_paths: Iterable[str | Path], accuracy: str, calibration: str, subgroups: str
) -> None:
    runs = load_runs(metrics_paths)
    accuracy_bars(runs, accuracy)
    calibration_plot(runs, calibration)
    subgroup_accuracy_plot(runs, subgroups)
