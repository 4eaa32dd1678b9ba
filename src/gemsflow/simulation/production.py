"""Ask a dataset's population questions it was never asked (setting 3 as a product).

A *production model* is the setting-3 machinery trained for use rather than for evaluation: the GNN on
all of the dataset's people and all questions but a validation slice (which picks the mapping's ridge
alpha and feature layer; the GNN's own early stopping uses its imputation hold-out), and the ridge map
from choice-text features to GNN choice embeddings fitted at the chosen alpha and layer. It is written to
one self-contained directory (``production.safetensors``, ``model.json``, ``individuals.parquet``), so
that :func:`simulate` can run from a notebook with nothing but that directory and a list of questions.

Simulating a question: embed its options with the production model's text embedder (the same
``[option ‖ question]`` features as training), map them into the GNN's choice space, score every person of
the question's population with the GNN's dot-product decoder at its temperature, and softmax over the
question's options. Population and subgroup answer shares are survey-weighted means of those per-person
distributions, with the range over seeds (one production model per seed) and a bootstrap over people.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData, Trait, build_options_table
from gemsflow.errors import InputDataError
from gemsflow.io import write_json, write_parquet
from gemsflow.methods import mapping
from gemsflow.simulation.contrasts import HELD_UP_CORRELATION as HELD_UP_R
from gemsflow.simulation.studies import Study, check_traits, parse_study

log = logging.getLogger(__name__)

FORMAT = "gemsflow.production_model/1"
SIMILAR_FORMAT = "gemsflow.production_similar/1"
MODEL_FILE = "production.safetensors"
INFO_FILE = "model.json"
PEOPLE_FILE = "individuals.parquet"


@dataclass(frozen=True)
class ProductionModel:
    directory: str
    info: dict[str, Any]  # model.json: arch, features, embedder, seed, alpha, layer, validation
    individuals: pd.DataFrame  # individual, weight and one column per trait, in embedding order
    individual_emb: np.ndarray  # [n_individuals, d]
    temperature: float
    ridge: dict[str, np.ndarray]  # x_mean, x_scale, coef [dim, d], y_mean

    @property
    def traits(self) -> list[Trait]:
        return [Trait.from_json(t) for t in self.info["traits"]]

    def choice_embeddings(self, states: np.ndarray) -> np.ndarray:
        """GNN choice embeddings predicted from features ``[n, dim]`` of the chosen layer."""
        z = mapping.standardise(states, self.ridge["x_mean"], self.ridge["x_scale"])
        return z @ self.ridge["coef"] + self.ridge["y_mean"]


@dataclass(frozen=True)
class SimilarProduction:
    """A production ``similar-<features>`` model (:class:`gemsflow.methods.similar_questions.SimilarModel`)."""

    directory: str
    info: dict[
        str, Any
    ]  # model.json: method, features, embedder, seed, variant, validation, intervals
    individuals: (
        pd.DataFrame
    )  # individual, weight and one column per trait, in the model's person order
    model: Any  # SimilarModel

    @property
    def traits(self) -> list[Trait]:
        return [Trait.from_json(t) for t in self.info["traits"]]


SIMILAR_ARRAYS = ("chosen", "asked", "question_of", "position", "n_options", "features", "theta")
SIMILAR_SCALARS = ("temperature", "neighbours", "smoothing", "shrinkage")


def share_error_scale(
    people: pd.DataFrame,
    question: np.ndarray,
    probs: np.ndarray,
    answer: np.ndarray,
    n_options: np.ndarray,
    traits: Sequence[str],
    min_n: int = 10,
) -> dict[str, float]:
    """Per trait (and ``all``), the standard deviation of a group share's model error on questions
    the model did not learn from: the root of the mean of ``(predicted - observed)² - observed (1 -
    observed) / n`` over (question, group, option) rows of groups with at least ``min_n`` answers,
    floored at 0. Sampling noise of the observed share is taken out, so what is left is what a new
    question's prediction misses by beyond its sample.

    One row per answered (person, question) pair: ``people`` (``weight`` and the trait columns),
    ``question`` (any key), ``probs`` [rows, k] (zero past a question's options), ``answer`` (the
    chosen position) and the question's ``n_options``.
    """
    weight = people["weight"].to_numpy(np.float64)
    k = probs.shape[1]
    chosen = np.zeros_like(probs)
    chosen[np.arange(len(answer)), answer] = 1.0
    scale = {}
    for trait in ["all", *traits]:
        group = np.full(len(question), "all", dtype=object) if trait == "all" else people[trait]
        group = np.asarray(group, dtype=object)
        ok = pd.notna(group)
        # Keys as arrays, so that every frame grouped below is matched to them by position (Series
        # keys would be aligned by index, and the rows left out would shift the rest).
        keys = [np.asarray(question)[ok], group[ok].astype(str)]
        w = weight[ok, None]
        total = pd.DataFrame(w).groupby(keys).sum()
        predicted = pd.DataFrame(probs[ok] * w).groupby(keys).sum().to_numpy() / total.to_numpy()
        observed = pd.DataFrame(chosen[ok] * w).groupby(keys).sum().to_numpy() / total.to_numpy()
        n = pd.Series(np.ones(ok.sum())).groupby(keys).sum().to_numpy()[:, None]
        width = pd.Series(n_options[ok]).groupby(keys).first().to_numpy()[:, None]
        real = (np.arange(k)[None, :] < width) & (n >= min_n)
        excess = (predicted - observed) ** 2 - observed * (1 - observed) / n
        scale[trait] = float(np.sqrt(max(excess[real].mean(), 0.0))) if real.any() else 0.0
    return scale


def interval_scale(fit, data: SurveyData, min_n: int = 10) -> dict[str, float]:
    """:func:`share_error_scale` of a similar-questions fit on its training questions, each scored as
    if it were new (left out of its own features)."""
    problem = fit.problem
    person, question, probs = fit.train_person, fit.train_question, fit.train_probs
    people = data.individuals.set_index(data.individuals["individual"].astype(str))
    people = people.loc[problem.people[person]]
    return share_error_scale(
        people, question, probs, problem.answer[person, question], problem.n_options[question],
        data.trait_names, min_n,
    )  # fmt: skip


def mapping_interval_scale(
    predictions: pd.DataFrame, data: SurveyData, min_n: int = 10
) -> dict[str, float]:
    """:func:`share_error_scale` of the mapping's out-of-fold predictions on the split's validation
    questions (:func:`gemsflow.methods.mapping.fit_mapping`: each fold of validation questions is
    predicted by the cell chosen on the other folds)."""
    val = predictions.loc[predictions["part"] == "val"]
    position = data.options.set_index(["question", "code"])["position"]
    val = val.assign(
        position=position.loc[pd.MultiIndex.from_frame(val[["question", "code"]])].to_numpy()
    )
    wide = val.pivot_table(
        index=["individual", "question"], columns="position", values="prob", fill_value=0.0
    )
    answers = data.responses.assign(individual=data.responses["individual"].astype(str))
    answers = answers.set_index(["individual", "question"])["code"]
    pairs = wide.index.intersection(answers.index)
    wide = wide.loc[pairs]
    codes = answers.loc[pairs].to_numpy()
    questions = pairs.get_level_values("question")
    answer = position.loc[pd.MultiIndex.from_arrays([questions, codes])].to_numpy()
    n_options = data.options.groupby("question").size().loc[questions].to_numpy()
    people = data.individuals.set_index(data.individuals["individual"].astype(str))
    people = people.loc[pairs.get_level_values("individual")]
    return share_error_scale(
        people, questions.to_numpy(), wide.to_numpy(), answer, n_options, data.trait_names, min_n
    )


def save_similar_model(directory: str | Path, fit, data: SurveyData, info: dict[str, Any]) -> None:
    """Write a production ``similar-<features>`` model directory read by :func:`load_production_model`."""
    import torch

    from gemsflow.methods.gnn.training import save_safetensors

    directory = Path(directory)
    model = fit.model
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(getattr(model, name)))
        for name in SIMILAR_ARRAYS
    }
    tensors["features"] = tensors["features"].float()
    save_safetensors(tensors, directory / MODEL_FILE, {"format": SIMILAR_FORMAT})
    people = data.individuals.set_index(data.individuals["individual"].astype(str))
    people = people.loc[model.people, ["individual", "weight", *data.trait_names]]
    write_parquet(people.reset_index(drop=True), directory / PEOPLE_FILE)
    scalars = {name: getattr(model, name) for name in SIMILAR_SCALARS}
    traits = [t.to_json() for t in data.traits]
    write_json(
        {"format": SIMILAR_FORMAT, "dataset": data.name, **info, **scalars,
         "interval_sd": interval_scale(fit, data), "traits": traits},
        directory / INFO_FILE,
    )  # fmt: skip


def build_similar_model(
    directory: str | Path,
    data: SurveyData,
    split: pd.DataFrame,
    features: mapping.MappingFeatures,
    info: dict[str, Any],
    options: dict[str, Any],
    smoothing: float,
    seed: int,
    threads: int = 1,
):
    """Fit ``similar-<features>`` on the split's training questions (``options``: learners.similar),
    write it as a production model directory (``info``: features, embedder, ...) and return the fit."""
    from threadpoolctl import threadpool_limits

    from gemsflow.methods.similar_questions import fit_similar

    with threadpool_limits(threads):
        fit = fit_similar(
            data, split, features.choices, features.candidates(), **options,
            smoothing=smoothing, seed=seed,
        )  # fmt: skip
    validation = {
        "train_accuracy": fit.info["train_accuracy"],
        "val_accuracy": fit.info["val_accuracy"],
        "n_val_questions": int(split.loc[split["part"] == "val", "question"].nunique()),
        **fit.info["selected"],
        "coefficients": fit.info["coefficients"],
    }
    full = {
        **info,
        "seed": seed,
        "variant": fit.info["selected"]["variant"],
        "validation": validation,
    }
    save_similar_model(directory, fit, data, full)
    return fit


def fit_production_mapping(
    features: mapping.MappingFeatures,
    gnn: mapping.GnnEmbeddings,
    data: SurveyData,
    split: pd.DataFrame,
    alphas: Sequence[float],
    skip_embedding_layer: bool = True,
    variants: str | Sequence[str] = "auto",
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, float]]:
    """Choose feature variant, alpha and layer on the split's validation questions, then fit the ridge
    at that choice. Returns the ridge, the selection and the interval's model-error scale per trait
    (:func:`mapping_interval_scale`).

    The selection is :func:`gemsflow.methods.mapping.fit_mapping` itself (same grid, same tie rule), so a
    production model and a setting-3 run of the same split choose alike.
    """
    result = mapping.fit_mapping(
        features, gnn, data.options, split, data.responses, alphas, skip_embedding_layer, variants
    )
    selected = result.info
    train_questions = mapping.question_parts(split)["train"]
    choices = data.options.loc[data.options["question"].isin(train_questions), "choice"]
    choices = choices[choices.isin(features.choices) & choices.isin(gnn.choices)].tolist()
    feature_row = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    gnn_row = pd.Series(np.arange(len(gnn.choices)), index=pd.Index(gnn.choices))
    states = features.candidates()[selected["best_variant"]]
    layer = features.layers_of(states).index(selected["best_layer"])
    path = mapping.RidgePath.fit(
        states[feature_row.loc[choices].to_numpy(), layer],
        gnn.choice_emb[gnn_row.loc[choices].to_numpy()],
    )
    ridge = {
        "x_mean": path.x_mean,
        "x_scale": path.x_scale,
        "coef": path.coef(selected["best_alpha"]),
        "y_mean": path.y_mean,
    }
    return ridge, selected, mapping_interval_scale(result.predictions, data)


def save_production_model(
    directory: str | Path,
    gnn: mapping.GnnEmbeddings,
    ridge: dict[str, np.ndarray],
    data: SurveyData,
    info: dict[str, Any],
) -> None:
    """Write the self-contained model directory read by :func:`load_production_model`."""
    import torch

    from gemsflow.methods.gnn.training import save_safetensors

    directory = Path(directory)
    people = data.individuals.set_index(data.individuals["individual"].astype(str))
    people = people.loc[gnn.individuals, ["individual", "weight", *data.trait_names]]
    tensors = {
        "individual_embeddings": torch.from_numpy(gnn.individual_emb.astype(np.float32)),
        "temperature": torch.tensor([gnn.temperature], dtype=torch.float32),
        **{f"ridge_{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in ridge.items()},
    }
    save_safetensors(tensors, directory / MODEL_FILE, {"format": FORMAT})
    write_parquet(people.reset_index(drop=True), directory / PEOPLE_FILE)
    traits = [t.to_json() for t in data.traits]
    write_json(
        {"format": FORMAT, "dataset": data.name, **info, "traits": traits}, directory / INFO_FILE
    )


def load_production_model(directory: str | Path) -> ProductionModel | SimilarProduction:
    directory = Path(directory)
    for name in (MODEL_FILE, INFO_FILE, PEOPLE_FILE):
        if not (directory / name).exists():
            raise InputDataError(
                directory / name,
                None,
                "production model file missing",
                "build the model dir with the workflow (results/models/production/...)",
            )
    tensors, _ = mapping.read_float64_tensors(directory / MODEL_FILE)
    info = json.loads((directory / INFO_FILE).read_text())
    people = pd.read_parquet(directory / PEOPLE_FILE)
    if info.get("format") == SIMILAR_FORMAT:
        from gemsflow.methods.similar_questions import KINDS, SimilarModel

        integers = {"chosen", "asked", "question_of", "position", "n_options"}
        arrays = {
            name: tensors[name].astype(np.int64) if name in integers else tensors[name]
            for name in SIMILAR_ARRAYS
        }
        if len(arrays["theta"]) != len(KINDS):
            raise InputDataError(
                directory / MODEL_FILE,
                "theta",
                f"weights for {len(arrays['theta'])} question kinds, this version has {len(KINDS)}",
                "rebuild the production model with the workflow",
            )
        model = SimilarModel(
            people=people["individual"].astype(str).to_numpy(),
            **arrays,
            temperature=float(info["temperature"]),
            neighbours=int(info["neighbours"]),
            smoothing=float(info["smoothing"]),
            shrinkage=float(info["shrinkage"]),
        )
        return SimilarProduction(str(directory), info, people, model)
    return ProductionModel(
        directory=str(directory),
        info=info,
        individuals=people,
        individual_emb=tensors["individual_embeddings"],
        temperature=float(tensors["temperature"].reshape(-1)[0]),
        ridge={k[len("ridge_") :]: v for k, v in tensors.items() if k.startswith("ridge_")},
    )


# --------------------------------------------------------------------------------------------------
# Study questions as a (response-free) dataset, so that the training feature code embeds them.


def study_survey(study: Study) -> SurveyData:
    """The study's questions and options in the canonical layout (codes 1..K in display order)."""
    options = build_options_table(
        {q.key: list(enumerate(q.options, start=1)) for q in study.questions},
        {q.key: q.text for q in study.questions},
    )
    questions = pd.DataFrame(
        {
            "question": [q.key for q in study.questions],
            "wave": 1,
            "text": [q.text for q in study.questions],
            "n_options": [len(q.options) for q in study.questions],
            "ordinal": [q.ordinal for q in study.questions],
        }
    ).sort_values("question", ignore_index=True)
    empty = pd.DataFrame({"individual": pd.Series(dtype=str)})
    return SurveyData(study.name, empty, questions, options, empty, ())


