"""Leaderboards, report figures, and the Snakemake HTML report opened in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake, tiny_config
from system_pieces import require
from test_evaluation import CFG, tiny_data, tiny_predictions, tiny_split

from gemsflow import plots
from gemsflow.errors import InputDataError
from gemsflow.evaluation import leaderboard as lb
from gemsflow.evaluation import run_metrics as ev
from gemsflow.evaluation.summary import write_deliverable
from gemsflow.io import write_json
from gemsflow.provenance import git_state, write_provenance


def fake_run(tmp_path, method, seed, accuracy, dataset="twin"):
    """A metrics.json holding the given test accuracy on top of real metric sections."""
    metrics = ev.evaluate(tiny_predictions(), tiny_data(), tiny_split(), CFG)
    metrics.update(
        schema="gemsflow.metrics/1",
        setting="setting1",
        dataset=dataset,
        method=method,
        seed=seed,
        accuracy=accuracy,
        n_test=7,
        method_info={},
    )
    metrics["parts"]["test"]["accuracy"] = accuracy
    path = tmp_path / f"{dataset}-{method}-{seed}.json"
    write_json(metrics, path)
    return path


@pytest.fixture
def run_paths(tmp_path):
    return [
        fake_run(tmp_path, "gnn", 1, 0.70),
        fake_run(tmp_path, "gnn", 2, 0.72),
        fake_run(tmp_path, "majority", 1, 0.60),
        fake_run(tmp_path, "majority", 2, 0.62),
        fake_run(tmp_path, "zeroshot-tiny", 1, 0.40),
    ]


def test_leaderboard_aggregates_seeds_and_orders_rows_by_validation(run_paths):
    board = lb.build_leaderboard(run_paths)
    # Every fake run has the same validation figure: ties are broken by name, the floor is marked.
    assert board["method"].tolist() == ["gnn", "majority", "zeroshot-tiny"]
    assert board.set_index("method")["best_floor"].to_dict() == {
        "gnn": False,
        "majority": True,
        "zeroshot-tiny": False,
    }
    gnn = board.set_index("method").loc["gnn"]
    assert gnn["n_seeds"] == 2 and gnn["seeds"] == "1,2"
    assert gnn["accuracy_mean"] == pytest.approx(0.71)
    assert gnn["accuracy_std"] == pytest.approx(np.std([0.70, 0.72], ddof=1))
    # Without the runs' predictions the lead is the difference of the means, with no interval, and
    # nothing can be shown to clear the validation noise: no pick.
    assert gnn["lead_mean"] == pytest.approx(0.71 - 0.61) and np.isnan(gnn["lead_low"])
    assert not board["selected"].any() and board.attrs["pick_note"].startswith("No pick")
    # Sections from the scorer are carried through: log-loss of the tiny case, DPD of its one trait.
    assert gnn["log_loss_mean"] == pytest.approx(
        ev.evaluate(tiny_predictions(), tiny_data(), tiny_split(), CFG)["parts"]["test"]["log_loss"]
    )
    assert gnn["dpd_max_mean"] == pytest.approx(0.5 - 1 / 3)
    assert np.isnan(gnn["retest_normalized_accuracy_mean"])
    single = board.set_index("method").loc["zeroshot-tiny"]
    assert single["accuracy_std"] == 0.0


def test_leaderboard_files(run_paths, tmp_path):
    board = lb.build_leaderboard(run_paths)
    out = tmp_path / "out"
    lb.write_leaderboard(board, out / "lb.tsv", out / "lb.md", out / "lb.html")
    tsv = pd.read_csv(out / "lb.tsv", sep="\t")
    assert tsv["method"].tolist() == ["gnn", "majority", "zeroshot-tiny"]
    md = (out / "lb.md").read_text()
    short, full = md.split("## Full table")
    # The tiny split has no validation part: no validation figure, the only floor is the reference.
    assert "| gnn | n/a | n/a | 0.7100 ± 0.0141 | [" in short and "| +10.00 | " in short
    assert "| majority (best floor) | n/a | reference | 0.6100 ± 0.0141 |" in short
    assert "| gnn | 2 | 0.7100 ± 0.0141 |" in full
    # A metric with no figure for any method is named once, not shown as a column of n/a.
    assert "Acc./retest" not in full.split("Not applicable here")[0]
    assert "Not applicable here (no figure for any method): Val. acc., Acc./retest." in full
    html = (out / "lb.html").read_text()
    assert 'id="leaderboard-table"' in html and '<tr class="floor">' in html
    assert '<details id="full">' in html and 'id="full-table"' in html
    assert "http" not in html  # self-contained: nothing fetched


BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def fake_benchmark(root, rule, folder, seed, wall, rss):
    """A benchmark file as Snakemake writes it; ``NA`` where it measured nothing."""
    path = root / rule / "setting1" / "twin" / folder / f"seed{seed}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCH_HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{wall}\n")
    return path


def test_leaderboard_training_cost_is_the_seed_mean_and_na_when_unmeasured(run_paths, tmp_path):
    root = tmp_path / "benchmarks"
    jobs = [
        ("gnn", 1, fake_benchmark(root, "train_gnn", "gnn", 1, 10.0, 300.0)),
        ("gnn", 2, fake_benchmark(root, "train_gnn", "gnn", 2, 14.0, 500.0)),
        # The floor's seed-2 job left no measurement: the mean is over seed 1 alone, not (2 + 0) / 2.
        ("majority", 1, fake_benchmark(root, "baseline", "majority", 1, 2.0, 80.0)),
        ("majority", 2, fake_benchmark(root, "baseline", "majority", 2, "NA", "NA")),
        # Never measured at all (file absent): n/a, never 0.
        ("zeroshot-tiny", 1, root / "llm_prompting/setting1/twin/zeroshot-tiny/seed1.tsv"),
    ]
    board = lb.build_leaderboard(run_paths, lb.training_costs(jobs, root)).set_index("method")
    assert board.loc["gnn", "train_wall_s_mean"] == pytest.approx(12.0)
    assert board.loc["gnn", "train_max_rss_mb_mean"] == pytest.approx(400.0)
    assert board.loc["majority", "train_wall_s_mean"] == pytest.approx(2.0)
    assert board.loc["majority", "train_max_rss_mb_mean"] == pytest.approx(80.0)
    assert board.loc["zeroshot-tiny", ["train_wall_s_mean", "train_max_rss_mb_mean"]].isna().all()
    shown = lb.display_table(board.reset_index()).set_index("Method")
    assert shown.loc["gnn", "Train time (s)"] == "12.0"
    assert shown.loc["gnn", "Train peak RSS (MB)"] == "400"
    assert shown.loc["zeroshot-tiny", "Train time (s)"] == "n/a"
    assert shown.loc["zeroshot-tiny", "Train peak RSS (MB)"] == "n/a"
    # Without benchmark files at all, the columns are there and read n/a.
    plain = lb.display_table(lb.build_leaderboard(run_paths))
    assert (plain["Train time (s)"] == "n/a").all()


def test_training_cost_of_a_two_job_method_sums_time_and_takes_peak_memory(tmp_path):
    root = tmp_path / "benchmarks"
    method = "mapping-sage-minilm"
    jobs = [
        (method, 1, fake_benchmark(root, "map_llm_to_gnn", method, 1, 3.0, 200.0)),
        (method, 1, fake_benchmark(root, "train_gnn_new_questions", "sage", 1, 7.0, 900.0)),
        (method, 2, fake_benchmark(root, "map_llm_to_gnn", method, 2, 5.0, 250.0)),
        (method, 2, fake_benchmark(root, "train_gnn_new_questions", "sage", 2, 9.0, 700.0)),
        # Seed 3 lacks its GNN's figure: a partial sum (4 s) would understate it, so it is skipped.
        (method, 3, fake_benchmark(root, "map_llm_to_gnn", method, 3, 4.0, 100.0)),
        (method, 3, root / "train_gnn_new_questions/setting1/twin/sage/seed3.tsv"),
    ]
    costs = lb.training_costs(jobs, root)
    assert costs.loc[method, "train_wall_s_mean"] == pytest.approx((10.0 + 14.0) / 2)
    assert costs.loc[method, "train_max_rss_mb_mean"] == pytest.approx((900.0 + 700.0) / 2)


def test_deliverable_is_the_built_leaderboard_with_its_costs(run_paths, tmp_path):
    """summary.{tsv,md} are the leaderboard rule's files (training costs included), not a rebuild."""
    root = tmp_path / "benchmarks"
    jobs = [
        ("gnn", seed, fake_benchmark(root, "train_gnn", "gnn", seed, 10.0, 300.0))
        for seed in (1, 2)
    ]
    board = lb.build_leaderboard(run_paths, lb.training_costs(jobs, root))
    built = tmp_path / "leaderboards"
    lb.write_leaderboard(board, built / "lb.tsv", built / "lb.md", built / "lb.html")
    out = tmp_path / "results" / "setting1" / "twin"
    methods = ["majority", "gnn", "zeroshot-tiny"]

    delivered = write_deliverable(built / "lb.tsv", built / "lb.md", run_paths, out, methods)

    assert (out / "summary.md").read_text() == (built / "lb.md").read_text()
    assert (out / "summary.tsv").read_text() == (built / "lb.tsv").read_text()
    assert "| gnn | 2 | 0.7100 ± 0.0141 |" in (out / "summary.md").read_text()
    assert delivered.set_index("method").loc["gnn", "train_wall_s_mean"] == pytest.approx(10.0)
    copies = sorted(str(p.relative_to(out)) for p in out.rglob("*.json"))
    assert copies == sorted(
        ["metrics/gnn/seed1.json", "metrics/gnn/seed2.json", "metrics/majority/seed1.json"]
        + ["metrics/majority/seed2.json", "metrics/zeroshot-tiny/seed1.json"]
    )
    # A configured method without a row is refused, naming the leaderboard file; the previous
    # deliverable stays as it was.
    with pytest.raises(InputDataError, match="'lora-tiny' has no row") as err:
        write_deliverable(
            built / "lb.tsv", built / "lb.md", run_paths, out, [*methods, "lora-tiny"]
        )
    assert err.value.path == str(built / "lb.tsv")
    assert (out / "summary.md").read_text() == (built / "lb.md").read_text()


