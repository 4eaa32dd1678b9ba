"""The leaderboard of a (setting, dataset): methods x metrics, mean and spread over seeds.

Rows come from the ``metrics.json`` of every run (one per method and seed), all written by the common
scorer, so every number in a column was computed the same way. Rows are ordered by mean validation
accuracy, what the pick uses; the model-free floors (``FLOOR_METHODS``) and placeholder models are marked.
Each method's *lead* over the best floor (the floor best on validation) is measured on the same held-out
pairs, with a paired bootstrap interval over people (:mod:`gemsflow.evaluation.pick`, which also owns the pick
rule: a method is picked only when its validation lead clears the validation noise). A method's
validation figure is out-of-fold wherever the method chose something on validation
(:mod:`gemsflow.evaluation.selection`), so no method wins the pick by having tried more candidates.

The page shows a short table (method, validation figures, test accuracy and its interval, the lead
with its paired interval, log-loss, training time); the full table, every metric that applies, sits
one click below it.

Training cost columns come from Snakemake's benchmark files (``gemsflow.evaluation.costs``) of the jobs that
fit the method for a seed (which jobs: ``training_benchmarks`` in workflow/rules/report.smk). A seed's
wall time is the sum over its jobs and its peak memory the largest of them; the columns are the mean
over the seeds that have a measurement, n/a where none has (never 0).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.evaluation.costs import read_benchmarks
from gemsflow.evaluation.pick import (
    Lead,
    best_floor,
    paired_leads,
    person_credit,
    pick,
)
from gemsflow.io import read_json, write_text
from gemsflow.methods.registry import FLOOR_METHODS


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    path: tuple[str, ...]
    higher_is_better: bool
    description: str


METRICS: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        "Accuracy",
        ("parts", "test", "accuracy"),
        True,
        "micro over test pairs, tie-aware (a tie of t options containing the answer earns 1/t)",
    ),
    Metric(
        "macro_accuracy",
        "Macro acc.",
        ("parts", "test", "macro_accuracy"),
        True,
        "mean of per-question accuracies",
    ),
    Metric(
        "weighted_accuracy",
        "Weighted acc.",
        ("weighted", "test", "accuracy"),
        True,
        "pairs weighted by survey weight (n/a: equal weights)",
    ),
    Metric(
        "val_accuracy",
        "Val. acc.",
        ("parts", "val", "accuracy"),
        True,
        "micro over validation pairs, out-of-fold for methods that choose on validation (what the pick uses)",
    ),
    Metric(
        "abstain_rate",
        "Abstain",
        ("parts", "test", "abstain_rate"),
        False,
        "share of test pairs the method could not answer (scored 0, uniform for distributions)",
    ),
    Metric("log_loss", "Log-loss", ("parts", "test", "log_loss"), False, "mean -log p(answer)"),
    Metric("ece", "ECE", ("parts", "test", "ece"), False, "expected calibration error"),
    Metric(
        "representativeness",
        "Repr.",
        ("distribution", "test", "mean_representativeness"),
        True,
        "OpinionQA representativeness, mean over questions",
    ),
    Metric(
        "wasserstein_ordinal",
        "WD ordinal",
        ("distribution", "test", "mean_wasserstein_ordinal"),
        False,
        "Wasserstein-1 between answer distributions, ordinal questions (n/a: none flagged ordinal)",
    ),
    Metric(
        "tv_nominal",
        "TV nominal",
        ("distribution", "test", "mean_total_variation_nominal"),
        False,
        "total variation between answer distributions, nominal questions",
    ),
    Metric(
        "dpd_mean",
        "DPD mean",
        ("_dpd", "mean"),
        False,
        "demographic parity difference (best minus worst subgroup accuracy), mean over traits",
    ),
    Metric("dpd_max", "DPD max", ("_dpd", "max"), False, "largest DPD over traits"),
    Metric(
        "retest_normalized_accuracy",
        "Acc./retest",
        ("retest", "normalized_accuracy"),
        True,
        "accuracy / people's test-retest agreement (n/a: no retest data)",
    ),
)


def _lookup(obj: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return None if obj is None else float(obj)


def _dpd_summary(metrics: dict[str, Any]) -> dict[str, float | None]:
    traits = (metrics.get("subgroups") or {}).get("test") or {}
    values = [t["dpd"] for t in traits.values() if t.get("dpd") is not None]
    if not values:
        return {"mean": None, "max": None}
    return {"mean": float(np.mean(values)), "max": float(np.max(values))}


def run_rows(metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run (method, seed) with every leaderboard metric, read from metrics.json files."""
    rows = []
    for path in metrics_paths:
        metrics = read_json(path)
        for key in ("setting", "dataset", "method", "seed"):
            if key not in metrics:
                raise InputDataError(path, key, "missing", "rescore the run with rule score_run")
        enriched = dict(metrics, _dpd=_dpd_summary(metrics))
        row = {k: metrics[k] for k in ("setting", "dataset", "method", "seed")}
        row.update({m.name: _lookup(enriched, m.path) for m in METRICS})
        boot = (metrics.get("bootstrap") or {}).get("test", {}).get("accuracy") or {}
        row["accuracy_ci_low"] = boot.get("low")
        row["accuracy_ci_high"] = boot.get("high")
        row["model_parameters"] = (metrics.get("method_info") or {}).get("model_parameters")
        row["scope"] = metrics.get("scope", "all")
        row["panel"] = metrics.get("panel")
        row["path"] = str(path)
        rows.append(row)
    if not rows:
        raise InputDataError(
            None, "metrics", "no metrics.json given", "configure methods and seeds"
        )
    frame = pd.DataFrame(rows)
    for key in ("setting", "dataset"):
        if frame[key].nunique() > 1:
            raise InputDataError(
                frame["path"].iloc[0],
                key,
                f"runs of several {key}s mixed: {sorted(frame[key].unique())}",
                "build one leaderboard per (setting, dataset)",
            )
    duplicated = frame.duplicated(["method", "seed"])
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise InputDataError(
            row["path"], "seed", f"run {row['method']} seed {row['seed']} given twice", "list once"
        )
    return frame


