"""One registry of methods: every configured name resolves to one family, the docs print it, and a new
method or GNN architecture is added by touching two files."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, load_config, snakemake, tiny_config

from gemsflow.config_checks import check_config
from gemsflow.errors import InputDataError
from gemsflow.methods import registry

SCHEMA = ROOT / "config" / "schema.yaml"


def every_configured_method():
    files = [ROOT / "config/config.yaml", *sorted((ROOT / "config/examples").glob("*.yaml"))]
    base = load_config()
    for path in files:
        example = yaml.safe_load(path.read_text()) or {}
        llm = {**base["llm"], **(example.get("llm") or {})}
        llm["models"] = {
            **base["llm"]["models"],
            **((example.get("llm") or {}).get("models") or {}),
        }
        gnn = {**base["gnn"], **(example.get("gnn") or {})}
        # Variants merge as config overlays do: an example's variants add to the main config's.
        gnn["variants"] = {
            **base["gnn"]["variants"],
            **((example.get("gnn") or {}).get("variants") or {}),
        }
        config = {**base, "llm": llm, "gnn": gnn}
        lists = list((example.get("methods") or base["methods"]).values())
        for per_setting in (example.get("dataset_methods") or base["dataset_methods"]).values():
            lists += list(per_setting.values())
        for methods in lists:
            for method in methods:
                yield path.name, method, config


@pytest.mark.slow
def test_every_shipped_method_name_resolves_to_exactly_one_family():
    seen = 0
    for source, method, config in every_configured_method():
        fill = registry.placeholders(config)
        families = [
            f
            for f in registry.FAMILIES
            if pd.Series([method]).str.fullmatch(f.pattern.format(**fill))[0]
        ]
        assert len(families) == 1, (source, method, [f.name for f in families])
        seen += 1
    assert seen > 30


def test_resolution_names_the_jobs_the_leaderboard_measures():
    config = load_config()
    assert registry.resolve("majority", config).jobs("individual") == [("baseline", "majority")]
    mapping = registry.resolve("mapping-sage-minilm", config)
    assert mapping.groups == {"gnn": "sage", "features": "minilm"}
    assert mapping.jobs("question") == [
        ("map_llm_to_gnn", "mapping-sage-minilm"),
        ("train_gnn_new_questions", "sage"),
    ]
    assert registry.resolve("cot-tiny", config).jobs("individual") == [("llm_cot", "tiny")]
    assert registry.resolve("cot-tiny", config).model == "tiny"
    assert registry.resolve("cot-nosuchmodel", config) is None
    # A variant whose name extends an arch's is its own method, never the arch plus a rest.
    config["gnn"]["variants"] = {"sage-long": {"arch": "sage"}}
    long = registry.resolve("mapping-sage-long-minilm", config)
    assert long.groups["gnn"] == "sage-long"


def test_floors_are_the_families_flagged_floor_in_leaderboard_order():
    assert registry.FLOOR_METHODS == ("uniform", "position_prior", "majority", "subgroup_majority")
    assert registry.rule_pattern("baseline") == "|".join(registry.FLOOR_METHODS)
    assert registry.rule_pattern("learner") == "logreg|gbt|mlp|gbt_pooled|mlp_pooled"
    for family in registry.FAMILIES:
        if family.run:
            assert callable(family.function()), family.name


def test_a_method_under_a_setting_it_cannot_answer_is_refused_before_any_job():
    config = load_config()
    config["methods"]["setting3"] = [*config["methods"]["setting3"], "logreg"]
    with pytest.raises(InputDataError, match=r"methods\.setting3\[4\].*axis individual.*setting3"):
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])


def test_an_unknown_arch_is_refused_with_the_registry_names():
    config = load_config()
    config["simulate"] = {"arch": "sag"}
    with pytest.raises(InputDataError, match="simulate.arch.*did you mean 'sage'"):
        check_config(config, SCHEMA, [str(ROOT / "config/config.yaml")])


def test_the_readme_shows_the_registry_table():
    readme = (ROOT / "README.md").read_text()
    assert registry.methods_table() in readme


TOY_FUNCTION = """
from gemsflow.methods.baselines import majority