def test_leaderboard_refuses_mixed_datasets_and_duplicates(tmp_path, run_paths):
    other = fake_run(tmp_path, "gnn", 3, 0.5, dataset="dunning_kruger")
    with pytest.raises(InputDataError, match="dataset"):
        lb.build_leaderboard([*run_paths, other])
    with pytest.raises(InputDataError, match="twice"):
        lb.build_leaderboard([*run_paths, run_paths[0]])


@pytest.mark.slow
def test_figures_are_valid_and_deterministic(run_paths, tmp_path):
    names = ("accuracy", "calibration", "subgroups")
    first = {n: tmp_path / f"a_{n}.png" for n in names}
    second = {n: tmp_path / f"b_{n}.png" for n in names}
    plots.draw_all(run_paths, **{n: str(p) for n, p in first.items()})
    plots.draw_all(run_paths, **{n: str(p) for n, p in second.items()})
    for name in names:
        image = mpimg.imread(first[name])
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0.01, f"{name} figure is blank"
        assert first[name].read_bytes() == second[name].read_bytes(), name


def _screenshot_module():
    path = ROOT / "tools" / "screenshot_report.py"
    spec = importlib.util.spec_from_file_location("screenshot_report", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["screenshot_report"] = module
    spec.loader.exec_module(module)
    return module


def _chromium_tool():
    """tools/screenshot_report.py, once Chromium is known to be there (else the test skips)."""
    shot = _screenshot_module()
    try:
        found = bool(shot.chromium_binary())
    except FileNotFoundError:
        found = False
    require(found, "chromium", "no Chromium on PATH (chromium, chromium-browser or google-chrome)")
    return shot


def test_report_opens_in_chromium_with_the_leaderboard_visible(workdir, tmp_path):
    shot = _chromium_tool()
    snakefile = workdir / "Snakefile"
    if "report.smk" not in snakefile.read_text():
        # Until the project Snakefile includes the evaluation rules, add them to the test copy.
        snakefile.write_text(
            snakefile.read_text()
            + '\ninclude: "workflow/rules/report.smk"\n\nreport: "workflow/report/workflow.rst"\n'
        )
    # Retest table: everyone gives the same answer to Q1 again except every third person.
    config = tiny_config(workdir, seeds=[42, 43])
    raw = pd.read_csv(workdir / "data" / "tiny" / "tiny_responses.csv", dtype={"QKEY": str})
    raw = raw.dropna(subset=["Q1_W1"])
    codes = raw["Q1_W1"].astype(int).to_numpy().copy()
    codes[::3] = codes[::3] % 3 + 1
    retest = workdir / "data" / "tiny_retest.csv"
    pd.DataFrame({"individual": raw["QKEY"], "question": "Q1_W1", "code": codes}).to_csv(
        retest, index=False
    )
    settings = yaml.safe_load(config.read_text())
    settings["evaluation"]["retest"] = {"tiny": str(retest)}
    config.write_text(yaml.safe_dump(settings))
    snakemake(workdir, "evaluation_report", "--configfile", str(config))
    metrics = json.loads(
        (workdir / "results/runs/setting1/tiny/majority/seed42/metrics.json").read_text()
    )
    assert metrics["retest"]["available"] is True
    assert 0.0 < metrics["retest"]["human_retest_accuracy"] < 1.0
    assert metrics["bootstrap"]["n_boot"] == 1000 and "test" in metrics["bootstrap"]
    board = pd.read_csv(workdir / "results/leaderboards/setting1/tiny/leaderboard.tsv", sep="\t")
    assert board["best_floor"].sum() == 1 and (board["n_seeds"] == 2).all()
    report = workdir / "report.html"
    snakemake(workdir, "evaluation_report", "--report", str(report), "--configfile", str(config))
    text = report.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", text)

    png = shot.screenshot_report(report, tmp_path / "shot.png", window=(1600, 1000))
    image = mpimg.imread(png)
    assert image.shape[:2] == (1000, 1600)
    dom = png.with_suffix(".dom.html").read_text()
    assert 'data-shown-result="results/leaderboards/setting1/tiny/leaderboard.html"' in dom
    frame = re.search(r'<iframe src="data:text/html;[^"]*base64,([^"]+)"', dom)
    assert frame, "the report shows no HTML result"
    shown = base64.b64decode(frame.group(1)).decode()
    assert "Leaderboard: setting1, tiny" in shown
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td>", shown)
    assert {row.split(" (")[0] for row in rows} == {"majority", "subgroup_majority"}
    assert sum(row.endswith("(best floor)") for row in rows[:2]) == 1
    # Two floors only: nothing to pick, and the page says so above the table.
    assert re.search(r'id="pick-note">No pick: no method besides the floors', shown)
    # The right-hand pane (where the leaderboard renders) is not blank.
    assert image[50:400, 500:1400, :3].std() > 0.05


def test_provenance_page_lists_checksums_versions_and_config(tmp_path):
    data = tmp_path / "answers.csv"
    data.write_text("QKEY,Q1\n1,2\n")
    page = tmp_path / "provenance.html"
    write_provenance(
        page, {"seeds": [42], "evaluation": {"calibration_bins": 10}}, [data], tmp_path
    )
    text = page.read_text()
    assert hashlib.sha256(data.read_bytes()).hexdigest() in text
    assert "numpy" in text and "calibration_bins: 10" in text
    # Outside a git checkout the code version is reported as unavailable, not made up.
    assert git_state(tmp_path).startswith("not available")


@pytest.mark.slow
def test_leaderboard_page_in_chromium_shows_the_short_table_and_folds_the_full_one(
    run_paths, tmp_path
):
    shot = _chromium_tool()
    board = lb.build_leaderboard(run_paths)
    page = tmp_path / "leaderboard.html"
    lb.write_leaderboard(board, tmp_path / "lb.tsv", tmp_path / "lb.md", page)
    png = shot.screenshot_page(page, tmp_path / "page.png", window=(1200, 700))
    assert mpimg.imread(png).shape[:2] == (700, 1200)
    dom = png.with_suffix(".dom.html").read_text()
    assert 'id="pick-note">No pick' in dom
    short = dom.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert "Test lead over best floor (pts)" in short and "Macro acc." not in short
    # The full table is in the page but folded: one click (<details>) away.
    assert re.search(r'<details id="full">\s*<summary>Full table', dom)
