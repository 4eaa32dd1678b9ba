"""Synthetic Pew ATP waves (gemsflow.data.datasets.atp_synthetic) read by the OpinionQA reader, as a
user's downloads are: small versions of the full-size set, written from the shipped OpinionQA texts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from gemsflow.data.datasets.atp_synthetic import (
    DEFAULT_RESPONDENTS,
    FORM_KEY,
    REFUSED,
    pew_columns,
    read_questions,
    write_atp_dataset,
)
from gemsflow.data.datasets.opinionqa import TRAIT_COLUMNS, load_opinionqa
from gemsflow.errors import InputDataError

# The waves with fewer than 30 shipped questions: the reference's per-wave 30-answer rule empties them.
SMALL_WAVES = [29, 32, 34, 42, 45, 49, 92]


def _entry(shared_gems, tmp_path, **generator):
    return {
        "format": "opinionqa",
        "dir": str(shared_gems / "opinionqa"),
        "prefix": "opinionqa",
        "raw_dir": str(tmp_path / "raw"),
        "min_answers": 30,
        "strict_traits": True,
        "generator": {"seed": 3, **generator},
    }


@pytest.fixture(scope="module")
def small_set(shared_gems, tmp_path_factory):
    """All 14 waves, 40 respondents each, and what the generator says it wrote."""
    entry = _entry(shared_gems, tmp_path_factory.mktemp("atp"), respondents=40, panel_size=300)
    return entry, write_atp_dataset(entry)


def test_default_size_is_76000_respondent_waves_over_the_14_shipped_waves(shared_gems):
    questions = read_questions(shared_gems / "opinionqa", "opinionqa")
    assert sorted(questions) == sorted(DEFAULT_RESPONDENTS)
    assert sum(DEFAULT_RESPONDENTS.values()) == 76_000
    assert sum(len(q) for q in questions.values()) == 493
    # Options parsed from the shipped choice blocks keep the shipped codes, e.g. 1, 2, 8.
    evo = next(q for q in questions[34] if q.key == "EVOBIOA_W34")
    assert evo.codes == [1, 2, 8]


@pytest.mark.slow
def test_waves_are_laid_out_like_pew_releases(small_set, shared_gems):
    entry, written = small_set
    questions = read_questions(shared_gems / "opinionqa", "opinionqa")
    for wave in (36, 54):
        frame, meta = pyreadstat.read_sav(f"{entry['raw_dir']}/ATP W{wave}.sav")
        assert len(frame) == 40 and frame["QKEY"].is_unique
        keys = [q.key for q in questions[wave]]
        assert set(keys) <= set(frame.columns)
        columns = pew_columns(wave)
        assert {c.name for c in columns.values()} <= set(frame.columns)
        assert frame[f"WEIGHT_W{wave}"].gt(0).all()
        labels = meta.variable_value_labels
        first = questions[wave][0]
        assert labels[first.key] == {
            **dict(zip(map(float, first.codes), first.labels, strict=True)),
            float(REFUSED): "Refused",
        }
        assert written["waves"][str(wave)]["respondents"] == 40
    # Pew renamed its demographic columns over the years; the reader knows both generations.
    assert pew_columns(36)["sex"].name == "F_SEX_FINAL"
    assert pew_columns(54)["sex"].name == "F_GENDER"
    # A form-split question is asked of one form only; the other half is system-missing.
    frame, _ = pyreadstat.read_sav(f"{entry['raw_dir']}/ATP W36.sav")
    form_one = [q.key for q in questions[36] if (m := FORM_KEY.search(q.key)) and m[1] == "1"]
    assert form_one and frame.loc[frame["FORM_W36"] == 2, form_one].isna().all().all()


@pytest.mark.slow
def test_reader_counts_every_answer_and_refusal_the_generator_wrote(small_set):
    entry, written = small_set
    data = load_opinionqa("atp", {**entry, "min_answers": 0})
    total = written["total"]
    assert len(data.individuals) == 14 * 40 == total["respondents"]
    assert len(data.responses) == total["answers"]
    assert data.filter_log["refusals"]["total"] == total["refusals"]
    assert {w: r["refusals"] for w, r in written["waves"].items()} == data.filter_log["refusals"][
        "waves"
    ]
    assert set(data.options_of()) == set(data.questions["question"])
    assert len(data.options) == 1876  # the shipped option set, no refusal among them
    # Individuals are per wave: a panel member in two waves is two individuals.
    respondents = data.individuals["individual"].str.rpartition("_W")[0]
    assert respondents.duplicated().any()


@pytest.mark.slow
def test_min_answers_rule_empties_the_small_waves_and_says_so(small_set, caplog):
    entry, _ = small_set
    with caplog.at_level(logging.WARNING):
        data = load_opinionqa("atp", entry)
    emptied = [
        int(w)
        for w, counts in data.filter_log["waves"].items()
        if counts["removed"] == counts["individuals_before"]
    ]
    assert emptied == SMALL_WAVES
    assert set(data.individuals["wave"]) == {26, 36, 41, 43, 50, 54, 82}
    for wave in SMALL_WAVES:
        assert f"wave {wave} loses all 40 individuals" in caplog.text
    unanswered = data.filter_log["unanswered_questions"]
    assert {int(q.rpartition("_W")[2]) for q in unanswered} == set(SMALL_WAVES)
    assert "141 question(s) have no answers left" in caplog.text
    # Pooled counting keeps the small waves' respondents who answered 30 in all their waves.
    pooled = load_opinionqa("atp", {**entry, "min_answers_scope": "pooled"})
    assert set(SMALL_WAVES) <= set(pooled.individuals["wave"])


@pytest.mark.slow
def test_every_pew_demographic_label_gets_the_category_it_stands_for(small_set):
    entry, _ = small_set
    data = load_opinionqa("atp", {**entry, "min_answers": 0})
    people = data.individuals.set_index("individual")
    checked = 0
    for wave in DEFAULT_RESPONDENTS:
        frame, _ = pyreadstat.read_sav(f"{entry['raw_dir']}/ATP W{wave}.sav")
        ids = [f"{int(q)}_W{wave}" for q in frame["QKEY"]]
        for trait, column in pew_columns(wave).items():
            meant = [column.codes[int(c)][1] for c in frame[column.name]]
            read = people.loc[ids, trait]
            assert [None if pd.isna(v) else v for v in read] == meant, (wave, trait)
            checked += sum(m is not None for m in meant)
    assert checked > 0.95 * 14 * 40 * len(TRAIT_COLUMNS)
    # Refusals are counted, per trait, in the filter log; no label went without a category.
    assert data.filter_log["traits"]["unmapped"] == {}
    assert sum(data.filter_log["traits"]["refused"].values()) > 0


@pytest.mark.slow
def test_answers_depend_on_traits_so_subgroups_beat_the_overall_majority(shared_gems, tmp_path):
    """Half of each wave's people predict the other half: the majority answer within the person's
    party beats the overall majority answer."""
    entry = _entry(shared_gems, tmp_path, respondents=600, panel_size=1500)
    entry["waves"] = [26, 43]
    write_atp_dataset(entry)
    data = load_opinionqa("atp", entry)
    table = data.responses.merge(data.individuals[["individual", "polparty"]], on="individual")
    table = table.dropna(subset=["polparty"])
    train = table["individual"].str.rpartition("_W")[0].astype(int) % 2 == 0
    overall = table[train].groupby("question")["code"].agg(lambda c: c.mode().iloc[0])
    by_party = (
        table[train].groupby(["question", "polparty"])["code"].agg(lambda c: c.mode().iloc[0])
    )
    test = table[~train]
    overall_acc = (test["question"].map(overall) == test["code"]).mean()
    keys = pd.MultiIndex.from_frame(test[["question", "polparty"]])
    party_acc = (by_party.reindex(keys).to_numpy() == test["code"].to_numpy()).mean()
    assert party_acc > overall_acc + 0.03, (party_acc, overall_acc)


def test_same_seed_same_answers_and_a_wave_does_not_depend_on_the_others(shared_gems, tmp_path):
    first = _entry(shared_gems, tmp_path / "a", respondents=30, panel_size=100)
    first["waves"] = [26, 34]
    second = _entry(shared_gems, tmp_path / "b", respondents=30, panel_size=100)
    second["waves"] = [34]
    write_atp_dataset(first)
    write_atp_dataset(second)
    a, _ = pyreadstat.read_sav(f"{first['raw_dir']}/ATP W34.sav")
    b, _ = pyreadstat.read_sav(f"{second['raw_dir']}/ATP W34.sav")
    pd.testing.assert_frame_equal(a, b)
    third = _entry(shared_gems, tmp_path / "c", respondents=30, panel_size=100)
    third["generator"]["seed"] = 4
    third["waves"] = [34]
    write_atp_dataset(third)
    c, _ = pyreadstat.read_sav(f"{third['raw_dir']}/ATP W34.sav")
    assert not np.array_equal(a.to_numpy(), c.to_numpy())


def test_bad_generator_settings_name_the_field(shared_gems, tmp_path):
    entry = _entry(shared_gems, tmp_path, respondents=500, panel_size=100)
    with pytest.raises(InputDataError, match="generator.respondents.*panel_size"):
        write_atp_dataset(entry)
    entry = _entry(shared_gems, tmp_path, respondents={26: 10})
    with pytest.raises(InputDataError, match=r"no respondent count for waves \[29"):
        write_atp_dataset(entry)
    entry = _entry(shared_gems, tmp_path, respondets=10)
    with pytest.raises(InputDataError, match="generator.respondets"):
        write_atp_dataset(entry)
