"""Every method family and GNN architecture, declared once; torch-free.

A method name in the config (``methods.<setting>``) belongs to exactly one family. A family says:

- ``pattern``: the names it answers to, a regular expression over placeholders the config fills:
  ``{gnn}`` (the GNN archs and configured variants), ``{models}`` (``llm.models``) and ``{features}``
  (``llm.models`` and ``llm.embedders``, the choice-text features). Named groups capture the parts;
- ``axes``: the setting axes it can answer (``individual``: settings 1 and 2, ``question``: setting 3);
- ``jobs``: the (rule, job folder) pairs that fit it for one seed, what the leaderboard's training cost
  measures;
- ``floor``: a model-free floor that every other method must clear (the leaderboard's pick);
- ``run``: for a family fitted by the generic rules ``baseline`` and ``learner``, the function
  ``"module:function"`` the rule's script calls.

The config checks, the rules' wildcard constraints, the leaderboard's training costs and floors, and
``docs/adding-a-method.md`` read this module. Adding a method is one :class:`Family` here plus its
function (``docs/adding-a-method.md``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

INDIVIDUAL, QUESTION = "individual", "question"
BOTH = (INDIVIDUAL, QUESTION)

# GEMS architectures: name -> what it is. ``gnn.methods.gnn.models`` builds each one's layer.
GNN_ARCHS: dict[str, str] = {
    "mf": "matrix factorisation: person and choice embeddings, no message passing",
    "rgcn": "relational GCN (RGCNConv), one weight per edge type",
    "gat": "graph attention (GATConv), multi-head",
    "sage": "GraphSAGE (SAGEConv), mean aggregation by default",
}


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str
    axes: tuple[str, ...]
    jobs: Callable[[str, Mapping[str, str], str], list[tuple[str, str]]]
    description: str
    floor: bool = False
    run: str | None = None
    rule: str | None = None

    def function(self) -> Callable[..., Any]:
        """The function the generic rule's script calls (``run``), imported on first use."""
        if self.run is None:
            raise ValueError(f"method family {self.name!r} has no run function")
        module, _, attr = self.run.partition(":")
        return getattr(importlib.import_module(module), attr)


def _own_job(rule: str) -> Callable[[str, Mapping[str, str], str], list[tuple[str, str]]]:
    """A family fitted by one job of ``rule`` in the method's own run folder."""
    return lambda method, groups, axis: [(rule, method)]


def _mapping_jobs(method: str, groups: Mapping[str, str], axis: str) -> list[tuple[str, str]]:
    return [("map_llm_to_gnn", method), ("train_gnn_new_questions", groups["gnn"])]


def _model_job(rule: str) -> Callable[[str, Mapping[str, str], str], list[tuple[str, str]]]:
    """An LLM family whose job is per model (one CoT or LoRA run serves the model's method name)."""
    return lambda method, groups, axis: [(rule, groups["model"])]


def _baseline(name: str, axes: tuple[str, ...], description: str) -> Family:
    return Family(
        name,
        name,
        axes,
        _own_job("baseline"),
        description,
        floor=True,
        run=f"gemsflow.methods.baselines:run_{name}",
        rule="baseline",
    )


def _learner(name: str, description: str) -> Family:
    return Family(
        name,
        name,
        (INDIVIDUAL,),
        _own_job("learner"),
        description,
        run=f"gemsflow.methods.learners:run_{name}",
        rule="learner",
    )