def run_credits(
    metrics_paths: Iterable[str | Path], data: SurveyData, splits: Mapping[int, str | Path]
) -> dict[tuple[str, int, str], pd.DataFrame]:
    """``(method, seed, part)`` -> per-person credit (:func:`gemsflow.evaluation.pick.person_credit`) of every
    whole-test-set run, read from the ``predictions.parquet`` beside its metrics.json; ``splits``: the
    split file of each seed."""
    credits = {}
    split_frames = {}
    for path in metrics_paths:
        metrics = read_json(path)
        if metrics.get("scope", "all") == "panel":
            continue
        seed = int(metrics["seed"])
        if seed not in split_frames:
            split_frames[seed] = pd.read_parquet(splits[seed])
        predictions = pd.read_parquet(Path(path).with_name("predictions.parquet"))
        for part in ("val", "test"):
            credits[(metrics["method"], seed, part)] = person_credit(
                predictions, data, split_frames[seed], part
            )
    return credits


COST_COLUMNS = ("train_wall_s_mean", "train_max_rss_mb_mean")


def training_costs(jobs: Iterable[tuple[str, int, str | Path]], root: str | Path) -> pd.DataFrame:
    """Per method: mean over seeds of training wall time (s) and peak resident memory (MB).

    ``jobs`` holds ``(method, seed, benchmark file)``, one per job that trains the method for that seed
    (two for a mapping: the map and its GNN). A seed's wall time sums its jobs and its memory is their
    maximum; a seed with a missing file or an unmeasured value has no figure (NaN), and the mean skips
    it, so a method with no measured seed shows n/a, never 0.
    """
    rows = []
    for method, seed, path in jobs:
        measured = (
            read_benchmarks([path], root).iloc[0]
            if Path(path).exists()
            else {"wall_s": np.nan, "max_rss_mb": np.nan}
        )
        rows.append(
            {
                "method": method,
                "seed": seed,
                "wall_s": measured["wall_s"],
                "max_rss_mb": measured["max_rss_mb"],
            }
        )
    frame = pd.DataFrame(rows, columns=["method", "seed", "wall_s", "max_rss_mb"])
    if frame.empty:
        return pd.DataFrame(columns=list(COST_COLUMNS), dtype=float)
    per_seed = frame.groupby(["method", "seed"])[["wall_s", "max_rss_mb"]]
    seeds = per_seed.agg({"wall_s": "sum", "max_rss_mb": "max"})
    # A seed missing one of its jobs' figures has no figure: a partial sum would understate the cost.
    seeds = seeds.mask(per_seed.count().lt(per_seed.size(), axis=0))
    costs = seeds.groupby(level="method").mean()
    return costs.rename(columns=dict(zip(("wall_s", "max_rss_mb"), COST_COLUMNS, strict=True)))


