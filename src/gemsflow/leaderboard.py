"""The leaderboard of a (setting, dataset): methods x metrics, mean and spread over seeds.

Rows come from the ``metrics.json`` of every run (one per method and seed), all written by the common
scorer, so every number in a column was computed the same way. The model-free floors come first, in the
fixed order of ``FLOOR_METHODS`` (``uniform`` and ``position_prior`` are the honest floors for new
questions), then the other methods by mean test accuracy. The ``accuracy_gain`` column is measured from
the best floor, the floor with the highest mean *validation* accuracy. The method with the highest mean
validation accuracy (over every method, floors included) is marked ``selected``: it is the result a user
would pick without seeing test answers. A method's validation figure is out-of-fold wherever the method
chose something on validation (:mod:`gemsflow.selection`), so no method wins this pick by having tried
more candidates.

Training cost columns come from Snakemake's benchmark files (``gemsflow.benchmarks``) of the jobs that
fit the method for a seed (which jobs: ``training_benchmarks`` in workflow/rules/report.smk). A seed's
wall time is the sum over its jobs and its peak memory the largest of them; the columns are the mean
over the seeds that have a measurement, n/a where none has (never 0).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.benchmarks import read_benchmarks
from gemsflow.errors import InputDataError
from gemsflow.io import read_json, write_text

# Model-free baselines, listed first in this order: no-information floors, then per-question floors.
FLOOR_METHODS = ("uniform", "position_prior", "majority", "subgroup_majority")


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
    metrics_paths: Iterable[str | Path], costs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Methods x metrics: ``<metric>_mean`` and ``<metric>_std`` (sample std over seeds; 0 for one seed).

    ``costs`` (from ``training_costs``) adds the training time and memory columns; without it, or for a
    method it lacks, they are NaN (shown n/a). Order: the floors first (``FLOOR_METHODS`` order), then
    the other methods by mean test accuracy.
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
    selected = _best_on_validation(board)  # ties go to the first method by name, before sorting
    board = _against_floors(board)
    board["is_floor"] = board.index.isin(FLOOR_METHODS)
    board["selected"] = board.index == selected
    board.insert(0, "setting", runs["setting"].iloc[0])
    board.insert(1, "dataset", runs["dataset"].iloc[0])
    return board.reset_index().rename(columns={"index": "method"})


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
    """``accuracy_gain_mean`` against the floor best on validation; the floors first in
    ``FLOOR_METHODS`` order, then the other methods by mean test accuracy."""
    floors = [m for m in FLOOR_METHODS if m in board.index]
    best_floor = _best_on_validation(board.loc[floors]) if floors else None
    floor = board.loc[best_floor, "accuracy_mean"] if best_floor is not None else np.nan
    board["accuracy_gain_mean"] = board["accuracy_mean"] - floor
    rank = {m: i for i, m in enumerate(FLOOR_METHODS)}
    board["_floor_rank"] = [rank.get(m, len(rank)) for m in board.index]
    return board.sort_values(
        ["_floor_rank", "accuracy_mean"], ascending=[True, False], kind="stable"
    ).drop(columns="_floor_rank")


def _best_on_validation(board: pd.DataFrame) -> str | None:
    """The method with the highest mean validation accuracy (first in ``board`` order on ties).

    Without any validation figure (a split with no validation part) the first method stands in.
    """
    if board.empty:
        return None
    val = board["val_accuracy_mean"].astype("float64")
    return board.index[0] if val.isna().all() else val.idxmax()


def _cell(mean: float, std: float, n_seeds: int) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    return f"{mean:.4f}" if n_seeds < 2 else f"{mean:.4f} ± {std:.4f}"


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as strings: ``mean ± std`` per metric, n/a where a metric does not apply."""
    out = pd.DataFrame({"Method": board["method"], "Seeds": board["n_seeds"].astype(int)})
    for metric in METRICS:
        if board[f"{metric.name}_mean"].isna().all():
            out[metric.label] = "n/a"
            continue
        arrow = "↑" if metric.higher_is_better else "↓"
        out[f"{metric.label} {arrow}"] = [
            _cell(m, s, n)
            for m, s, n in zip(
                board[f"{metric.name}_mean"],
                board[f"{metric.name}_std"],
                board["n_seeds"],
                strict=True,
            )
        ]
    out["Acc. 95% CI"] = [
        "n/a" if not np.isfinite(lo) else f"[{lo:.4f}, {hi:.4f}]"
        for lo, hi in zip(
            board["accuracy_ci_low_mean"].astype(float),
            board["accuracy_ci_high_mean"].astype(float),
            strict=True,
        )
    ]
    out["Δ acc. vs best floor"] = [
        "n/a" if not np.isfinite(g) else f"{g:+.4f}" for g in board["accuracy_gain_mean"]
    ]
    for name, label, digits in (
        ("train_wall_s_mean", "Train time (s)", 1),
        ("train_max_rss_mb_mean", "Train peak RSS (MB)", 0),
    ):
        out[label] = [
            "n/a" if not np.isfinite(v) else f"{v:.{digits}f}" for v in board[name].astype(float)
        ]
    out["Val. pick"] = ["✓" if s else "" for s in board["selected"]]
    return out