# Floors come first, in this order (the leaderboard's): no-information floors, then per-question floors.
FAMILIES: tuple[Family, ...] = (
    _baseline("uniform", BOTH, "floor: 1/K per option"),
    _baseline(
        "position_prior",
        BOTH,
        "floor: each option position's share among training answers of training questions with the "
        "same number of options",
    ),
    _baseline(
        "majority",
        BOTH,
        "floor: the question's answer distribution among training answers (flat on a new question)",
    ),
    _baseline(
        "subgroup_majority",
        BOTH,
        "floor: the question's answer distribution within the person's subgroup of the trait that is "
        "best on validation (flat on a new question)",
    ),
    _learner(
        "logreg",
        "per-question multinomial logistic regression (scikit-learn) on one-hot traits and, in setting "
        "1, the person's other revealed answers; optional feature sets `+summary`, `+ordinal`, "
        "`+neighbours` and `masks` (`learners.logreg`); feature set and `C` chosen on validation",
    ),
    _learner(
        "gbt",
        "opt-in: the same per-question design as `logreg`, fitted with histogram gradient boosting "
        "(`learners.gbt`)",
    ),
    _learner(
        "mlp",
        "opt-in: the same per-question design as `logreg`, fitted with a one-hidden-layer perceptron "
        "(`learners.mlp`)",
    ),
    Family(
        "gbt_pooled",
        "gbt_pooled",
        (INDIVIDUAL,),
        _own_job("learner"),
        "opt-in: one histogram gradient boosting model over (person, question, option) rows, the "
        "question and option as features; feature set and settings chosen on validation "
        "(`learners.gbt_pooled`)",
        run="gemsflow.methods.pooled_learners:run_gbt_pooled",
        rule="learner",
    ),
    Family(
        "mlp_pooled",
        "mlp_pooled",
        (INDIVIDUAL,),
        _own_job("learner"),
        "opt-in: one torch network over (person, question) pairs scored against learned option "
        "embeddings; feature set, settings and epoch checkpoint chosen on validation "
        "(`learners.mlp_pooled`)",
        run="gemsflow.methods.pooled_learners:run_mlp_pooled",
        rule="learner",
    ),
    Family(
        "ensemble",
        "ensemble",
        BOTH,
        _own_job("ensemble"),
        "weighted average of other runs' predicted distributions on the same split; members and "
        "weights by greedy forward selection on validation (`learners.ensemble`), cross-fitted",
    ),
    Family(
        "gnn",
        "{gnn}",
        (INDIVIDUAL,),
        _own_job("train_gnn"),
        "GEMS: heterogeneous GNN over people, subgroups and answer choices (PyG `HeteroConv`), "
        "dot-product decoder, softmax over the question's options; `<gnn>` is an arch of "
        "`GNN_ARCHS` (`mf`: no message passing) or a `gnn.variants` entry; epoch chosen on validation",
    ),
    Family(
        "mapping",
        "mapping-(?P<gnn>{gnn})-(?P<features>{features})",
        (QUESTION,),
        _mapping_jobs,
        "ridge map from choice-text features (embeddings or an LLM's hidden states) to the GNN's "
        "choice embeddings; feature variant, alpha and layer chosen on validation questions",
    ),
    Family(
        "similar",
        "similar-(?P<features>{features})",
        BOTH,
        _own_job("similar_questions"),
        "for each new option, the answer shares of the training options that read most alike "
        "(cosine similarity of `<features>`), the person's own lean and the position prior, combined "
        "by a conditional logit fitted on training questions; needs no GNN",
    ),
    Family(
        "prompting",
        "(?P<kind>zeroshot|fewshot)-(?P<model>{models})",
        BOTH,
        _own_job("llm_prompting"),
        "LLM prompting with a persona from the person's traits; few-shot shows the person's own most "
        "similar training answers; scored on the option letters only",
    ),
    Family(
        "cot",
        "cot-(?P<model>{models})",
        BOTH,
        _model_job("llm_cot"),
        "agentic chain of thought: one reflection per person, then a JSON answer per question; "
        "invalid answers counted",
    ),
    Family(
        "lora",
        "lora-(?P<model>{models})",
        BOTH,
        _model_job("llm_lora"),
        "LoRA fine-tuning (peft) on the answer letter's tokens; epoch chosen on validation",
    ),
)

FLOOR_METHODS: tuple[str, ...] = tuple(f.name for f in FAMILIES if f.floor)