def study_features(study: Study, embedder: dict[str, Any]):
    """Text features of the study's choices, exactly as the dataset's were built for training."""
    from gemsflow.methods.llm.embeddings import text_embeddings

    return text_embeddings(study_survey(study), embedder)


def as_mapping_features(features) -> mapping.MappingFeatures:
    """Features as the mapping reads them, whether loaded already or built in memory (torch)."""
    if isinstance(features, mapping.MappingFeatures):
        return features
    return mapping.from_stored(features)


# --------------------------------------------------------------------------------------------------
# Per-person predictions and their aggregation


def population_mask(people: pd.DataFrame, population: dict[str, tuple[str, ...]]) -> np.ndarray:
    mask = np.ones(len(people), dtype=bool)
    for trait, values in population.items():
        mask &= people[trait].astype(object).isin(values).to_numpy()
    return mask


def _study_states(
    model, features: mapping.MappingFeatures, study: Study, variant: str, layer: int
) -> np.ndarray:
    """[options of the study in question order, dim] features of one variant and layer."""
    candidates = features.candidates()
    if variant not in candidates or layer not in features.layers_of(candidates[variant]):
        raise InputDataError(
            "study features",
            "variants",
            f"the production model reads variant {variant!r} layer {layer}; the features hold "
            f"variants {list(candidates)}, layers {features.layers}",
            f"embed the study with the model's features ({model.info['features']})",
        )
    states = candidates[variant][:, features.layers_of(candidates[variant]).index(layer)]
    row_of = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    keys = [
        f"{q.key}_option_{code}" for q in study.questions for code in range(1, len(q.options) + 1)
    ]
    mapping.require_features(
        row_of.index,
        keys,
        "study features",
        "rebuild the study features from the current study file",
    )
    return states[row_of.loc[keys].to_numpy()]


