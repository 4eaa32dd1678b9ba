"""Evidence that simulated subgroup distributions can be trusted, measured on held-out questions.

Each setting-3 split's test questions are simulated as if they were a new study, through the same code
as a real study (:func:`gemsflow.simulation.simulate` on a model directory whose GNN and mapping never saw
those questions). Predicted answer shares of every subgroup (trait category) are compared with the shares
observed among the subgroup's people who answered: total variation on nominal questions, Wasserstein-1 on
ordinal ones (:func:`gemsflow.evaluation.distribution_distance`). The honest alternatives on the same
questions:

* ``position_prior``: answer-position shares over the training questions with the same number of options;
* ``pooled_subgroup``: the same, within the subgroup;
* ``zeroshot-<model>``: an LLM's letter probabilities for the question asked of the subgroup (one prompt
  per subgroup, naming its trait value).

Shares are survey-weighted (person weights) on both sides.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gemsflow import mapping
from gemsflow.evaluation import distribution_distance
from gemsflow.studies import Study, StudyQuestion
from gemsflow.survey import SurveyData

ALL = "all"


def test_study(data: SurveyData, questions: list[str], name: str) -> Study:
    """The dataset's held-out questions as a study, broken down by every trait."""
    meta = data.questions.set_index("question")
    options = data.options.sort_values(["question", "position"])
    return Study(
        name,
        f"{data.name} held-out questions",
        name,
        tuple(
            StudyQuestion(
                key=q,
                text=str(meta.loc[q, "text"]),
                options=tuple(options.loc[options["question"] == q, "text"].astype(str)),
                ordinal=bool(meta.loc[q, "ordinal"]),
                population={},
                breakdown=tuple(data.trait_names),
            )
            for q in questions
        ),
    )


def study_features_from_dataset(
    features: mapping.ChoiceFeatures, data: SurveyData, questions: list[str]
) -> mapping.ChoiceFeatures:
    """The dataset's own choice features renamed to study keys (``<question>_option_<position + 1>``).

    Study choices are coded 1..K in display order; the dataset's features were built from the same
    question and option texts, so they are what :func:`gemsflow.simulation.study_features` would compute.
    """
    opts = data.options.loc[data.options["question"].isin(questions)]
    rows = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    keys = [f"{q}_option_{p + 1}" for q, p in zip(opts["question"], opts["position"], strict=True)]
    take = rows.loc[opts["choice"]].to_numpy()
    return mapping.ChoiceFeatures(
        keys,
        list(features.layers),
        features.states[take],
        {name: values[take] for name, values in features.variants.items()},
        features.variant,
    )


def answered(data: SurveyData, split: pd.DataFrame, part: str) -> pd.DataFrame:
    """Answers of one split part with the answer's position, the question's K and the person's traits."""
    keys = split.loc[split["part"] == part, ["individual", "question"]].astype(str)
    rows = data.responses[["individual", "question", "code"]].astype({"individual": str})
    rows = rows.merge(keys, on=["individual", "question"])
    rows = rows.merge(data.options[["question", "code", "position"]], on=["question", "code"])
    rows = rows.merge(data.questions[["question", "n_options"]], on="question")
    people = data.individuals[["individual", "weight", *data.trait_names]].astype(
        {"individual": str}
    )
    return rows.merge(people, on="individual").drop(columns="code")


def _shares(frame: pd.DataFrame, keys: list[str], value: str, k: int) -> pd.DataFrame:
    """Weighted shares by position (columns 0..k-1) for each combination of ``keys``."""
    table = frame.pivot_table(
        index=keys, columns="position", values=value, aggfunc="sum", fill_value=0.0
    )
    table = table.reindex(columns=range(k), fill_value=0.0)
    return table.div(table.sum(axis=1), axis=0)


