"""benchmarks/llm_cpu_throughput.py on a tiny random-weight model: every batch size is timed against
batch size 1, and batching changes neither letter scores nor hidden states."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from conftest import ROOT
from llm_toy import make_survey

from gemsflow.methods.llm.backends import load_causal_lm
from gemsflow.methods.llm.tiny_model import build_tiny_model

torch.set_num_threads(1)

spec = importlib.util.spec_from_file_location(
    "llm_cpu_throughput", ROOT / "benchmarks" / "llm_cpu_throughput.py"
)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data = make_survey()
    path = build_tiny_model(data, tmp_path_factory.mktemp("tiny"), seed=2)
    return data, str(path)


def _check_rows(part: dict, sizes: list[int], items: int) -> None:
    rows = part["rows"]
    assert [r["batch_size"] for r in rows] == sizes
    assert all(r["items"] == items and r["items_per_s"] > 0 for r in rows)
    assert all(r["tokens_per_s"] > 0 and r["speedup_vs_batch_1"] > 0 for r in rows)
    assert rows[0]["speedup_vs_batch_1"] == 1.0 and rows[0]["max_abs_diff_vs_batch_1"] == 0.0
    assert part["agree"] and part["max_abs_diff"] < part["tolerance"]


def test_batched_stages_are_timed_against_batch_1_and_agree_with_it(tiny):
    data, path = tiny
    tokenizer, model = load_causal_lm(path, dtype="float32", device="cpu")
    prompts, letter_lists = bench.survey_prompts(data, 7, seed=0)
    assert len(prompts) == 7 and all(p.rstrip().endswith("Answer:") for p in prompts)
    # Batch size 1 is added when missing, and 4 leaves a partial last batch of different lengths.
    scoring = bench.scoring_throughput(
        model, tokenizer, prompts, letter_lists, [4, 2], is_chat=False, repeats=1
    )
    _check_rows(scoring, [1, 2, 4], 7)
    texts = bench.choice_texts(data, 9, seed=0)
    hidden = bench.hidden_state_throughput(model, tokenizer, texts, [1, 4], repeats=1)
    _check_rows(hidden, [1, 4], 9)
    assert hidden["layers"] == model.config.num_hidden_layers + 1


@pytest.mark.slow
def test_main_reads_the_real_dataset_and_writes_table_and_json(tiny, shared_gems, tmp_path, capsys):
    _, path = tiny
    out = tmp_path / "report.json"
    report = bench.main(
        [
            "--model-dir",
            path,
            "--data-dir",
            str(shared_gems / "dunning_kruger"),
            "--n-prompts",
            "4",
            "--n-texts",
            "3",
            "--batch-sizes",
            "1",
            "4",
            "--hidden-batch-sizes",
            "2",
            "--repeats",
            "1",
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == report
    assert report["chat"] is False and report["threads"] == 1
    _check_rows(report["letter_scoring"], [1, 4], 4)
    _check_rows(report["hidden_states"], [1, 2], 3)
    table = capsys.readouterr().out
    assert table.count("| letter scoring |") == 2 and table.count("| hidden states |") == 2
    # The same prompts in bfloat16, timed against float32 batch 1 and compared letter by letter.
    (cast,) = report["letter_scoring"]["dtype_rows"]
    assert cast["dtype"] == "bfloat16" and cast["batch_size"] == 1 and cast["seconds"] > 0
    assert 0 <= cast["max_abs_diff_vs_batch_1"] < bench.DTYPE_TOLERANCE
    assert table.count("| letter scoring, bfloat16 | 1 |") == 1