def question_support(
    models: Sequence, study: Study, features: mapping.MappingFeatures
) -> dict[str, float] | None:
    """Per study question, :meth:`~gemsflow.methods.similar_questions.SimilarModel.support` averaged over
    seeds (None for models that keep no training options' features)."""
    if not all(isinstance(m, SimilarProduction) for m in models):
        return None
    sizes = [len(q.options) for q in study.questions]
    question_of = np.repeat(np.arange(len(sizes)), sizes)
    per_seed = [m.model.support(_similar_states(m, study, features), question_of) for m in models]
    return {
        q.key: float(v) for q, v in zip(study.questions, np.mean(per_seed, axis=0), strict=True)
    }


def _similar_states(model, study: Study, features: mapping.MappingFeatures) -> np.ndarray:
    # The similar model reads the last layer of its variant (as gemsflow.methods.similar_questions does).
    variant = model.info["variant"]
    layer = features.layers_of(features.candidates().get(variant, features.states))[-1]
    return _study_states(model, features, study, variant, layer)


def question_probabilities(
    model, study: Study, features: mapping.MappingFeatures
) -> list[np.ndarray]:
    """Per study question, ``[people of the model, K]`` answer distributions."""
    sizes = [len(q.options) for q in study.questions]
    if isinstance(model, SimilarProduction):
        states = _similar_states(model, study, features)
        question_of = np.repeat(np.arange(len(sizes)), sizes)
        ordinal = np.array([q.ordinal for q in study.questions], dtype=bool)
        prob = model.model.probabilities(states, question_of, ordinal)
        return np.split(prob, np.cumsum(sizes)[:-1], axis=1)
    # Models written before the variant was recorded mapped the main variant.
    variant = model.info.get("variant", features.variant)
    states = _study_states(model, features, study, variant, int(model.info["layer"]))
    out = []
    for block in np.split(states, np.cumsum(sizes)[:-1]):
        logits = model.individual_emb @ model.choice_embeddings(block).T / model.temperature
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        out.append(prob / prob.sum(axis=1, keepdims=True))
    return out


