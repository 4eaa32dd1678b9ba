"""Evidence that simulated subgroup distributions can be trusted, measured on held-out questions.

Each setting-3 split's test questions are simulated as if they were a new study, through the same code
as a real study (:func:`gemsflow.simulation.production.simulate` on a model directory whose GNN and mapping never saw
those questions). Predicted answer shares of every subgroup (trait category) are compared with the shares
observed among the subgroup's people who answered: total variation on nominal questions, Wasserstein-1 on
ordinal ones (:func:`gemsflow.evaluation.run_metrics.distribution_distance`). The honest alternatives on the same
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

from gemsflow.data.survey import SurveyData, join_answers
from gemsflow.evaluation.run_metrics import distribution_distance
from gemsflow.methods import mapping
from gemsflow.simulation.contrasts import ALL
from gemsflow.simulation.studies import Study, StudyQuestion


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
                # Twin's inventory items have their content in the options and no question text; a
                # study needs one. Predictions read the dataset's own text features, not this text.
                text=str(meta.loc[q, "text"]) or q,
                options=tuple(options.loc[options["question"] == q, "text"].astype(str)),
                ordinal=bool(meta.loc[q, "ordinal"]),
                population={},
                breakdown=tuple(data.trait_names),
            )
            for q in questions
        ),
    )


def study_features_from_dataset(
    features: mapping.MappingFeatures, data: SurveyData, questions: list[str]
) -> mapping.MappingFeatures:
    """The dataset's own choice features renamed to study keys (``<question>_option_<position + 1>``).

    Study choices are coded 1..K in display order; the dataset's features were built from the same
    question and option texts, so they are what :func:`gemsflow.simulation.production.study_features` would compute.
    """
    opts = data.options.loc[data.options["question"].isin(questions)]
    rows = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    keys = [f"{q}_option_{p + 1}" for q, p in zip(opts["question"], opts["position"], strict=True)]
    take = rows.loc[opts["choice"]].to_numpy()
    return mapping.MappingFeatures(
        keys,
        list(features.layers),
        features.states[take],
        {name: values[take] for name, values in features.variants.items()},
        features.variant,
    )


def answered(data: SurveyData, split: pd.DataFrame, part: str) -> pd.DataFrame:
    """Answers of one split part with the answer's position, the question's K and the person's traits."""
    keys = split.loc[split["part"] == part, ["individual", "question"]]
    rows = join_answers(keys, data.responses, source="split.parquet")
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


def _matrix_to_long(matrix: pd.DataFrame, n_options: pd.Series, name: str) -> pd.DataFrame:
    """[(question, trait, group) x position] shares -> long rows (positions below the question's K)."""
    long = matrix.rename_axis(columns="position").stack().rename(name).reset_index()
    long["position"] = long["position"].astype(int)
    return long.loc[long["position"] < long["question"].map(n_options).to_numpy()]