def run_shrunk_majority(data, split, options, *, seed, folds):
    smoothing = 10 * options["smoothing"]
    return majority(data, split, smoothing=smoothing), {"smoothing": smoothing}
"""

TOY_FAMILY = """    Family(
        "shrunk_majority",
        "shrunk_majority",
        BOTH,
        _own_job("baseline"),
        "majority with ten times the smoothing",
        run="gemsflow.methods.shrunk:run_shrunk_majority",
        rule="baseline",
    ),
)
"""

TOY_CONV = """

def _graph_conv(dims, out, heads, cfg):
    from torch_geometric.nn import GraphConv

    return GraphConv(dims, out, aggr=cfg["aggregation"])


CONVS["graphconv"] = _graph_conv
"""


def changed_files(work: Path) -> list[str]:
    """Files of the copy's src/ that differ from the project's (new files included)."""
    changed = []
    for path in sorted((work / "src").rglob("*.py")):
        original = ROOT / path.relative_to(work)
        if not original.exists() or not filecmp.cmp(path, original, shallow=False):
            changed.append(str(path.relative_to(work)))
    return changed


@pytest.mark.slow
def test_a_new_method_and_a_new_arch_each_take_two_files(workdir):
    registry_file = workdir / "src/gemsflow/methods/registry.py"
    text = registry_file.read_text()
    # The method: its function in a new module, its family in the registry.
    (workdir / "src/gemsflow/methods/shrunk.py").write_text(TOY_FUNCTION)
    end_of_families = text.index("\n)\n", text.index("FAMILIES: tuple"))
    text = text[: end_of_families + 1] + TOY_FAMILY + text[end_of_families + 3 :]
    # The architecture: its name in the registry, its layer in models.py.
    text = text.replace(
        "GNN_ARCHS: dict[str, str] = {",
        'GNN_ARCHS: dict[str, str] = {\n    "graphconv": "GraphConv, one per relation",',
    )
    registry_file.write_text(text)
    models = workdir / "src/gemsflow/methods/gnn/models.py"
    models.write_text(models.read_text() + TOY_CONV)
    assert changed_files(workdir) == [
        "src/gemsflow/methods/gnn/models.py",
        "src/gemsflow/methods/registry.py",
        "src/gemsflow/methods/shrunk.py",
    ]

    gnn = load_config()["gnn"]
    gnn["datasets"] = {"tiny": {"training": {"max_epochs": 3, "patience": 3, "steps_per_epoch": 2}}}
    config = tiny_config(
        workdir,
        gnn=gnn,
        methods={
            "setting1": ["majority", "shrunk_majority", "graphconv"],
            "setting2": [],
            "setting3": [],
        },
    )
    snakemake(workdir, "--configfile", str(config), "--", "results/setting1/tiny/")
    runs = workdir / "results/runs/setting1/tiny"
    info = json.loads((runs / "shrunk_majority/seed42/run_info.json").read_text())
    assert info["smoothing"] == 10 * load_config()["baselines"]["smoothing"]
    gnn_info = json.loads((runs / "graphconv/seed42/run_info.json").read_text())
    assert gnn_info["arch"] == "graphconv"
    board = pd.read_csv(workdir / "results/setting1/tiny/summary.tsv", sep="\t")
    rows = board.set_index(board.columns[0])
    assert {"majority", "shrunk_majority", "graphconv"} <= set(rows.index)
    # The new baseline is a floor (the registry says so), and its training cost is measured.
    assert (
        workdir / "results/benchmarks/baseline/setting1/tiny/shrunk_majority/seed42.tsv"
    ).exists()
    assert (workdir / "results/benchmarks/train_gnn/setting1/tiny/graphconv/seed42.tsv").exists()