def _markdown_table(table: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return [header, rule, *body]


def to_markdown(board: pd.DataFrame, panel: pd.DataFrame | None = None) -> str:
    title = f"## Leaderboard: {board['setting'].iloc[0]}, {board['dataset'].iloc[0]}"
    lines = [title, "", *_markdown_table(display_table(board)), "", *_notes()]
    if panel is not None and not panel.empty:
        lines += ["", "## On the evaluation panel", "", *_markdown_table(panel_display(panel))]
        lines += ["", PANEL_NOTE]
    return "\n".join(lines) + "\n"


def _notes() -> list[str]:
    lines = [
        "Test part; mean ± sample std over seeds. ↑ higher is better, ↓ lower is better.",
        "Acc. 95% CI: bootstrap over individuals (seed mean of the interval ends).",
        f"Floors first ({', '.join(FLOOR_METHODS)}); Δ acc. vs the floor best on validation.",
        "Val. pick: the method with the highest mean validation accuracy (chosen without test).",
        "Train time / peak RSS: mean over seeds of the Snakemake benchmark of the job(s) that fit the"
        " method (GNN: train_gnn or train_gnn_new_questions; mapping: map_llm_to_gnn plus its GNN,"
        " times summed, memory the larger; baselines, learners, ensemble and LLM methods: their own job;"
        " shared data preparation, splits, graphs, features and scoring not counted). n/a: no"
        " measurement.",
    ]
    lines += [f"- {m.label}: {m.description}" for m in METRICS]
    return lines


def _html_cell(text: str) -> str:
    """``mean ± std`` as the mean with the spread in small type below, to keep columns narrow."""
    mean, sep, std = text.partition(" ± ")
    if not sep:
        return html.escape(text)
    return f'{html.escape(mean)}<br><span class="std">± {html.escape(std)}</span>'


def _panel_html(panel: pd.DataFrame | None) -> str:
    if panel is None or panel.empty:
        return ""
    table = panel_display(panel)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{_html_cell(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return (
        '<h2 id="panel">On the evaluation panel</h2>\n<table id="panel-table"><thead><tr>'
        f"{head}</tr></thead><tbody>\n{body}\n</tbody></table>\n"
        f"<p>{html.escape(PANEL_NOTE)}</p>\n"
    )


def to_html(board: pd.DataFrame, panel: pd.DataFrame | None = None) -> str:
    """A self-contained HTML page (inline CSS) holding the leaderboard table."""
    table = display_table(board)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for i, row in enumerate(table.itertuples(index=False)):
        cls = ' class="floor"' if board["method"].iloc[i] in FLOOR_METHODS else ""
        cells = "".join(f"<td>{_html_cell(str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    setting, dataset = board["setting"].iloc[0], board["dataset"].iloc[0]
    notes = "".join(f"<li>{html.escape(n.lstrip('- '))}</li>" for n in _notes())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Leaderboard {html.escape(setting)} {html.escape(dataset)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; font-size: 0.8em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 6px; text-align: right; }}
td {{ white-space: nowrap; }}
.std {{ color: #666; font-size: 0.85em; }}
th {{ background: #eef; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.floor {{ background: #f4f4f4; font-style: italic; }}
ul {{ font-size: 0.85em; color: #333; }}
</style></head><body>
<h2 id="leaderboard">Leaderboard: {html.escape(setting)}, {html.escape(dataset)}</h2>
<table id="leaderboard-table"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<ul>{notes}</ul>
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