def _long(frame: pd.DataFrame, traits: list[str]) -> pd.DataFrame:
    """One copy of each row per trait (and one for everyone), with columns ``trait`` and ``group``."""
    parts = [frame.assign(trait=ALL, group=ALL)]
    for trait in traits:
        known = frame.loc[frame[trait].notna()]
        parts.append(known.assign(trait=trait, group=known[trait].astype(str)))
    return pd.concat(parts, ignore_index=True).drop(columns=traits)


def subgroup_distances(
    data: SurveyData,
    split: pd.DataFrame,
    predicted: pd.DataFrame,
    llm: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Distance of each method's share to the observed share, per (test question, trait, group).

    ``predicted``: simulate's per-person rows (``individual``, ``question``, ``position``, ``prob``) of
    one seed. ``llm``: ``question``, ``trait``, ``group``, ``position``, ``prob`` (or None).
    """
    traits = data.trait_names
    k_max = int(data.questions["n_options"].max())
    test = _long(answered(data, split, "test").assign(value=lambda f: f["weight"]), traits)
    keys = ["question", "trait", "group"]
    observed = _shares(test, keys, "value", k_max)
    sizes = test.groupby(keys)["value"].size().loc[observed.index]

    per_person = test[["individual", "question", "trait", "group", "weight"]].drop_duplicates()
    pred = per_person.merge(
        predicted[["individual", "question", "position", "prob"]].astype({"individual": str}),
        on=["individual", "question"],
    )
    methods = {"gemsflow": _shares(pred.assign(value=pred["weight"] * pred["prob"]), keys,
                                   "value", k_max)}  # fmt: skip

    train = _long(answered(data, split, "train").assign(value=lambda f: f["weight"]), traits)
    prior = _shares(train.loc[train["trait"] == ALL], ["n_options"], "value", k_max)
    pooled = _shares(train, ["trait", "group", "n_options"], "value", k_max)
    meta = data.questions.set_index("question").loc[observed.index.get_level_values("question")]
    n_options = meta["n_options"].to_numpy()
    uniform = (np.arange(k_max)[None, :] < n_options[:, None]) / n_options[:, None]
    prior_rows = prior.reindex(n_options).to_numpy()
    prior_rows = np.where(np.isnan(prior_rows), uniform, prior_rows)
    pooled_rows = pooled.reindex(
        pd.MultiIndex.from_arrays(
            [
                observed.index.get_level_values("trait"),
                observed.index.get_level_values("group"),
                n_options,
            ]
        )
    ).to_numpy()
    methods["position_prior"] = prior_rows
    methods["pooled_subgroup"] = np.where(np.isnan(pooled_rows), prior_rows, pooled_rows)
    if llm is not None:
        llm_shares = _shares(llm.assign(value=llm["prob"]), keys, "value", k_max)
        methods[f"zeroshot-{llm.attrs.get('model', 'llm')}"] = llm_shares.reindex(observed.index)

    ordinal = meta["ordinal"].to_numpy(bool)
    out = observed.index.to_frame(index=False).assign(
        n=sizes.to_numpy(), n_options=n_options, ordinal=ordinal,
        metric=np.where(ordinal, "wasserstein", "total_variation"),
    )  # fmt: skip
    for name, shares in methods.items():
        values = shares.reindex(observed.index).to_numpy() if hasattr(shares, "reindex") else shares
        out[name] = distribution_distance(values, observed.to_numpy(), ordinal, n_options)[0]
    return out


def summarise(rows: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Per method: subgroup-size-weighted mean distance over subgroups (TV nominal, W1 ordinal) and the
    plain mean over questions of the whole population's distance."""
    records = []
    sub = rows.loc[rows["trait"] != ALL]
    pop = rows.loc[rows["trait"] == ALL]
    for method in methods:
        record = {"method": method}
        for metric, label in (("total_variation", "tv"), ("wasserstein", "w1")):
            s = sub.loc[sub["metric"] == metric]
            ok = s[method].notna()
            weights = s.loc[ok, "n"]
            record[f"subgroup_{label}"] = (
                float(np.average(s.loc[ok, method], weights=weights)) if ok.any() else np.nan
            )
            p = pop.loc[pop["metric"] == metric, method]
            record[f"population_{label}"] = float(p.mean()) if len(p) else np.nan
            record[f"n_questions_{label}"] = int(pop["metric"].eq(metric).sum())
        records.append(record)
    return pd.DataFrame(records)


def llm_prompts(data: SurveyData, study: Study, groups: pd.DataFrame) -> list[dict]:
    """One zero-shot prompt per (question, trait, group): the subgroup's trait line, then the question."""
    from gemsflow.llm import templates
    from gemsflow.survey import letters

    describe = {t.name: t.description for t in data.traits}
    questions = {q.key: q for q in study.questions}
    records = []
    for question, trait, group in groups[["question", "trait", "group"]].itertuples(index=False):
        q = questions[question]
        marks = letters(len(q.options))
        target = templates.question_block(q.text, list(q.options), marks)
        if trait == ALL:
            prompt = target
        else:
            persona = f"{templates.PERSONA_HEADER}\n{describe[trait]}: {group}"
            prompt = templates.assemble(persona, [], target)
        records.append({"question": question, "trait": trait, "group": group, "prompt": prompt,
                        "letters": marks})  # fmt: skip
    return records


def llm_shares(backend, data: SurveyData, study: Study, groups: pd.DataFrame) -> pd.DataFrame:
    """Letter probabilities of every subgroup prompt as answer shares (long format)."""
    records = llm_prompts(data, study, groups)
    scores = backend.letter_scores([r["prompt"] for r in records], [r["letters"] for r in records])
    rows = [
        (r["question"], r["trait"], r["group"], position, float(p))
        for r, s in zip(records, scores, strict=True)
        for position, p in enumerate(s.probs)
    ]
    return pd.DataFrame(rows, columns=["question", "trait", "group", "position", "prob"])


METHOD_COLUMNS_AFTER = "metric"


def heldout_table(rows: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, str]:
    """Per method, mean and std over seeds of :func:`summarise`; and a markdown rendering."""
    methods = list(rows.columns[rows.columns.get_loc(METHOD_COLUMNS_AFTER) + 1 :].drop("seed"))
    per_seed = pd.concat(
        [summarise(r, methods).assign(seed=s) for s, r in rows.groupby("seed")], ignore_index=True
    )
    values = [c for c in per_seed.columns if c not in ("method", "seed")]
    mean = per_seed.groupby("method", sort=False)[values].mean()
    std = per_seed.groupby("method", sort=False)[values].std(ddof=0)
    table = mean.join(std.add_suffix("_std")).reset_index()
    table.insert(1, "n_seeds", per_seed["seed"].nunique())
    seeds = sorted(per_seed["seed"].unique().tolist())
    lines = [
        f"# Simulated subgroup distributions on held-out questions: {dataset} (setting-3 splits, seeds "
        f"{seeds})",
        "",
        "Distance between predicted and observed answer shares (lower is better): total variation (TV) on "
        "nominal questions, Wasserstein-1 (W1, in option steps) on ordinal ones. Subgroup columns average "
        "every trait category of every test question, weighted by its number of answers; population "
        "columns average the test questions. Mean ± std over seeds.",
        "",
        "| method | subgroup TV | subgroup W1 | population TV | population W1 |",
        "|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        cells = [
            "n/a"
            if np.isnan(getattr(r, c))
            else f"{getattr(r, c):.4f} ± {getattr(r, c + '_std'):.4f}"
            for c in ("subgroup_tv", "subgroup_w1", "population_tv", "population_w1")
        ]
        lines.append(f"| {r.method} | " + " | ".join(cells) + " |")
    n_tv, n_w1 = int(table["n_questions_tv"].iloc[0]), int(table["n_questions_w1"].iloc[0])
    lines += [
        "",
        f"Per seed: {n_tv:g} nominal and {n_w1:g} ordinal test questions (mean over seeds).",
    ]
    return table, "\n".join(lines) + "\n"