def _names(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The names the config gives the families' placeholders."""
    llm = config.get("llm") or {}
    models = list(llm.get("models") or {})
    gnn = config.get("gnn") or {}
    return {
        "gnn": [*GNN_ARCHS, *(gnn.get("variants") or {})],
        "models": models,
        "features": [*models, *(llm.get("embedders") or {})],
    }


def placeholders(config: Mapping[str, Any]) -> dict[str, str]:
    """The placeholders as regular expressions; longest name first, so that a variant ``sage-long``
    is not read as ``sage`` plus a rest."""
    return {
        key: "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))) or "(?!)"
        for key, names in _names(config).items()
    }


@dataclass(frozen=True)
class Method:
    """A configured method name resolved to its family and the parts its name names."""

    name: str
    family: Family
    groups: dict[str, str]

    def jobs(self, axis: str) -> list[tuple[str, str]]:
        return self.family.jobs(self.name, self.groups, axis)

    @property
    def model(self) -> str | None:
        """The language model behind the method (an LLM's model or the mapping's features), if any."""
        return self.groups.get("model") or self.groups.get("features")


def resolve(name: str, config: Mapping[str, Any]) -> Method | None:
    """The family a method name belongs to under this config, or None for an unknown name."""
    fill = placeholders(config)
    for family in FAMILIES:
        match = re.fullmatch(family.pattern.format(**fill), name)
        if match:
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            return Method(name, family, groups)
    return None


def rule_pattern(rule: str) -> str:
    """The wildcard constraint of a generic rule: every fixed method name that rule fits."""
    return "|".join(f.pattern for f in FAMILIES if f.rule == rule)


def family_of_rule(rule: str, method: str) -> Family:
    """The family a generic rule (``baseline``, ``learner``) fits under a method name."""
    for family in FAMILIES:
        if family.rule == rule and family.pattern == method:
            return family
    raise ValueError(f"rule {rule} fits no method called {method!r}; see gemsflow.methods.registry")


def _shown(pattern: str) -> str:
    """A family's pattern as a user would read it: ``mapping-{gnn}-{features}``, ``<zeroshot|fewshot>-...``."""
    return re.sub(
        r"\(\?P<\w+>([^)]*)\)",
        lambda m: m.group(1) if m.group(1).startswith("{") else f"<{m.group(1)}>",
        pattern,
    )


def human_patterns(config: Mapping[str, Any]) -> list[str]:
    """Each family's names as a user would write them, for error messages."""
    fill = {k: f"<{'|'.join(v)}>" for k, v in _names(config).items()}
    return [_shown(family.pattern).format(**fill) for family in FAMILIES]


def claims_name(name: str) -> bool:
    """A name a family claims whatever the config (a fixed name, an arch, or a kind prefix)."""
    if name in GNN_ARCHS:
        return True
    for family in FAMILIES:
        fixed = re.fullmatch(r"[\w]+", family.pattern)
        if fixed and name == family.pattern:
            return True
        prefix = re.match(r"\(\?P<kind>([\w|]+)\)-|([\w]+)-", family.pattern)
        if prefix:
            kinds = (prefix.group(1) or prefix.group(2)).split("|")
            if name.partition("-")[0] in kinds:
                return True
    return False


def methods_table() -> str:
    """The markdown table of the method families that the README shows (a test keeps them equal)."""
    axes = {INDIVIDUAL: "individual", QUESTION: "question"}
    rows = [
        "| method (run directory) | what it is | setting axis | fitted by |",
        "|---|---|---|---|",
    ]
    for family in FAMILIES:
        # A bar inside a table cell ends the cell, even within code.
        names = _shown(family.pattern).replace("{", "<").replace("}", ">").replace("|", "\\|")
        fitted = (
            f"rule `{family.rule}`"
            if family.rule
            else ", ".join(
                sorted({f"`{rule}`" for rule, _ in family.jobs("<m>", _EXAMPLE_GROUPS, INDIVIDUAL)})
            )
        )
        rows.append(
            f"| `{names}` | {family.description} | "
            f"{' or '.join(axes[a] for a in family.axes)} | {fitted} |"
        )
    return "\n".join(rows)


# Placeholder parts, so that a family's jobs can be listed without a config.
_EXAMPLE_GROUPS = {"gnn": "<gnn>", "model": "<model>", "features": "<features>"}
