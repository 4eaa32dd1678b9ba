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

from gemsflow import mapping
from gemsflow.errors import InputDataError
from gemsflow.io import write_json, write_parquet
from gemsflow.studies import Study, check_traits, parse_study
from gemsflow.survey import SurveyData, Trait, build_options_table

log = logging.getLogger(__name__)

FORMAT = "gemsflow.production_model/1"
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


def fit_production_mapping(
    features: mapping.ChoiceFeatures,
    gnn: mapping.GnnEmbeddings,
    data: SurveyData,
    split: pd.DataFrame,
    alphas: Sequence[float],
    skip_embedding_layer: bool = True,
    variants: str | Sequence[str] = "auto",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Choose feature variant, alpha and layer on the split's validation questions, then fit the ridge
    at that choice.

    The selection is :func:`gemsflow.mapping.fit_mapping` itself (same grid, same tie rule), so a
    production model and a setting-3 run of the same split choose alike.
    """
    selected = mapping.fit_mapping(
        features, gnn, data.options, split, data.responses, alphas, skip_embedding_layer, variants
    ).info
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
    return ridge, selected


def save_production_model(
    directory: str | Path,
    gnn: mapping.GnnEmbeddings,
    ridge: dict[str, np.ndarray],
    data: SurveyData,
    info: dict[str, Any],
) -> None:
    """Write the self-contained model directory read by :func:`load_production_model`."""
    import torch

    from gemsflow.gnn.training import save_safetensors

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


def load_production_model(directory: str | Path) -> ProductionModel:
    directory = Path(directory)
    for name in (MODEL_FILE, INFO_FILE, PEOPLE_FILE):
        if not (directory / name).exists():
            raise InputDataError(
                directory / name,
                None,
                "production model file missing",
                "build the model dir with the workflow (results/models/production/...)",
            )
    tensors, _ = mapping.read_safetensors(directory / MODEL_FILE)
    info = json.loads((directory / INFO_FILE).read_text())
    people = pd.read_parquet(directory / PEOPLE_FILE)
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
    from gemsflow.llm.embeddings import text_embeddings

    return text_embeddings(study_survey(study), embedder)


def as_mapping_features(features) -> mapping.ChoiceFeatures:
    """Features as the mapping reads them, whether loaded already or built in memory (torch)."""
    if isinstance(features, mapping.ChoiceFeatures):
        return features
    return mapping.from_stored(features)


# --------------------------------------------------------------------------------------------------
# Per-person predictions and their aggregation


def population_mask(people: pd.DataFrame, population: dict[str, tuple[str, ...]]) -> np.ndarray:
    mask = np.ones(len(people), dtype=bool)
    for trait, values in population.items():
        mask &= people[trait].astype(object).isin(values).to_numpy()
    return mask


def predict_individuals(
    models: Sequence[ProductionModel], study: Study, features: mapping.ChoiceFeatures
) -> pd.DataFrame:
    """One row per (seed, person of the question's population, question, option): ``prob``."""
    row_of = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    frames = []
    for model in models:
        # Models written before the variant was recorded mapped the main variant.
        variant = model.info.get("variant", features.variant)
        candidates = features.candidates()
        layer = int(model.info["layer"])
        if variant not in candidates or layer not in features.layers_of(candidates[variant]):
            raise InputDataError(
                "study features",
                "variants",
                f"the production model maps variant {variant!r} layer {layer}; the features hold "
                f"variants {list(candidates)}, layers {features.layers}",
                f"embed the study with the model's features ({model.info['features']})",
            )
        states = candidates[variant][:, features.layers_of(candidates[variant]).index(layer)]
        for q in study.questions:
            keys = [f"{q.key}_option_{code}" for code in range(1, len(q.options) + 1)]
            mapping.require_features(
                row_of.index,
                keys,
                "study features",
                "rebuild the study features from the current study file",
            )
            mask = population_mask(model.individuals, q.population)
            choice_emb = model.choice_embeddings(states[row_of.loc[keys].to_numpy()])
            logits = model.individual_emb[mask] @ choice_emb.T / model.temperature
            prob = np.exp(logits - logits.max(axis=1, keepdims=True))
            prob /= prob.sum(axis=1, keepdims=True)
            n, k = prob.shape
            frames.append(
                pd.DataFrame(
                    {
                        "seed": int(model.info["seed"]),
                        "individual": np.repeat(
                            model.individuals["individual"].to_numpy(str)[mask], k
                        ),
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
) -> pd.DataFrame:
    """Population and subgroup answer shares with the range over seeds and a bootstrap over people.

    ``share`` averages the seeds; ``seed_min``/``seed_max`` are the extreme seeds' shares;
    ``boot_lo``/``boot_hi`` the ``level`` percentile interval of the seed-averaged share when the
    group's people are resampled with replacement (``n_boot`` draws; 0 leaves them empty).
    """
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
            for k, option in enumerate(q.options):
                records.append(
                    (q.key, trait, group, int(mask.sum()), k, option, per_seed[:, k].mean(),
                     per_seed[:, k].min(), per_seed[:, k].max(), boot[0, k], boot[1, k])
                )  # fmt: skip
    return pd.DataFrame(
        records,
        columns=[
            "question", "trait", "group", "n", "position", "option",
            "share", "seed_min", "seed_max", "boot_lo", "boot_hi",
        ],
    )  # fmt: skip


@dataclass(frozen=True)
class Simulation:
    study: Study
    individuals: pd.DataFrame
    distributions: pd.DataFrame
    info: dict[str, Any]


def simulate(
    model_dirs: str | Path | Sequence[str | Path],
    questions: Study | Sequence[dict[str, Any]] | dict[str, Any],
    *,
    features=None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    name: str = "notebook",
) -> Simulation:
    """Ask the population of one or more production models (one per seed) new questions.

    ``questions``: a :class:`~gemsflow.studies.Study`, a study dict (as in a study file) or a list of
    question dicts (``key``, ``text``, ``options``, optionally ``ordinal``, ``population``,
    ``breakdown``). ``features``: precomputed study features (the workflow's study-features file); by
    default the study is embedded here with the models' own text embedder.
    """
    dirs = [model_dirs] if isinstance(model_dirs, str | Path) else list(model_dirs)
    models = [load_production_model(d) for d in dirs]
    first = models[0].info
    for model in models[1:]:
        for key in ("dataset", "arch", "features"):
            if model.info[key] != first[key]:
                raise InputDataError(
                    model.directory,
                    key,
                    f"{model.info[key]!r} differs from {first[key]!r} of {models[0].directory}",
                    "pass production models of one dataset, arch and features (seeds may differ)",
                )
    study = (
        questions if isinstance(questions, Study) else parse_study(questions, "<questions>", name)
    )
    traits = models[0].traits
    check_traits(study, {t.name: list(t.categories) for t in traits})
    if features is None:
        features = study_features(study, first["embedder"])
    individuals = predict_individuals(models, study, as_mapping_features(features))
    dist = distributions(individuals, models[0].individuals, study, traits, n_boot, level, seed)
    info = {
        "study": study.name,
        "study_file": study.source,
        "study_fingerprint": study.fingerprint,
        "dataset": first["dataset"],
        "arch": first["arch"],
        "features": first["features"],
        "embedder": first["embedder"],
        "seeds": [int(m.info["seed"]) for m in models],
        "model_dirs": [m.directory for m in models],
        "validation": {str(m.info["seed"]): m.info["validation"] for m in models},
        "bootstrap": {"n_boot": n_boot, "level": level, "seed": seed},
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
    k = shares.shape[1]
    cmap = colormaps["RdYlBu" if question.ordinal else "tab10"]
    colors = [cmap(i / max(k - 1, 1)) if question.ordinal else cmap(i % 10) for i in range(k)]
    labels = [_literal("Everyone" if t == "all" else f"{t}: {g}") for t, g in groups]
    fig = Figure(figsize=(9, 1.2 + 0.32 * len(groups)))
    ax = fig.subplots()
    left = np.zeros(len(groups))
    for j in range(k):
        ax.barh(
            range(len(groups)),
            shares[:, j],
            left=left,
            color=colors[j],
            label=_literal(question.options[j]),
        )
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
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _literal(text: str) -> str:
    """Survey text as matplotlib should print it: two dollar signs ("$30,000-$50,000") would otherwise
    start mathtext and print the amount in italics without its dollar signs."""
    return text.replace("$", r"\$")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])


def summary_html(sim: Simulation) -> str:
    """One page: the study, per question its figure and the population shares with intervals."""
    from html import escape

    info = sim.info
    validation = "; ".join(
        f"seed {s}: GNN val acc {v['gnn_val_accuracy']:.3f}, mapping val acc "
        f"{v['mapping_val_accuracy']:.3f} (alpha {v['alpha']:g}, layer {v['layer']})"
        for s, v in info["validation"].items()
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(sim.study.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>",
        f"<h1>{escape(sim.study.title)}</h1>",
        f"<p>Dataset <b>{escape(info['dataset'])}</b>, production model {escape(info['arch'])} + "
        f"{escape(info['features'])} mapping, seeds {info['seeds']}. {escape(validation)}.</p>",
        "<p>Shares are survey-weighted means of per-person predicted distributions; <i>seeds</i> is the "
        "range over production models, <i>bootstrap</i> a percentile interval over people.</p>",
    ]
    for q in sim.study.questions:
        rows = sim.distributions[
            (sim.distributions["question"] == q.key) & (sim.distributions["trait"] == "all")
        ]
        parts.append(f"<h2>{escape(q.key)}</h2><p>{escape(q.text)}</p>")
        parts.append(f"<p>{info['n_people'][q.key]} people")
        if q.population:
            parts.append(f" (population: {escape(json.dumps(q.population))})")
        parts.append(f"</p><img src='{escape(q.key)}.png' style='max-width:100%'>")
        parts.append(
            "<table><tr><th>option</th><th>share</th><th>seeds</th><th>bootstrap</th></tr>"
        )
        for r in rows.itertuples():
            parts.append(
                f"<tr><td>{escape(r.option)}</td><td>{r.share:.1%}</td>"
                f"<td>{r.seed_min:.1%} – {r.seed_max:.1%}</td><td>{r.boot_lo:.1%} – {r.boot_hi:.1%}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_simulation(sim: Simulation, out_dir: str | Path) -> None:
    """Write the study directory atomically: built beside it, then renamed into place."""
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
        write_text(summary_html(sim), tmp / "index.html")
        write_json(sim.info, tmp / "run_info.json")
        tmp.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
