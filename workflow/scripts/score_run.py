"""Score one run's predictions with the common scorer into metrics.json."""

from pathlib import Path

from gemsflow.data.splits import Panel
from gemsflow.data.survey import SurveyData
from gemsflow.evaluation.run_metrics import EvaluationConfig, read_retest_table
from gemsflow.evaluation.scoring import panel_summary, score
from gemsflow.io import read_json, read_parquet, write_json
from gemsflow.logs import setup_logging
from gemsflow.staging import staged_outputs

log = setup_logging(snakemake.log[0])
# metrics.json is update()-flagged: the previous metrics stay until the new ones are complete.
with staged_outputs(dict(snakemake.output.items())) as out:
    data = SurveyData.load(Path(snakemake.input.data[0]).parent)
    split = read_parquet(snakemake.input.split)
    predictions = read_parquet(snakemake.input.predictions)
    identity = {
        "setting": snakemake.wildcards.setting,
        "dataset": snakemake.wildcards.dataset,
        "method": snakemake.wildcards.method,
        "seed": int(snakemake.wildcards.seed),
    }
    retest_path = snakemake.params.retest
    info = read_json(snakemake.input.info)
    panel = Panel(**snakemake.params.panel) if snakemake.params.panel else None
    # A run that predicted a panel only (an LLM on a CPU) is scored on that panel, named in its run_info.
    run_panel = Panel(**info["panel"]) if info.get("panel") else None
    scored_split = run_panel.restrict(split) if run_panel else split
    common = {
        "data": data,
        "identity": identity,
        "method_info": info,
        "evaluation": EvaluationConfig.from_config(snakemake.params.evaluation),
        "where": snakemake.input.predictions,
    }
    metrics = score(
        predictions,
        split=scored_split,
        retest=read_retest_table(retest_path) if retest_path else None,
        retest_source=retest_path or "",
        **common,
    )
    if run_panel:
        metrics["scope"] = "panel"
        metrics["panel"] = panel_summary(metrics, run_panel.describe(split))
    elif panel:
        on_panel = panel.predictions_on(predictions, split)
        metrics["panel"] = panel_summary(
            score(on_panel, split=panel.restrict(split), **common), panel.describe(split)
        )
    write_json(metrics, out["metrics"])
    log.info(
        "test accuracy %.4f on %d pairs; log-loss %.4f; ECE %.4f; representativeness %.4f",
        metrics["accuracy"],
        metrics["n_test"],
        metrics["parts"]["test"]["log_loss"],
        metrics["parts"]["test"]["ece"],
        metrics["distribution"]["test"]["mean_representativeness"],
    )