def build_leaderboard(
    metrics_paths: Iterable[str | Path],
    costs: pd.DataFrame | None = None,
    credits: Mapping[tuple[str, int, str], pd.DataFrame] | None = None,
    placeholders: Iterable[str] = (),
    bootstrap: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Methods x metrics: ``<metric>_mean`` and ``<metric>_std`` (sample std over seeds; 0 for one seed).

    ``costs`` (from ``training_costs``) adds the training time and memory columns; without it, or for a
    method it lacks, they are NaN (shown n/a). ``credits[(method, seed, part)]`` (from
    :func:`gemsflow.evaluation.pick.person_credit`, parts ``val`` and ``test``) give the leads over the best floor
    their paired intervals; without them the leads have no interval and nothing is picked.
    ``placeholders``: methods whose model means nothing (random weights), marked and never picked.
    ``bootstrap``: ``n_boot``, ``level``, ``seed`` of the paired intervals (``evaluation.bootstrap``).
    Rows are ordered by mean validation accuracy. ``board.attrs["pick_note"]`` says what was picked
    and why, or why nothing was.
    """
    runs = run_rows(metrics_paths)
    # Runs scored on the evaluation panel only (LLMs on a CPU) are not comparable with whole-test-set
    # rows: they appear in the panel table (:func:`panel_board`), beside every other method on it.
    runs = runs[runs["scope"] != "panel"]
    columns = [m.name for m in METRICS] + ["accuracy_ci_low", "accuracy_ci_high"]
    grouped = runs.groupby("method", sort=True)
    board = pd.DataFrame({"n_seeds": grouped.size()})
    for name in columns:
        values = runs[name].astype("float64")
        board[f"{name}_mean"] = values.groupby(runs["method"]).mean()
        # Sample std over seeds; a single seed has no spread to report, shown as 0.
        board[f"{name}_std"] = values.groupby(runs["method"]).std(ddof=1).fillna(0.0)
        board.loc[board[f"{name}_mean"].isna(), f"{name}_std"] = np.nan
    board["seeds"] = grouped["seed"].agg(lambda s: ",".join(str(x) for x in sorted(s)))
    for name in COST_COLUMNS:
        board[name] = np.nan if costs is None else costs.get(name, pd.Series(dtype=float))
    placeholders = set(placeholders)
    floor = best_floor(board["val_accuracy_mean"])
    others = [m for m in board.index if m != floor]
    for prefix, part, figure in (("val_lead", "val", "val_accuracy"), ("lead", "test", "accuracy")):
        leads = _leads(board, credits, part, figure, floor, others, bootstrap or {})
        for end in ("mean", "low", "high"):
            board[f"{prefix}_{end}"] = [getattr(leads.get(m), end, np.nan) for m in board.index]
    chosen = pick(
        board["val_accuracy_mean"],
        {
            m: Lead(*board.loc[m, ["val_lead_mean", "val_lead_low", "val_lead_high"]])
            for m in others
        },
        placeholders,
        level=float((bootstrap or {}).get("level", 0.95)),
    )
    board["is_floor"] = board.index.isin(FLOOR_METHODS)
    board["best_floor"] = board.index == floor
    board["placeholder"] = board.index.isin(placeholders)
    board["selected"] = board.index == chosen.method
    board = _by_validation(board)
    board.insert(0, "setting", runs["setting"].iloc[0])
    board.insert(1, "dataset", runs["dataset"].iloc[0])
    board = board.reset_index().rename(columns={"index": "method"})
    board.attrs["pick_note"] = chosen.note
    return board


def _leads(
    board: pd.DataFrame,
    credits: Mapping[tuple[str, int, str], pd.DataFrame] | None,
    part: str,
    figure: str,
    floor: str | None,
    methods: list[str],
    bootstrap: Mapping[str, Any],
) -> dict[str, Lead]:
    """Each method's lead over ``floor`` on ``part``: paired intervals from ``credits``; without them
    the difference of the mean figures, with no interval."""
    if floor is None:
        return {}
    if credits is None:
        mean = board[f"{figure}_mean"]
        return {m: Lead(float(mean[m] - mean[floor]), np.nan, np.nan) for m in methods}
    on_part = {(m, s): c for (m, s, p), c in credits.items() if p == part}
    leads = paired_leads(
        on_part,
        floor,
        methods,
        n_boot=int(bootstrap.get("n_boot", 1000)),
        level=float(bootstrap.get("level", 0.95)),
        seed=int(bootstrap.get("seed", 0)),
    )
    leads[floor] = Lead(0.0, np.nan, np.nan)
    return leads


def _by_validation(board: pd.DataFrame) -> pd.DataFrame:
    """Rows by mean validation accuracy, what the pick uses (ties: by name; no figure: last)."""
    return board.sort_values(
        "val_accuracy_mean", ascending=False, kind="stable", na_position="last"
    )


PANEL_FIGURES = ("accuracy", "val_accuracy", "log_loss", "abstain_rate", "n_test")


def panel_board(metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every method on the evaluation panel (``evaluation.panel``): mean and std over seeds of its
    panel figures, the panel's size, and the lead over the panel's best floor (the floor best on the
    panel's validation people). Empty when no run has a panel figure."""
    runs = run_rows(metrics_paths)
    runs = runs[runs["panel"].notna()]
    if runs.empty:
        return pd.DataFrame()
    figures = pd.DataFrame(
        [
            {
                "method": method,
                **{name: panel[name] for name in PANEL_FIGURES},
                "people": f"{panel['individuals']['val']}/{panel['individuals']['test']}",
                "scope": scope,
                "model_parameters": parameters,
            }
            for method, panel, scope, parameters in zip(
                runs["method"], runs["panel"], runs["scope"], runs["model_parameters"], strict=True
            )
        ]
    ).astype({name: "float64" for name in PANEL_FIGURES})
    grouped = figures.groupby("method", sort=True)
    board = pd.DataFrame({"n_seeds": grouped.size(), "people": grouped["people"].first()})
    board["panel_only"] = grouped["scope"].first() == "panel"
    board["model_parameters"] = grouped["model_parameters"].first()
    for name in PANEL_FIGURES:
        board[f"{name}_mean"] = grouped[name].mean()
        board[f"{name}_std"] = grouped[name].std(ddof=1).fillna(0.0)
    return _against_floors(board).reset_index().rename(columns={"index": "method"})


def panel_display(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel table as strings."""
    out = pd.DataFrame(
        {
            "Method": [
                _panel_label(m, only, parameters)
                for m, only, parameters in zip(
                    panel["method"], panel["panel_only"], panel["model_parameters"], strict=True
                )
            ],
            "Seeds": panel["n_seeds"].astype(int),
            "People (val/test)": panel["people"],
        }
    )
    for name, label in (
        ("accuracy", "Accuracy ↑"),
        ("val_accuracy", "Val. acc. ↑"),
        ("log_loss", "Log-loss ↓"),
        ("abstain_rate", "Abstain ↓"),
    ):
        out[label] = [
            _cell(m, sd, n)
            for m, sd, n in zip(
                panel[f"{name}_mean"], panel[f"{name}_std"], panel["n_seeds"], strict=True
            )
        ]
    out["Test pairs"] = [f"{v:.0f}" for v in panel["n_test_mean"]]
    out["Δ acc. vs best floor"] = [
        "n/a" if not np.isfinite(g) else f"{g:+.4f}" for g in panel["accuracy_gain_mean"]
    ]
    return out


def _panel_label(method: str, panel_only: bool, parameters) -> str:
    """The method, the size of the language model behind it, and whether it predicted the panel only."""
    notes = []
    if pd.notna(parameters):
        size = parameters / 1e9
        notes.append(f"{size:.1f}B" if size >= 1 else f"{parameters / 1e6:.0f}M")
    if panel_only:
        notes.append("panel only")
    return f"{method} ({', '.join(notes)})" if notes else method


PANEL_NOTE = (
    "Every method scored on the same seeded subsample of held-out people (evaluation.panel): methods"
    " marked 'panel only' (LLMs on a CPU) predicted these people alone; the others are their whole-test"
    " runs read on the panel's pairs. A row with fewer people (the agentic CoT's"
    " llm.cot.panel_individuals) covers a prefix of the panel. Δ: against the floor best on the panel's"
    " validation people."
)


def _against_floors(board: pd.DataFrame) -> pd.DataFrame:
    """The panel's ``accuracy_gain_mean`` against the floor best on the panel's validation people; the
    floors first in ``FLOOR_METHODS`` order, then the other methods by mean panel accuracy (the panel
    has no pick: its few validation people decide nothing)."""
    floor = best_floor(board["val_accuracy_mean"])
    reference = board.loc[floor, "accuracy_mean"] if floor is not None else np.nan
    board["accuracy_gain_mean"] = board["accuracy_mean"] - reference
    rank = {m: i for i, m in enumerate(FLOOR_METHODS)}
    board["_floor_rank"] = [rank.get(m, len(rank)) for m in board.index]
    return board.sort_values(
        ["_floor_rank", "accuracy_mean"], ascending=[True, False], kind="stable"
    ).drop(columns="_floor_rank")


def _cell(mean: float, std: float, n_seeds: int) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    return f"{mean:.4f}" if n_seeds < 2 else f"{mean:.4f} ± {std:.4f}"


def _label(method: str, is_floor: bool, best: bool, placeholder: bool) -> str:
    """The method with what kind of row it is: a floor (the best one), a placeholder model."""
    if best:
        return f"{method} (best floor)"
    if is_floor:
        return f"{method} (floor)"
    return f"{method} (placeholder)" if placeholder else method


def _lead_cell(mean: float, low: float, high: float, is_floor: bool, best: bool) -> str:
    """A lead in percentage points with its paired interval; the floors are the reference."""
    if best:
        return "reference"
    if is_floor:
        return "—"
    if not np.isfinite(mean):
        return "n/a"
    points = f"{100 * mean:+.2f}"
    if not np.isfinite(low):
        return points
    return f"{points} [{100 * low:+.2f}, {100 * high:+.2f}]"


def _labels(board: pd.DataFrame) -> list[str]:
    return [
        _label(m, f, b, p)
        for m, f, b, p in zip(
            board["method"],
            board["is_floor"],
            board["best_floor"],
            board["placeholder"],
            strict=True,
        )
    ]


def _leads_shown(board: pd.DataFrame, prefix: str) -> list[str]:
    return [
        _lead_cell(mean, low, high, f, b)
        for mean, low, high, f, b in zip(
            board[f"{prefix}_mean"].astype(float),
            board[f"{prefix}_low"].astype(float),
            board[f"{prefix}_high"].astype(float),
            board["is_floor"],
            board["best_floor"],
            strict=True,
        )
    ]


def _cells(board: pd.DataFrame, name: str) -> list[str]:
    return [
        _cell(m, s, n)
        for m, s, n in zip(
            board[f"{name}_mean"], board[f"{name}_std"], board["n_seeds"], strict=True
        )
    ]


def _interval(board: pd.DataFrame) -> list[str]:
    return [
        "n/a" if not np.isfinite(lo) else f"[{lo:.4f}, {hi:.4f}]"
        for lo, hi in zip(
            board["accuracy_ci_low_mean"].astype(float),
            board["accuracy_ci_high_mean"].astype(float),
            strict=True,
        )
    ]


def _costs(board: pd.DataFrame, name: str, digits: int) -> list[str]:
    return ["n/a" if not np.isfinite(v) else f"{v:.{digits}f}" for v in board[name].astype(float)]


def short_table(board: pd.DataFrame) -> pd.DataFrame:
    """The default table: what a reader needs to say who wins and by how much."""
    return pd.DataFrame(
        {
            "Method": _labels(board),
            "Val. acc. ↑": _cells(board, "val_accuracy"),
            "Val. lead (pts)": _leads_shown(board, "val_lead"),
            "Test acc. ↑": _cells(board, "accuracy"),
            "Test acc. 95% CI": _interval(board),
            "Test lead over best floor (pts)": _leads_shown(board, "lead"),
            "Log-loss ↓": _cells(board, "log_loss"),
            "Train time (s)": _costs(board, "train_wall_s_mean", 1),
            "Pick": ["✓" if s else "" for s in board["selected"]],
        }
    )


def not_applicable(board: pd.DataFrame) -> list[str]:
    """Metrics with no figure for any method here (left out of the full table, named below it)."""
    return [m.label for m in METRICS if board[f"{m.name}_mean"].isna().all()]


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """The full table as strings: ``mean ± std`` per metric that applies to at least one method."""
    out = pd.DataFrame({"Method": _labels(board), "Seeds": board["n_seeds"].astype(int)})
    for metric in METRICS:
        if board[f"{metric.name}_mean"].isna().all():
            continue
        arrow = "↑" if metric.higher_is_better else "↓"
        out[f"{metric.label} {arrow}"] = _cells(board, metric.name)
    out["Acc. 95% CI"] = _interval(board)
    out["Val. lead (pts)"] = _leads_shown(board, "val_lead")
    out["Test lead (pts)"] = _leads_shown(board, "lead")
    out["Train time (s)"] = _costs(board, "train_wall_s_mean", 1)
    out["Train peak RSS (MB)"] = _costs(board, "train_max_rss_mb_mean", 0)
    out["Pick"] = ["✓" if s else "" for s in board["selected"]]
    return out


def _markdown_table(table: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return [header, rule, *body]


def _pick_note(board: pd.DataFrame) -> str:
    return board.attrs.get("pick_note", "")


def to_markdown(board: pd.DataFrame, panel: pd.DataFrame | None = None) -> str:
    title = f"## Leaderboard: {board['setting'].iloc[0]}, {board['dataset'].iloc[0]}"
    lines = [title, "", f"**{_pick_note(board)}**", "", *_markdown_table(short_table(board))]
    lines += ["", *_short_notes(board), "", "## Full table", ""]
    lines += [*_markdown_table(display_table(board)), "", *_notes(board)]
    if panel is not None and not panel.empty:
        lines += ["", "## On the evaluation panel", "", *_markdown_table(panel_display(panel))]
        lines += ["", PANEL_NOTE]
    return "\n".join(lines) + "\n"


PICK_RULE = (
    "Pick rule (gemsflow.evaluation.pick; validation only): the best floor is the floor with the highest mean"
    " validation accuracy; a method is picked when the lower end of the paired 95% interval of its"
    " validation lead over that floor is above 0, the most accurate on validation of such methods; when"
    " no method clears it, nothing is picked. Floors and placeholder models are never picked."
)


def _short_notes(board: pd.DataFrame) -> list[str]:
    return [
        "Rows by mean validation accuracy (what the pick uses); mean ± sample std over seeds"
        f" ({board['seeds'].iloc[0]}).",
        "Lead: accuracy minus the best floor's, on the same pairs, in percentage points (seed mean);"
        " [95% paired interval]: the same held-out people resampled for both methods (a bootstrap"
        " over people, each seed's split resampled independently); it does not cover another split"
        " or training seed (the ± std does).",
        "Test acc. 95% CI: bootstrap over test people, one method alone (seed mean of the interval"
        " ends).",
        PICK_RULE,
        "(floor): a model-free floor; (placeholder): a model whose weights are random (it exercises"
        " the code path; its figures mean nothing).",
    ]


def _notes(board: pd.DataFrame) -> list[str]:
    lines = [
        "Test part; mean ± sample std over seeds. ↑ higher is better, ↓ lower is better.",
        "Train time / peak RSS: mean over seeds of the Snakemake benchmark of the job(s) that fit the"
        " method (GNN: train_gnn or train_gnn_new_questions; mapping: map_llm_to_gnn plus its GNN,"
        " times summed, memory the larger; baselines, learners, ensemble and LLM methods: their own job;"
        " shared data preparation, splits, graphs, features and scoring not counted). n/a: no"
        " measurement.",
    ]
    missing = not_applicable(board)
    if missing:
        lines.append(f"Not applicable here (no figure for any method): {', '.join(missing)}.")
    shown = [m for m in METRICS if m.label not in missing]
    lines += [f"- {m.label}: {m.description}" for m in shown]
    return lines


def _html_cell(text: str) -> str:
    """``mean ± std`` as the mean with the spread in small type below, to keep columns narrow."""
    mean, sep, std = text.partition(" ± ")
    if not sep:
        return html.escape(text)
    return f'{html.escape(mean)}<br><span class="std">± {html.escape(std)}</span>'


def _html_table(table: pd.DataFrame, board: pd.DataFrame | None, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for i, row in enumerate(table.itertuples(index=False)):
        classes = []
        if board is not None:
            if board["is_floor"].iloc[i]:
                classes.append("floor")
            if board["selected"].iloc[i]:
                classes.append("pick")
        cls = f' class="{" ".join(classes)}"' if classes else ""
        cells = "".join(f"<td>{_html_cell(str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table>\n"
    )


def _panel_html(panel: pd.DataFrame | None) -> str:
    if panel is None or panel.empty:
        return ""
    return (
        '<h2 id="panel">On the evaluation panel</h2>\n'
        + _html_table(panel_display(panel), None, "panel-table")
        + f"<p>{html.escape(PANEL_NOTE)}</p>\n"
    )


def _html_list(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(n.lstrip('- '))}</li>" for n in lines) + "</ul>"


def to_html(board: pd.DataFrame, panel: pd.DataFrame | None = None) -> str:
    """A self-contained HTML page (inline CSS): the short table, the full one a click below."""
    setting, dataset = board["setting"].iloc[0], board["dataset"].iloc[0]
    full = display_table(board)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Leaderboard {html.escape(setting)} {html.escape(dataset)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 6px; text-align: right; }}
td {{ white-space: nowrap; }}
.std {{ color: #666; font-size: 0.85em; }}
th {{ background: #eef; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.floor {{ background: #f4f4f4; font-style: italic; }}
tr.pick {{ background: #e6f4e6; font-weight: bold; }}
p.pick {{ font-size: 1.05em; max-width: 70em; }}
summary {{ cursor: pointer; font-weight: bold; margin-top: 1em; }}
ul {{ font-size: 0.85em; color: #333; max-width: 80em; }}
</style></head><body>
<h2 id="leaderboard">Leaderboard: {html.escape(setting)}, {html.escape(dataset)}</h2>
<p class="pick" id="pick-note">{html.escape(_pick_note(board))}</p>
{_html_table(short_table(board), board, "leaderboard-table")}{_html_list(_short_notes(board))}
<details id="full"><summary>Full table ({len(full.columns)} columns: every metric that applies)</summary>
{_html_table(full, board, "full-table")}{_html_list(_notes(board))}
</details>
{_panel_html(panel)}</body></html>
"""


def write_leaderboard(
    board: pd.DataFrame,
    tsv: str | Path,
    md: str | Path,
    html_path: str | Path,
    panel: pd.DataFrame | None = None,
):
    with_float_format = board.to_csv(sep="\t", index=False, float_format="%.6g", na_rep="NA")
    write_text(with_float_format, tsv)
    write_text(to_markdown(board, panel), md)
    write_text(to_html(board, panel), html_path)