def predict_individuals(
    models: Sequence, study: Study, features: mapping.MappingFeatures
) -> pd.DataFrame:
    """One row per (seed, person of the question's population, question, option): ``prob``."""
    frames = []
    for model in models:
        ids = model.individuals["individual"].to_numpy(str)
        for q, prob in zip(
            study.questions, question_probabilities(model, study, features), strict=True
        ):
            mask = population_mask(model.individuals, q.population)
            prob = prob[mask]
            n, k = prob.shape
            frames.append(
                pd.DataFrame(
                    {
                        "seed": int(model.info["seed"]),
                        "individual": np.repeat(ids[mask], k),
                        "question": q.key,
                        "position": np.tile(np.arange(k), n),
                        "option": np.tile(np.asarray(q.options, dtype=object), n),
                        "prob": prob.reshape(-1),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def subgroups(
    people: pd.DataFrame, breakdown: Sequence[str], traits: Sequence[Trait]
) -> list[tuple[str, str, np.ndarray]]:
    """``(trait, category, member mask)``: the whole population first, then each non-empty category."""
    out = [("all", "all", np.ones(len(people), dtype=bool))]
    categories = {t.name: t.categories for t in traits}
    for trait in breakdown:
        values = people[trait].astype(object).to_numpy()
        for category in categories[trait]:
            mask = values == category
            if mask.any():
                out.append((trait, category, mask))
    return out


def weighted_shares(prob: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Survey-weighted mean of per-person distributions: ``[..., n, K]`` -> ``[..., K]``."""
    return np.einsum("...nk,n->...k", prob, weight) / weight.sum()


def _question_array(
    rows: pd.DataFrame, people: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame, list[int]]:
    """``[seeds, people, K]`` probabilities of one question and the people in that order."""
    seeds = sorted(rows["seed"].unique().tolist())
    wide = rows.pivot_table(
        index=["seed", "individual"], columns="position", values="prob", sort=True
    )
    individuals = wide.loc[seeds[0]].index
    prob = wide.to_numpy().reshape(len(seeds), len(individuals), wide.shape[1])
    order = people.set_index(people["individual"].astype(str)).loc[individuals]
    return prob, order.reset_index(drop=True), seeds


def distributions(
    individuals: pd.DataFrame,
    people: pd.DataFrame,
    study: Study,
    traits: Sequence[Trait],
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    interval_sd: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Population and subgroup answer shares with the range over seeds, a bootstrap over people and
    a prediction interval.

    ``share`` averages the seeds; ``seed_min``/``seed_max`` are the extreme seeds' shares;
    ``boot_lo``/``boot_hi`` the ``level`` percentile interval of the seed-averaged share when the
    group's people are resampled with replacement (``n_boot`` draws; 0 leaves them empty).
    ``lo``/``hi``: where the share of the group's people answering a real survey should land, at
    ``level``: ``share ± z sqrt(sd² + share (1 - share) / n)``, ``sd`` the model's error on new
    questions for the trait (``interval_sd``, measured on its training questions; empty without it),
    the second term the sampling noise of ``n`` answers.
    """
    from statistics import NormalDist  # scipy.stats would cost a study job 2 s of imports

    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    records = []
    for q in study.questions:
        prob, order, _ = _question_array(individuals[individuals["question"] == q.key], people)
        weight = order["weight"].to_numpy(np.float64)
        for trait, group, mask in subgroups(order, q.breakdown, traits):
            p, w = prob[:, mask], weight[mask]
            per_seed = weighted_shares(p, w)
            boot = np.full((2, prob.shape[2]), np.nan)
            if n_boot:
                draws = rng.multinomial(len(w), np.full(len(w), 1.0 / len(w)), size=n_boot) * w
                shares = draws @ p.mean(axis=0) / draws.sum(axis=1, keepdims=True)
                boot = np.quantile(shares, [tail, 1.0 - tail], axis=0)
            share = per_seed.mean(axis=0)
            half = np.full(len(share), np.nan)
            if interval_sd is not None:
                half = z * np.sqrt(interval_sd[trait] ** 2 + share * (1 - share) / mask.sum())
            lo, hi = np.clip(share - half, 0.0, 1.0), np.clip(share + half, 0.0, 1.0)
            for k, option in enumerate(q.options):
                records.append(
                    (q.key, trait, group, int(mask.sum()), k, option, share[k],
                     per_seed[:, k].min(), per_seed[:, k].max(), boot[0, k], boot[1, k], lo[k],
                     hi[k])
                )  # fmt: skip
    return pd.DataFrame(
        records,
        columns=[
            "question", "trait", "group", "n", "position", "option",
            "share", "seed_min", "seed_max", "boot_lo", "boot_hi", "lo", "hi",
        ],
    )  # fmt: skip


@dataclass(frozen=True)
class Simulation:
    study: Study
    individuals: pd.DataFrame
    distributions: pd.DataFrame
    info: dict[str, Any]


def model_method(info: dict[str, Any]) -> dict[str, Any]:
    """The method a production model runs: ``similar-<features>``, or ``mapping-<arch>-<features>``
    (GNN and text-to-choice mapping; models written before the method was recorded)."""
    if info.get("format") == SIMILAR_FORMAT:
        return {"dataset": info["dataset"], "method": f"similar-{info['features']}"}
    return {
        "dataset": info["dataset"],
        "method": f"mapping-{info['arch']}-{info['features']}",
        "arch": info["arch"],
    }


def _interval_sd(models: Sequence) -> dict[str, float] | None:
    """Per trait, the mean over seeds of the models' model-error scale (None: a model without one)."""
    scales = [m.info.get("interval_sd") for m in models]
    if any(s is None for s in scales):
        return None
    return {t: float(np.mean([s[t] for s in scales])) for t in scales[0]}


def contrast_evidence(
    evidence: pd.DataFrame | None, method: str, traits: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per trait: how ``method``'s contrasts held up on held-out questions (``held_up`` false and no
    figures where there is no evidence)."""
    rows = pd.DataFrame() if evidence is None else evidence.loc[evidence["method"] == method]
    rows = rows.set_index("trait") if len(rows) else rows
    out = {}
    for trait in traits:
        if trait not in rows.index:
            out[trait] = {"held_up": False, "evidence": "no held-out evidence"}
            continue
        r = rows.loc[trait]
        figures = (
            "correlation",
            "sign_agreement",
            "rmse",
            "rmse_no_contrast",
            "ceiling_correlation",
        )
        out[trait] = {
            "held_up": bool(r["held_up"]),
            # Undefined figures (no contrast, no large contrast, no halves) are null in run_info.json.
            **{k: None if pd.isna(r.get(k, np.nan)) else float(r[k]) for k in figures},
            "n_contrasts": int(r["n_contrasts"]),
            "target": str(r.get("target", "observed")),
        }
    return out


def supported_questions(
    support: dict[str, float] | None, choice: dict[str, Any] | None
) -> dict[str, bool]:
    """Per question: is its text close enough to what the panel answered for its breakdowns to count
    (support at least the validation-chosen threshold; true where either is unknown)."""
    threshold = (choice or {}).get("support", {}).get("threshold")
    if support is None or threshold is None:
        return dict.fromkeys(support or {}, True)
    return {q: bool(v >= threshold) for q, v in support.items()}


def mark_contrasts(
    dist: pd.DataFrame,
    evidence: dict[str, dict[str, Any]],
    supported: dict[str, bool] | None = None,
) -> pd.DataFrame:
    """``contrast_r`` (held-out contrast correlation of the row's trait) and ``contrasts_held_up``
    (empty on the whole population's rows) beside each subgroup row: false where the trait's contrasts
    did not hold up, or where the question is unlike anything the panel answered (``supported``)."""
    trait = dist["trait"]
    r = trait.map(lambda t: evidence.get(t, {}).get("correlation"))
    held = trait.map(lambda t: evidence.get(t, {}).get("held_up", False)).astype(object)
    if supported is not None and "question" in dist:
        held = held & dist["question"].map(supported).fillna(True).astype(bool)
        held = held.astype(object)
    held[trait == "all"] = pd.NA
    return dist.assign(contrast_r=pd.to_numeric(r, errors="coerce"), contrasts_held_up=held)


def method_choice(method: str, choice: dict[str, Any] | None) -> dict[str, Any]:
    """Why ``method`` made the study: the validation choice and whether the configuration follows it."""
    if choice is None:
        return {"method": method, "agrees": True, "note": "no validation choice given"}
    agrees = choice["chosen"] == method
    note = (
        f"{method} is the validation choice: {choice['criterion']}"
        if agrees
        else f"{method} is configured (simulate.method) but validation chooses {choice['chosen']} "
        f"({choice['criterion']})"
    )
    return {"method": method, "agrees": agrees, "note": note, **choice}


def simulate(
    model_dirs: str | Path | Sequence[str | Path],
    questions: Study | Sequence[dict[str, Any]] | dict[str, Any],
    *,
    features=None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    name: str = "notebook",
    evidence: pd.DataFrame | None = None,
    choice: dict[str, Any] | None = None,
) -> Simulation:
    """Ask the population of one or more production models (one per seed) new questions.

    ``questions``: a :class:`~gemsflow.simulation.studies.Study`, a study dict (as in a study file) or a list of
    question dicts (``key``, ``text``, ``options``, optionally ``ordinal``, ``population``,
    ``breakdown``). ``features``: precomputed study features (the workflow's study-features file); by
    default the study is embedded here with the models' own text embedder. ``evidence``: per method and
    trait, how contrasts held up on held-out questions (``contrast_evidence.tsv`` of the held-out
    table); a trait without a row, or with ``held_up`` false, is marked as not held up. ``choice``: the
    validation choice of the method (``simulate_choice.json``), recorded in the info.
    """
    dirs = [model_dirs] if isinstance(model_dirs, str | Path) else list(model_dirs)
    models = [load_production_model(d) for d in dirs]
    first = models[0].info
    for model in models[1:]:
        for key in ("dataset", "method", "features"):
            if model_method(model.info).get(key) != model_method(first).get(key):
                raise InputDataError(
                    model.directory,
                    key,
                    f"{model_method(model.info).get(key)!r} differs from "
                    f"{model_method(first).get(key)!r} of {models[0].directory}",
                    "pass production models of one dataset, method and features (seeds may differ)",
                )
    study = (
        questions if isinstance(questions, Study) else parse_study(questions, "<questions>", name)
    )
    traits = models[0].traits
    check_traits(study, {t.name: list(t.categories) for t in traits})
    if features is None:
        features = study_features(study, first["embedder"])
    features = as_mapping_features(features)
    individuals = predict_individuals(models, study, features)
    support = question_support(models, study, features)
    scale = _interval_sd(models)
    dist = distributions(
        individuals, models[0].individuals, study, traits, n_boot, level, seed, scale
    )
    method = model_method(first)["method"]
    trait_evidence = contrast_evidence(evidence, method, [t.name for t in traits])
    supported = supported_questions(support, choice)
    dist = mark_contrasts(dist, trait_evidence, supported)
    info = {
        "study": study.name,
        "study_file": study.source,
        "study_fingerprint": study.fingerprint,
        "dataset": first["dataset"],
        **{k: v for k, v in model_method(first).items() if k != "dataset"},
        "features": first["features"],
        "embedder": first["embedder"],
        "seeds": [int(m.info["seed"]) for m in models],
        "model_dirs": [m.directory for m in models],
        "validation": {str(m.info["seed"]): m.info["validation"] for m in models},
        "bootstrap": {"n_boot": n_boot, "level": level, "seed": seed},
        "interval_sd": scale,
        "method_choice": method_choice(method, choice),
        "contrast_evidence": trait_evidence,
        "question_support": {
            q: {"support": None if support is None else support[q], "supported": supported[q]}
            for q in supported
        },
        "support_threshold": (choice or {}).get("support", {}).get("threshold"),
        "n_people": {
            q.key: int(
                dist.loc[(dist["question"] == q.key) & (dist["trait"] == "all"), "n"].iloc[0]
            )
            for q in study.questions
        },
    }
    return Simulation(study, individuals, dist, info)


# --------------------------------------------------------------------------------------------------
# The study's deliverable directory


UNSUPPORTED_NOTE = (
    "† faded, hatched: group differences did not hold up on held-out questions, or the question is\n"
    "unlike any the panel answered (see the page): read these bars as the population's shares."
)


def _unsupported_groups(rows: pd.DataFrame, groups: list[tuple[str, str]]) -> np.ndarray:
    """[groups] bool: the group's trait has contrasts marked as not held up."""
    if "contrasts_held_up" not in rows:
        return np.zeros(len(groups), dtype=bool)
    held = rows.drop_duplicates(["trait", "group"]).set_index(["trait", "group"])[
        "contrasts_held_up"
    ]
    return np.array(
        [t != "all" and not pd.isna(held.loc[(t, g)]) and not held.loc[(t, g)] for t, g in groups]
    )


def plot_question(dist: pd.DataFrame, question, path: str | Path) -> None:
    """Stacked horizontal bars: one per group (population first), one segment per option."""
    # The Figure API renders with Agg without pyplot: no backend switch, no global figure registry to
    # close, and a cheaper import for a job that draws one figure per question.
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from gemsflow.io import atomic_path

    rows = dist[dist["question"] == question.key]
    groups = list(dict.fromkeys(zip(rows["trait"], rows["group"], strict=True)))
    shares = rows.pivot_table(
        index=["trait", "group"], columns="position", values="share", sort=False
    )
    shares = shares.loc[groups].to_numpy()
    unsupported = _unsupported_groups(rows, groups)
    k = shares.shape[1]
    cmap = colormaps["RdYlBu" if question.ordinal else "tab10"]
    colors = [cmap(i / max(k - 1, 1)) if question.ordinal else cmap(i % 10) for i in range(k)]
    labels = [
        _literal("Everyone" if t == "all" else f"{t}: {g}" + (" †" if weak else ""))
        for (t, g), weak in zip(groups, unsupported, strict=True)
    ]
    fig = Figure(figsize=(9, 1.2 + 0.32 * len(groups) + (0.4 if unsupported.any() else 0.0)))
    ax = fig.subplots()
    left = np.zeros(len(groups))
    for j in range(k):
        bars = ax.barh(
            range(len(groups)),
            shares[:, j],
            left=left,
            color=colors[j],
            label=_literal(question.options[j]),
        )
        # A breakdown whose contrasts have not held up is drawn faded and hatched, not like a finding.
        for bar, weak in zip(bars, unsupported, strict=True):
            if weak:
                bar.set_alpha(0.35)
                bar.set_hatch("///")
        for i, value in enumerate(shares[:, j]):
            if value >= 0.07:
                ax.text(
                    left[i] + value / 2, i, f"{value:.0%}", ha="center", va="center", fontsize=7
                )
        left += shares[:, j]
    ax.set_yticks(range(len(groups)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted share of answers")
    ax.set_title(_literal(_wrap(question.text, 90)), fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.6 / len(groups)), ncol=min(k, 4),
              fontsize=7, frameon=False)  # fmt: skip
    if unsupported.any():
        fig.text(0.01, 0.005, UNSUPPORTED_NOTE, fontsize=7, style="italic", va="bottom")
    fig.tight_layout(rect=(0, 0.06 if unsupported.any() else 0, 1, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _literal(text: str) -> str:
    """Survey text as matplotlib should print it: two dollar signs ("$30,000-$50,000") would otherwise
    start mathtext and print the amount in italics without its dollar signs."""
    return text.replace("$", r"\$")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])


def _validation_line(seed: str, v: dict[str, Any]) -> str:
    if "gnn_val_accuracy" in v:
        return (
            f"seed {seed}: GNN val acc {v['gnn_val_accuracy']:.3f}, mapping val acc "
            f"{v['mapping_val_accuracy']:.3f} (alpha {v['alpha']:g}, layer {v['layer']})"
        )
    return (
        f"seed {seed}: val acc {v['val_accuracy']:.3f} on {v.get('n_val_questions', '?')} questions"
    )


def _figure(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def support_html(info: dict[str, Any], key: str) -> str:
    """A question unlike anything the panel answered: its breakdowns are marked whatever the trait."""
    entry = info.get("question_support", {}).get(key, {})
    if entry.get("supported", True):
        return ""
    return (
        f"<p><b>† Unlike anything this panel answered</b>: its options come no closer than "
        f"{entry['support']:.2f} (cosine) to an answered option, below "
        f"{info['support_threshold']:.2f}; on held-out questions that far from the panel's, "
        "differences between groups did not hold up. Its breakdowns are drawn faded and hatched.</p>"
    )


def contrast_evidence_html(evidence: dict[str, dict[str, Any]]) -> str:
    """Per trait, how this method's group differences held up on held-out questions."""
    from html import escape

    rows = [
        "<h2>How far the breakdowns can be trusted</h2><p>Differences between groups (one group's "
        "share minus another's) predicted by this method on questions it never saw, against the "
        "differences observed there: r = correlation, sign = agreement on differences of at least 5 "
        "points, RMSE beside predicting no difference at all; the ceiling is the correlation between two "
        f"random halves of the real people. A trait is marked as held up when r is at least "
        f"{HELD_UP_R:g} and the RMSE beats no difference; figures draw the others faded and "
        "hatched (†).</p>",
        "<table><tr><th>trait</th><th>held up</th><th>r</th><th>sign</th><th>RMSE (no difference)"
        "</th><th>ceiling r</th><th>contrasts</th></tr>",
    ]
    for trait, e in evidence.items():
        if "correlation" not in e:
            rows.append(f"<tr><td>{escape(trait)}</td><td>no ({escape(e['evidence'])})</td>"
                        "<td colspan=5></td></tr>")  # fmt: skip
            continue
        rows.append(
            f"<tr><td>{escape(trait)}</td><td>{'yes' if e['held_up'] else 'no †'}</td>"
            f"<td>{_figure(e['correlation'], '.2f')}</td>"
            f"<td>{_figure(e['sign_agreement'], '.0%')}</td>"
            f"<td>{_figure(e['rmse'], '.3f')} ({_figure(e['rmse_no_contrast'], '.3f')})</td>"
            f"<td>{_figure(e['ceiling_correlation'], '.2f')}</td><td>{e['n_contrasts']}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def summary_html(sim: Simulation, evidence=None) -> str:
    """One page: the study, how far to trust it (:mod:`gemsflow.simulation.evidence`; ``evidence`` from
    :func:`~gemsflow.simulation.evidence.read_evidence`, None where none was built), per question its figure
    and the population shares with intervals."""
    from html import escape

    from gemsflow.simulation.evidence import evidence_html

    info = sim.info
    validation = "; ".join(_validation_line(s, v) for s, v in info["validation"].items())
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(sim.study.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>",
        f"<h1>{escape(sim.study.title)}</h1>",
        f"<p>Dataset <b>{escape(info['dataset'])}</b>, production model {escape(info['method'])}, "
        f"seeds {info['seeds']}. {escape(validation)}.</p>",
        f"<p>Why this method: {escape(info['method_choice']['note'])}.</p>",
        evidence_html(evidence, info["validation"]),
        contrast_evidence_html(info["contrast_evidence"]),
        "<p>Shares are survey-weighted means of per-person predicted distributions.</p>",
    ]
    for q in sim.study.questions:
        rows = sim.distributions[
            (sim.distributions["question"] == q.key) & (sim.distributions["trait"] == "all")
        ]
        parts.append(f"<h2>{escape(q.key)}</h2><p>{escape(q.text)}</p>")
        parts.append(support_html(info, q.key))
        parts.append(f"<p>{info['n_people'][q.key]} people")
        if q.population:
            parts.append(f" (population: {escape(json.dumps(q.population))})")
        parts.append(f"</p><img src='{escape(q.key)}.png' style='max-width:100%'>")
        parts.append(
            "<table><tr><th>option</th><th>share</th><th>seeds (range)</th>"
            "<th>bootstrap over people</th></tr>"
        )
        for r in rows.itertuples():
            parts.append(
                f"<tr><td>{escape(r.option)}</td><td>{r.share:.1%}</td>"
                f"<td>{r.seed_min:.1%} – {r.seed_max:.1%}</td><td>{r.boot_lo:.1%} – {r.boot_hi:.1%}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_simulation(sim: Simulation, out_dir: str | Path, evidence=None) -> None:
    """Write the study directory atomically: built beside it, then renamed into place. ``evidence``:
    the held-out evidence for its page (:func:`summary_html`)."""
    import shutil
    import tempfile

    from gemsflow.io import write_text

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        write_parquet(sim.individuals, tmp / "individuals.parquet")
        sim.distributions.to_csv(
            tmp / "distributions.tsv", sep="\t", index=False, float_format="%.6f"
        )
        for q in sim.study.questions:
            plot_question(sim.distributions, q, tmp / f"{q.key}.png")
        write_text(summary_html(sim, evidence), tmp / "index.html")
        write_json(sim.info, tmp / "run_info.json")
        tmp.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