def group_shares(
    data: SurveyData,
    split: pd.DataFrame,
    part: str,
    predicted: dict[str, pd.DataFrame],
    llm: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Observed and predicted answer shares per (question of ``part``, trait, group, option).

    ``predicted``: per method, per-person rows (``individual``, ``question``, ``position``, ``prob``);
    a method's group share averages its answerers' distributions (the people behind ``observed``).
    ``llm``: ``question``, ``trait``, ``group``, ``position``, ``prob`` (or None). Also the model-free
    ``position_prior`` and ``pooled_subgroup``. Columns: ``question``, ``trait``, ``group``,
    ``position``, ``n``, ``n_options``, ``ordinal``, ``observed`` and one per method.
    """
    traits = data.trait_names
    k_max = int(data.questions["n_options"].max())
    meta = data.questions.set_index("question")
    asked = _long(answered(data, split, part).assign(value=lambda f: f["weight"]), traits)
    keys = ["question", "trait", "group"]
    observed = _shares(asked, keys, "value", k_max)
    index = observed.index
    per_person = asked[["individual", "question", "trait", "group", "weight"]].drop_duplicates()
    matrices = {"observed": observed}
    for name, frame in predicted.items():
        pred = per_person.merge(
            frame[["individual", "question", "position", "prob"]].astype({"individual": str}),
            on=["individual", "question"],
        )
        matrices[name] = _shares(
            pred.assign(value=pred["weight"] * pred["prob"]), keys, "value", k_max
        ).reindex(index)

    train = _long(answered(data, split, "train").assign(value=lambda f: f["weight"]), traits)
    prior = _shares(train.loc[train["trait"] == ALL], ["n_options"], "value", k_max)
    pooled = _shares(train, ["trait", "group", "n_options"], "value", k_max)
    n_options = meta.loc[index.get_level_values("question"), "n_options"].to_numpy()
    uniform = (np.arange(k_max)[None, :] < n_options[:, None]) / n_options[:, None]
    prior_rows = prior.reindex(n_options).to_numpy()
    prior_rows = np.where(np.isnan(prior_rows), uniform, prior_rows)
    pooled_rows = pooled.reindex(
        pd.MultiIndex.from_arrays(
            [index.get_level_values("trait"), index.get_level_values("group"), n_options]
        )
    ).to_numpy()
    matrices["position_prior"] = pd.DataFrame(prior_rows, index=index)
    matrices["pooled_subgroup"] = pd.DataFrame(
        np.where(np.isnan(pooled_rows), prior_rows, pooled_rows), index=index
    )
    if llm is not None:
        name = f"zeroshot-{llm.attrs.get('model', 'llm')}"
        matrices[name] = _shares(llm.assign(value=llm["prob"]), keys, "value", k_max).reindex(index)

    k_of = meta["n_options"].astype(int)
    out = _matrix_to_long(observed, k_of, "observed")
    sizes = asked.groupby(keys)["value"].size().rename("n").reset_index()
    out = out.merge(sizes, on=keys)
    out["n_options"] = out["question"].map(k_of).to_numpy()
    out["ordinal"] = out["question"].map(meta["ordinal"].astype(bool)).to_numpy()
    for name, matrix in matrices.items():
        if name != "observed":
            out = out.merge(_matrix_to_long(matrix, k_of, name), on=[*keys, "position"], how="left")
    return out.reset_index(drop=True)


def observed_halves(data: SurveyData, split: pd.DataFrame, part: str, seed: int) -> pd.DataFrame:
    """Observed shares per (question of ``part``, trait, group, option) in two random halves of the
    people (:func:`gemsflow.simulation.contrasts.split_halves`): columns ``half_a``, ``half_b`` and ``n``, the
    smaller half's group size."""
    from gemsflow.simulation.contrasts import split_halves

    k_max = int(data.questions["n_options"].max())
    keys = ["question", "trait", "group"]
    people = data.individuals["individual"].astype(str).to_numpy()
    first = pd.Series(split_halves(people, seed), index=people)
    asked = _long(answered(data, split, part).assign(value=lambda f: f["weight"]), data.trait_names)
    in_a = asked["individual"].map(first).to_numpy(bool)
    k_of = data.questions.set_index("question")["n_options"].astype(int)
    halves = []
    for name, rows in (("half_a", asked.loc[in_a]), ("half_b", asked.loc[~in_a])):
        long = _matrix_to_long(_shares(rows, keys, "value", k_max), k_of, name)
        halves.append(
            long.merge(rows.groupby(keys).size().rename(f"n_{name}").reset_index(), on=keys)
        )
    out = halves[0].merge(halves[1], on=[*keys, "position"])
    return out.assign(n=np.minimum(out.pop("n_half_a"), out.pop("n_half_b")))


SHARE_COLUMNS = {
    "question", "trait", "group", "position", "observed", "n", "n_options", "ordinal", "half_a",
    "half_b", "n_half", "truth", "part", "seed",
}  # fmt: skip


def share_methods(shares: pd.DataFrame) -> list[str]:
    """The method columns of a :func:`group_shares` frame (intervals are ``<method>:<bound>``)."""
    return [c for c in shares.columns if c not in SHARE_COLUMNS and ":" not in c]


def no_contrast(shares: pd.DataFrame, method: str) -> pd.Series:
    """Every group given the whole population's ``method`` share: the prediction without contrasts."""
    population = shares.loc[shares["trait"] == ALL].set_index(["question", "position"])[method]
    return pd.Series(
        population.reindex(pd.MultiIndex.from_frame(shares[["question", "position"]])).to_numpy(),
        index=shares.index,
    )


def unit_option_features(
    data: SurveyData, features: mapping.MappingFeatures, variant: str, questions: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The options of ``questions`` (question, position) and their unit ``variant`` features (last
    layer)."""
    opts = data.options.loc[data.options["question"].isin(questions)]
    opts = opts.sort_values(["question", "position"], ignore_index=True)
    rows = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    states = features.candidates()[variant][rows.loc[opts["choice"]].to_numpy(), -1]
    unit = states / np.maximum(np.linalg.norm(states, axis=1, keepdims=True), 1e-12)
    return opts[["question", "position"]], unit


def training_group_shares(data: SurveyData, split: pd.DataFrame) -> pd.DataFrame:
    """Observed shares per (training question, trait, group, option), with the group's size ``n``."""
    k_max = int(data.questions["n_options"].max())
    keys = ["question", "trait", "group"]
    train = _long(
        answered(data, split, "train").assign(value=lambda f: f["weight"]), data.trait_names
    )
    k_of = data.questions.set_index("question")["n_options"].astype(int)
    out = _matrix_to_long(_shares(train, keys, "value", k_max), k_of, "share")
    return out.merge(train.groupby(keys)["value"].size().rename("n").reset_index(), on=keys)


def nearest_question(
    shares: pd.DataFrame,
    train_shares: pd.DataFrame,
    data: SurveyData,
    features: mapping.MappingFeatures,
    variant: str,
    fallback: str,
) -> pd.Series:
    """Each group's own shares on the most similar training question with as many options (cosine of
    the mean of its options' unit features), position by position; ``fallback`` where the group did
    not answer it or no training question has that many options."""
    train_questions = sorted(train_shares["question"].unique())
    new_questions = sorted(shares["question"].unique())
    t_opts, t_unit = unit_option_features(data, features, variant, train_questions)
    n_opts, n_unit = unit_option_features(data, features, variant, new_questions)

    def question_vectors(opts, unit):
        frame = pd.DataFrame(unit).groupby(opts["question"].to_numpy(), sort=True).mean()
        return frame.index.to_numpy(), frame.to_numpy(), opts.groupby("question").size()

    t_keys, t_vec, t_k = question_vectors(t_opts, t_unit)
    n_keys, n_vec, n_k = question_vectors(n_opts, n_unit)
    t_vec = t_vec / np.linalg.norm(t_vec, axis=1, keepdims=True)
    n_vec = n_vec / np.linalg.norm(n_vec, axis=1, keepdims=True)
    same_k = n_k.loc[n_keys].to_numpy()[:, None] == t_k.loc[t_keys].to_numpy()[None, :]
    similarity = np.where(same_k, n_vec @ t_vec.T, -np.inf)
    best = np.where(same_k.any(axis=1), t_keys[similarity.argmax(axis=1)], None)
    nearest = pd.Series(best, index=n_keys)
    lookup = train_shares.set_index(["question", "trait", "group", "position"])["share"]
    index = pd.MultiIndex.from_arrays(
        [shares["question"].map(nearest), shares["trait"], shares["group"], shares["position"]]
    )
    values = lookup.reindex(index).to_numpy()
    return pd.Series(np.where(np.isnan(values), shares[fallback], values), index=shares.index)


def trait_lean(
    shares: pd.DataFrame,
    train_shares: pd.DataFrame,
    data: SurveyData,
    features: mapping.MappingFeatures,
    variant: str,
    base: str,
    temperature: float,
    neighbours: int,
) -> tuple[pd.Series, dict[str, float]]:
    """``base``'s population share plus a per-trait multiple of the group's lean on similar options.

    A group's lean on a new option is its excess over the population on the ``neighbours`` most similar
    training options (weights ``softmax(similarity / temperature)``, as ``similar-<features>``); the
    multiple per trait is the least-squares fit of observed excess on that lean over the training
    options, each training question left out of its own neighbours. Shares are clipped at 0.001 and
    renormalised per question. Returns the shares and the multiple per trait.
    """
    from gemsflow.methods.similar_questions import top_weights

    train_questions = sorted(train_shares["question"].unique())
    t_opts, t_unit = unit_option_features(data, features, variant, train_questions)
    new_questions = sorted(shares["question"].unique())
    n_opts, n_unit = unit_option_features(data, features, variant, new_questions)
    subgroups = train_shares.loc[train_shares["trait"] != ALL]
    option_keys = pd.MultiIndex.from_frame(t_opts)
    excess = (
        subgroups.set_index(["question", "position"])["share"]
        - train_shares.loc[train_shares["trait"] == ALL]
        .set_index(["question", "position"])["share"]
        .reindex(pd.MultiIndex.from_frame(subgroups[["question", "position"]]))
        .to_numpy()
    )
    table = (
        subgroups.assign(excess=excess.to_numpy())
        .pivot_table(index=["trait", "group"], columns=["question", "position"], values="excess")
        .reindex(columns=option_keys)
    )
    size = subgroups.groupby(["trait", "group"])["n"].mean().loc[table.index].to_numpy()
    lean_matrix = table.fillna(0.0).to_numpy()  # [G, T]
    own = t_opts["question"].to_numpy()
    w_train = top_weights(t_unit @ t_unit.T, own[:, None] != own[None, :], temperature, neighbours)
    predicted_train = lean_matrix @ w_train.T
    observed_train = table.to_numpy()
    multiple = {}
    for trait in table.index.get_level_values("trait").unique():
        rows = table.index.get_level_values("trait") == trait
        x, y = predicted_train[rows], observed_train[rows]
        w = np.broadcast_to(size[rows, None], x.shape)
        ok = ~np.isnan(y)
        denominator = (w[ok] * x[ok] ** 2).sum()
        multiple[trait] = float((w[ok] * x[ok] * y[ok]).sum() / denominator) if denominator else 0.0
    w_new = top_weights(n_unit @ t_unit.T, np.ones((len(n_unit), len(t_unit)), bool), temperature,
                        neighbours)  # fmt: skip
    lean_new = pd.DataFrame(
        lean_matrix @ w_new.T, index=table.index, columns=pd.MultiIndex.from_frame(n_opts)
    ).stack(["question", "position"], future_stack=True)
    lean = lean_new.reindex(
        pd.MultiIndex.from_frame(shares[["trait", "group", "question", "position"]])
    ).to_numpy()
    scale = shares["trait"].map(multiple).fillna(0.0).to_numpy()
    values = no_contrast(shares, base).to_numpy() + scale * np.nan_to_num(lean)
    values = pd.Series(np.clip(values, 1e-3, None), index=shares.index)
    total = values.groupby([shares["question"], shares["trait"], shares["group"]]).transform("sum")
    return values / total, multiple


def subgroup_distances(shares: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Distance of each method's share to the observed share, per (question, trait, group)."""
    keys = ["question", "trait", "group"]
    wide = shares.set_index([*keys, "position"])[["observed", *methods]].unstack("position")
    first = shares.drop_duplicates(keys).set_index(keys).loc[wide.index]
    k = first["n_options"].to_numpy()
    ordinal = first["ordinal"].to_numpy(bool)
    observed = wide["observed"].fillna(0.0).to_numpy()
    out = wide.index.to_frame(index=False).assign(
        n=first["n"].to_numpy(), n_options=k, ordinal=ordinal,
        metric=np.where(ordinal, "wasserstein", "total_variation"),
    )  # fmt: skip
    for name in methods:
        values = wide[name].reindex(columns=wide["observed"].columns).to_numpy()
        values = np.where(
            np.isnan(values) & ~np.isnan(values).all(axis=1, keepdims=True), 0.0, values
        )
        out[name] = distribution_distance(values, observed, ordinal, k)[0]
    return out


def summarise_distances(rows: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
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
    from gemsflow.data.survey import letters
    from gemsflow.methods.llm import templates

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
    """Per method, mean and std over seeds of :func:`summarise_distances`; and a markdown rendering."""
    methods = list(rows.columns[rows.columns.get_loc(METHOD_COLUMNS_AFTER) + 1 :].drop("seed"))
    per_seed = pd.concat(
        [summarise_distances(r, methods).assign(seed=s) for s, r in rows.groupby("seed")],
        ignore_index=True,
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


def synthetic_truth(data: SurveyData, generator: dict, questions: list[str]) -> pd.DataFrame:
    """Exact answer shares of every group on ``questions`` of the synthetic survey: the generator's
    per-person probabilities (regenerated from its parameters) averaged over the group's people."""
    from gemsflow.data.datasets.synthetic import generate_synthetic

    survey = generate_synthetic(**generator)
    ids = pd.Index(survey.ids.astype(str))
    people = data.individuals.assign(individual=data.individuals["individual"].astype(str))
    rows = ids.get_indexer(people["individual"])
    frames = []
    for q in questions:
        probs = survey.probabilities[survey.question_keys.index(q)][rows]
        k = probs.shape[1]
        frame = pd.DataFrame(
            {
                "individual": np.repeat(people["individual"].to_numpy(), k),
                "question": q,
                "position": np.tile(np.arange(k), len(rows)),
                "value": probs.reshape(-1) * np.repeat(people["weight"].to_numpy(float), k),
            }
        )
        frames.append(frame.merge(people[["individual", *data.trait_names]], on="individual"))
    long = _long(pd.concat(frames, ignore_index=True), data.trait_names)
    totals = long.groupby(["question", "trait", "group", "position"])["value"].sum()
    shares = totals / totals.groupby(["question", "trait", "group"]).transform("sum")
    return shares.rename("truth").reset_index()


def predicted_accuracy(
    data: SurveyData, split: pd.DataFrame, part: str, frame: pd.DataFrame
) -> float:
    """Tie-aware accuracy of per-person rows (``individual``, ``question``, ``position``, ``prob``) on
    the answered pairs of ``part``."""
    from gemsflow.evaluation.accuracy import accuracy

    asked = answered(data, split, part)[["individual", "question", "position"]]
    rows = frame[["individual", "question", "position", "prob"]].astype({"individual": str})
    wide = rows.pivot_table(index=["individual", "question"], columns="position", values="prob")
    wide = wide.reindex(pd.MultiIndex.from_frame(asked[["individual", "question"]]))
    probs = wide.to_numpy()
    return accuracy(
        np.nan_to_num(probs, nan=-np.inf), asked["position"].to_numpy(), valid=~np.isnan(probs)
    )


ACCURACY_SLACK = (
    0.02  # a candidate within this much of the best validation accuracy stays in the race
)


def simulate_choice(
    validation: pd.DataFrame, infos: list[dict], candidates: list[str], min_n: int
) -> dict:
    """Which method backs ``simulate``, decided on validation questions only: the highest contrast
    correlation (all traits, seeds' validation questions pooled) among the candidates whose validation
    accuracy (mean over seeds) is within :data:`ACCURACY_SLACK` of the best candidate's."""
    from gemsflow.simulation import contrasts

    pairs = contrasts.pair_contrasts(contrasts.pooled(validation), ["observed", *candidates], min_n)
    table = contrasts.summarise(pairs, "observed", candidates, contrasts.MIN_SIZE)
    overall = table.loc[table["trait"] == contrasts.OVERALL].set_index("method")

    def finite(value) -> float | None:  # an undefined figure is null in the JSON
        return None if pd.isna(value) else float(value)

    figures = {
        name: {
            "val_accuracy": finite(np.mean([info["accuracy"]["val"][name] for info in infos])),
            "val_contrast_correlation": finite(overall.loc[name, "correlation"]),
            "val_contrast_rmse": finite(overall.loc[name, "rmse"]),
            "val_contrast_rmse_no_contrast": finite(overall.loc[name, "rmse_no_contrast"]),
            "val_sign_agreement": finite(overall.loc[name, "sign_agreement"]),
        }
        for name in candidates
    }
    accuracy = {
        n: -1.0 if f["val_accuracy"] is None else f["val_accuracy"] for n, f in figures.items()
    }
    eligible = [n for n in candidates if accuracy[n] >= max(accuracy.values()) - ACCURACY_SLACK]
    correlation = {n: figures[n]["val_contrast_correlation"] for n in eligible}
    chosen = max(eligible, key=lambda n: -1.0 if correlation[n] is None else correlation[n])
    return {
        "support": support_threshold(validation, infos, candidates[0], min_n),
        "chosen": chosen,
        "criterion": (
            "highest contrast correlation on validation questions (all traits, seeds pooled) among the "
            f"candidates within {ACCURACY_SLACK} of the best validation accuracy"
        ),
        "seeds": sorted(int(info["seed"]) for info in infos),
        "n_validation_questions": int(validation.groupby("seed")["question"].nunique().sum()),
        "figures": figures,
    }


SUPPORT_BANDS = 3


def support_threshold(validation: pd.DataFrame, infos: list[dict], method: str, min_n: int) -> dict:
    """The support below which a question's breakdowns are marked, decided on validation questions:
    cut them (seeds pooled) into thirds by support (the similar model's mean cosine similarity of a
    question's options to their nearest training options); if the lowest third's contrast correlation
    is below :data:`gemsflow.simulation.contrasts.HELD_UP_CORRELATION`, the threshold is that third's upper edge,
    else there is none (null)."""
    from gemsflow.simulation import contrasts

    support = pd.DataFrame(
        [
            (int(info["seed"]), q, value)
            for info in infos
            for q, value in info.get("support", {}).get("val", {}).items()
        ],
        columns=["seed", "question", "support"],
    )
    if len(support) < SUPPORT_BANDS:
        return {"threshold": None, "rule": "too few validation questions"}
    edges = support["support"].quantile([b / SUPPORT_BANDS for b in range(1, SUPPORT_BANDS)])
    band = np.digitize(support["support"], edges.to_numpy(), right=True)
    low = support.loc[band == 0, ["seed", "question"]]
    rows = validation.merge(low, on=["seed", "question"])
    pairs = contrasts.pair_contrasts(contrasts.pooled(rows), ["observed", method], min_n)
    stats = contrasts.contrast_statistics(
        pairs["observed"].to_numpy(float), pairs[method].to_numpy(float),
        pairs["weight"].to_numpy(float), contrasts.MIN_SIZE,
    )  # fmt: skip
    weak = not stats["correlation"] >= contrasts.HELD_UP_CORRELATION
    upper = float(support.loc[band == 0, "support"].max())
    return {
        "threshold": upper if weak else None,
        "rule": (
            f"validation questions cut into {SUPPORT_BANDS} bands by support; the lowest band's "
            f"upper edge when its contrast correlation is below {contrasts.HELD_UP_CORRELATION}"
        ),
        "lowest_band": {
            "n_questions": len(low),
            "max_support": upper,
            "contrast_correlation": None if pd.isna(stats["correlation"]) else stats["correlation"],
        },
    }


def contrast_markdown(
    dataset: str, table: pd.DataFrame, cover: pd.DataFrame, methods: list[str], choice: dict
) -> str:
    """The contrast table by trait (pooled over seeds; mean ± std over seeds) with noise ceilings,
    coverage and the validation choice."""

    def cell(values: pd.Series) -> str:
        return "n/a" if values.isna().all() else f"{values.mean():.3f} ± {values.std(ddof=0):.3f}"

    lines = [
        f"# Contrasts on held-out questions: {dataset}",
        "",
        "Contrast = group a's share of an option minus group b's, for every pair of a trait's "
        "categories (each with at least the minimum subgroup size) and every option of every held-out "
        "test question. r: weighted correlation with the target's contrasts; sign: agreement on "
        "target contrasts of at least 5 points; RMSE beside the no-contrast prediction's (every group "
        "given the population's share). Ceiling: the same statistic between two random halves of the "
        "observed people. Cells: pooled over seeds' questions, then mean ± std over seeds.",
        "",
        f"Questions whose options come no closer than {choice['support']['threshold']} (cosine) to an "
        f"answered option have their breakdowns marked ({choice['support']['rule']}; lowest band: "
        f"{choice['support'].get('lowest_band')}).",
        "",
        f"simulate uses **{choice['chosen']}** ({choice['criterion']}):",
        "",
        "| candidate | val accuracy | val contrast r | val contrast RMSE (no-contrast) |",
        "|---|---|---|---|",
    ]
    for name, f in choice["figures"].items():
        cells = [
            "n/a" if f[key] is None else format(f[key], spec)
            for key, spec in (("val_accuracy", ".4f"), ("val_contrast_correlation", ".3f"),
                              ("val_contrast_rmse", ".4f"), ("val_contrast_rmse_no_contrast", ".4f"))
        ]  # fmt: skip
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} ({cells[3]}) |")
    for target, rows in table.groupby("target", sort=False):
        lines += ["", f"## Against {target} shares", ""]
        for trait, part in rows.groupby("trait", sort=True):
            pooled_rows = part.loc[part["seed"] == "pooled"].set_index("method")
            seeds = part.loc[part["seed"] != "pooled"]
            lines += [f"### {trait}", ""]
            header = "| method | r | sign (n) | RMSE | no-contrast RMSE | coverage |"
            if (
                "ceiling_correlation" in pooled_rows
                and pooled_rows["ceiling_correlation"].notna().any()
            ):
                c = pooled_rows.iloc[0]
                lines.append(
                    f"Noise ceiling (split halves, pooled): r {c['ceiling_correlation']:.3f}, sign "
                    f"{c['ceiling_sign_agreement']:.3f}, RMSE {c['ceiling_rmse']:.4f}.".replace(
                        "nan", "n/a"
                    )
                )
                lines.append("")
            lines += [header, "|---|---|---|---|---|---|"]
            for method in methods:
                p = pooled_rows.loc[method]
                s = seeds.loc[seeds["method"] == method]
                cov = cover.loc[
                    (cover["trait"] == trait) & (cover["seed"] == "pooled")
                    & (cover["target"] == target) & cover["method"].str.startswith(method)
                ]  # fmt: skip
                coverage = "; ".join(f"{r.coverage:.3f}" for r in cov.itertuples()) or ""
                lines.append(
                    f"| {method} | {p['correlation']:.3f} ({cell(s['correlation'])}) | "
                    f"{p['sign_agreement']:.3f} ({int(p['n_large'])}) | {p['rmse']:.4f} | "
                    f"{p['rmse_no_contrast']:.4f} | {coverage} |"
                )
            lines.append("")
    return "\n".join(lines) + "\n"
