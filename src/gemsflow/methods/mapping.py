"""Setting 3 (new questions): map frozen text features of answer choices onto GNN choice embeddings.

The GNN never sees the options of validation and test questions, so it has no embedding for them. A
linear ridge map learned on the training questions' choices (features -> GNN choice embedding) predicts
their embeddings from text features (LLM hidden states of one layer, or sentence-encoder embeddings);
the GNN's own decoder then scores every individual against the predicted choices.

Ridge in closed form: with ``X`` standardised by the training mean and population std (std 0 -> 1) and
``Y`` centred, ``W = V diag(s / (s^2 + alpha)) U^T Y_c`` and the intercept is the mean of ``Y``
(unpenalised). One thin SVD per (feature variant, layer) serves every alpha of the grid. The feature
variant (text embeddings hold several: ``option+question``, ``option``, ``choice_block``), the layer and
the alpha are chosen by tie-aware accuracy (:mod:`gemsflow.evaluation.accuracy`) on the validation questions only;
test questions are scored once, with the winner. ``run_info.json`` records every grid cell's validation
accuracy and the selection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow import io
from gemsflow.data.splits import EVAL_PARTS, PARTS
from gemsflow.data.survey import join_answers
from gemsflow.errors import InputDataError
from gemsflow.evaluation.accuracy import pair_credit
from gemsflow.evaluation.selection import DEFAULT_FOLDS, cross_fitted_choice, validation_folds

log = logging.getLogger(__name__)


def standardise(x: np.ndarray, x_mean: np.ndarray, x_scale: np.ndarray) -> np.ndarray:
    """Features as float64, standardised with a fitted ridge's ``x_mean`` and ``x_scale``: what the
    ridge's coefficients act on (the setting-3 mapping and the production model alike)."""
    return (np.asarray(x, dtype=np.float64) - x_mean) / x_scale


@dataclass(frozen=True)
class RidgePath:
    """Ridge regressions of ``Y`` on ``X`` for any penalty, sharing one SVD of the standardised ``X``."""

    x_mean: np.ndarray  # [d]
    x_scale: np.ndarray  # [d]
    y_mean: np.ndarray  # [m]
    vt: np.ndarray  # [k, d] right singular vectors
    s: np.ndarray  # [k] singular values
    uty: np.ndarray  # [k, m] U^T Y_c

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> RidgePath:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
            raise ValueError(
                f"need X [n, d] and Y [n, m] with equal n, got {x.shape} and {y.shape}"
            )
        x_mean = x.mean(axis=0)
        x_scale = x.std(axis=0)
        # Constant features carry no signal; scaling by 1 keeps them at zero instead of dividing by 0.
        x_scale[x_scale == 0] = 1.0
        y_mean = y.mean(axis=0)
        u, s, vt = np.linalg.svd((x - x_mean) / x_scale, full_matrices=False)
        return cls(x_mean, x_scale, y_mean, vt, s, u.T @ (y - y_mean))

    def shrinkage(self, alpha: float) -> np.ndarray:
        if alpha <= 0:
            raise ValueError(f"ridge alpha must be positive, got {alpha}")
        return self.s / (self.s**2 + alpha)

    def coef(self, alpha: float) -> np.ndarray:
        """``W`` [d, m] acting on standardised features."""
        return self.vt.T @ (self.shrinkage(alpha)[:, None] * self.uty)

    def project(self, x: np.ndarray) -> np.ndarray:
        """Standardise new rows and rotate them onto the singular directions: ``[n, k]``, alpha-free."""
        return standardise(x, self.x_mean, self.x_scale) @ self.vt.T

    def predict_projected(self, z: np.ndarray, alpha: float) -> np.ndarray:
        return z @ (self.shrinkage(alpha)[:, None] * self.uty) + self.y_mean

    def predict(self, x: np.ndarray, alpha: float) -> np.ndarray:
        return self.predict_projected(self.project(x), alpha)


@dataclass(frozen=True)
class OptionRows:
    """Held-out (individual, question) pairs, one row per option of the pair's question.

    Rows of a pair are contiguous and in option order, so ``pair_start`` delimits them.
    """

    frame: pd.DataFrame  # individual, question, part, code, choice, position: one row per option
    individual_index: np.ndarray  # [rows] row into the GNN's individual embeddings
    choice_index: np.ndarray  # [rows] row into the choice list being scored
    pair_start: np.ndarray  # [pairs]
    true_row: np.ndarray  # [pairs] absolute row of the answer actually given

    @property
    def n_pairs(self) -> int:
        return len(self.pair_start)


def pair_logits(indiv_emb: np.ndarray, choice_emb: np.ndarray, pairs: OptionRows) -> np.ndarray:
    """Dot-product decoder score of every option row (before the temperature)."""
    # One matrix product over the few distinct choices, then a gather, instead of a product per row.
    scores = indiv_emb @ choice_emb.T
    return scores[pairs.individual_index, pairs.choice_index]


def pair_credits(logits: np.ndarray, pairs: OptionRows) -> np.ndarray:
    """[pairs] tie-aware credit of per-row scores: each pair's rows laid out as one padded row."""
    if pairs.n_pairs == 0:
        return np.zeros(0)
    lengths = np.diff(np.append(pairs.pair_start, len(logits)))
    pair = np.repeat(np.arange(pairs.n_pairs), lengths)
    slot = np.arange(len(logits)) - pairs.pair_start[pair]
    scores = np.full((pairs.n_pairs, int(lengths.max())), -np.inf)
    scores[pair, slot] = logits
    valid = np.arange(scores.shape[1]) < lengths[:, None]
    return pair_credit(scores, pairs.true_row - pairs.pair_start, valid=valid)


def pair_accuracy(logits: np.ndarray, pairs: OptionRows) -> float:
    """Tie-aware accuracy of per-row scores (mean of :func:`pair_credits`); NaN without pairs."""
    credit = pair_credits(logits, pairs)
    return float(credit.mean()) if len(credit) else float("nan")


def pair_softmax(logits: np.ndarray, pairs: OptionRows) -> np.ndarray:
    """Softmax over each pair's own options."""
    lengths = np.diff(np.append(pairs.pair_start, len(logits)))
    shifted = logits - np.repeat(np.maximum.reduceat(logits, pairs.pair_start), lengths)
    weights = np.exp(shifted)
    return weights / np.repeat(np.add.reduceat(weights, pairs.pair_start), lengths)


def question_parts(split: pd.DataFrame) -> dict[str, list[str]]:
    """Questions of each split part; setting 3 needs every question in exactly one part."""
    per_question = split.groupby("question", sort=True)["part"].unique()
    mixed = per_question[per_question.map(len) > 1]
    if len(mixed):
        question = mixed.index[0]
        raise InputDataError(
            "split.parquet",
            "part",
            f"question {question!r} is in parts {sorted(mixed.iloc[0])}; the mapping needs a "
            "question-axis split where every question lies in one part",
            "use a setting with axis: question and eval_partial_ratio: 0",
        )
    parts = per_question.map(lambda values: values[0])
    return {part: sorted(parts.index[parts == part]) for part in PARTS}


def build_eval_pairs(
    split: pd.DataFrame,
    responses: pd.DataFrame,
    options: pd.DataFrame,
    individual_ids: Sequence[str],
    choice_ids: Sequence[str],
) -> OptionRows:
    """Option rows of every val/test pair of the split, indexed into the given individual and choice lists."""
    held = split.loc[split["part"].isin(EVAL_PARTS), ["individual", "question", "part"]]
    held = join_answers(held, responses, source="split.parquet").rename(columns={"code": "answer"})
    rows = held.merge(
        options[["question", "code", "position", "choice"]], on="question", how="inner"
    ).sort_values(["part", "individual", "question", "position"], kind="stable", ignore_index=True)

    individual_lookup = pd.Series(np.arange(len(individual_ids)), index=pd.Index(individual_ids))
    missing = ~rows["individual"].isin(individual_lookup.index)
    if missing.any():
        raise InputDataError(
            "embeddings.safetensors",
            "individuals",
            f"individual {rows.loc[missing, 'individual'].iloc[0]!r} of the split has no GNN embedding",
            "retrain the GNN on the same dataset and split",
        )
    choice_lookup = pd.Series(np.arange(len(choice_ids)), index=pd.Index(choice_ids))
    starts = np.flatnonzero(
        (
            rows[["individual", "question", "part"]]
            != rows[["individual", "question", "part"]].shift()
        )
        .any(axis=1)
        .to_numpy()
    )
    is_true = (rows["code"] == rows["answer"]).to_numpy()
    return OptionRows(
        frame=rows.drop(columns="answer"),
        individual_index=individual_lookup.loc[rows["individual"]].to_numpy(),
        choice_index=choice_lookup.loc[rows["choice"]].to_numpy(),
        pair_start=starts,
        true_row=np.flatnonzero(is_true),
    )


@dataclass(frozen=True)
class GnnEmbeddings:
    individuals: list[str]
    individual_emb: np.ndarray  # [n_individuals, d]
    choices: list[str]
    choice_emb: np.ndarray  # [n_choices, d]
    temperature: float


MAIN_VARIANT = "choice_states"


@dataclass(frozen=True)
class MappingFeatures:
    choices: list[str]
    layers: list[int]
    states: np.ndarray  # [n_choices, n_layers, dim]
    # Other variants of the same choices' features, each [n_choices, n_layers', dim'] (layers [0] when
    # n_layers' == 1, else ``layers``); the mapping picks one on validation.
    variants: dict[str, np.ndarray] = field(default_factory=dict)
    variant: str = MAIN_VARIANT  # the name of ``states``

    def candidates(self) -> dict[str, np.ndarray]:
        """Every feature variant by name, the main one first (it wins exact ties)."""
        return {self.variant: self.states, **self.variants}

    def layers_of(self, states: np.ndarray) -> list[int]:
        return list(self.layers) if states.shape[1] == len(self.layers) else [0]


def as_float64(values) -> np.ndarray:
    """Features as float64 numpy: torch float32 tensors as built, or numpy arrays as read (bfloat16 is
    already widened exactly by :func:`gemsflow.io.read_safetensors`)."""
    return np.asarray(values, dtype=np.float64)


def read_float64_tensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every tensor of a safetensors file as float64 numpy, and the file's metadata (torch-free)."""
    tensors, metadata = io.read_safetensors(path)
    return {name: as_float64(value) for name, value in tensors.items()}, metadata


def _meta_list(path: str | Path, metadata: dict[str, str], key: str) -> list:
    if key not in metadata:
        raise InputDataError(path, key, "metadata entry missing", "rebuild the file with gemsflow")
    return json.loads(metadata[key])


def load_choice_features(path: str | Path) -> MappingFeatures:
    """Text embeddings or hidden states (same layout, see docs/ARCHITECTURE.md) as numpy features."""
    from gemsflow.methods.llm.features import load_features

    return from_stored(load_features(path, framework="np"))


def from_stored(stored) -> MappingFeatures:
    """``llm.features.MappingFeatures`` (torch float32 as built, or numpy as read) -> float64 numpy."""
    return MappingFeatures(
        [str(c) for c in stored.choices],
        [int(layer) for layer in stored.layers],
        as_float64(stored.choice_states),
        {name: as_float64(value) for name, value in (stored.variants or {}).items()},
        (stored.info or {}).get("variant", MAIN_VARIANT),
    )


def load_gnn_embeddings(path: str | Path) -> GnnEmbeddings:
    """The GNN's setting-3 export (``gemsflow.gnn_embeddings/1``, docs/ARCHITECTURE.md)."""
    tensors, metadata = read_float64_tensors(path)
    for name in ("individual_embeddings", "choice_embeddings", "temperature"):
        if name not in tensors:
            raise InputDataError(path, name, "tensor missing", "retrain the setting-3 GNN")
    individuals = [str(i) for i in _meta_list(path, metadata, "individuals")]
    choices = [str(c) for c in _meta_list(path, metadata, "choices")]
    individual_emb, choice_emb = tensors["individual_embeddings"], tensors["choice_embeddings"]
    if len(individual_emb) != len(individuals) or len(choice_emb) != len(choices):
        raise InputDataError(
            path,
            "individual_embeddings/choice_embeddings",
            f"{len(individual_emb)} x {len(choice_emb)} rows for {len(individuals)} individuals and "
            f"{len(choices)} choices",
            "retrain the setting-3 GNN",
        )
    temperature = float(tensors["temperature"].reshape(-1)[0])
    if not temperature > 0:
        raise InputDataError(path, "temperature", f"{temperature} is not positive", "retrain")
    return GnnEmbeddings(individuals, individual_emb, choices, choice_emb, temperature)


def select_layers(layers: Sequence[int], skip_embedding_layer: bool) -> list[int]:
    """Layer indices to search; the token-embedding layer 0 of an LLM carries no context."""
    if skip_embedding_layer and len(layers) > 1:
        return [layer for layer in layers if layer != 0]
    return list(layers)


@dataclass(frozen=True)
class MappingResult:
    predictions: pd.DataFrame
    info: dict[str, Any]


def _fit_and_eval_choices(
    features: MappingFeatures, gnn: GnnEmbeddings, options: pd.DataFrame, split: pd.DataFrame
) -> tuple[list[str], list[str]]:
    """The training choices the ridge is fit on (with features and a GNN embedding) and the val/test
    choices it predicts (each must have features)."""
    parts = question_parts(split)
    for part in ("train", "val"):
        if not parts[part]:
            raise InputDataError(
                "split.parquet",
                "part",
                f"no {part} questions",
                "raise the dataset's question count or the split ratios",
            )
    option_part = options["question"].map(
        {q: part for part, questions in parts.items() for q in questions}
    )
    feature_row = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    gnn_row = pd.Series(np.arange(len(gnn.choices)), index=pd.Index(gnn.choices))

    train_choices = options.loc[option_part == "train", "choice"]
    usable = train_choices.isin(feature_row.index) & train_choices.isin(gnn_row.index)
    if (~usable).any():
        log.warning(
            "%d of %d training choices lack features or a GNN embedding and are left out of the fit",
            int((~usable).sum()),
            len(train_choices),
        )
    train_choices = train_choices[usable].tolist()
    if len(train_choices) < 2:
        raise InputDataError(
            "embeddings.safetensors",
            "choices",
            f"only {len(train_choices)} training choices have both features and GNN embeddings",
            "check that features and GNN embeddings come from the same dataset",
        )
    eval_choices = options.loc[option_part.isin(EVAL_PARTS), "choice"].tolist()
    require_features(
        feature_row.index,
        eval_choices,
        "choice features",
        "rebuild the features file from the current canonical dataset",
    )
    return train_choices, eval_choices


def require_features(available: pd.Index, choices: list[str], source: str, fix: str) -> None:
    """Raise unless every choice key has a features row (the mapping can only place what it can read)."""
    missing = [c for c in choices if c not in available]
    if missing:
        raise InputDataError(
            source,
            "choices",
            f"{len(missing)} of {len(choices)} choices have no features (first: {missing[0]!r})",
            fix,
        )


def fit_mapping(
    features: MappingFeatures,
    gnn: GnnEmbeddings,
    options: pd.DataFrame,
    split: pd.DataFrame,
    responses: pd.DataFrame,
    alphas: Sequence[float],
    skip_embedding_layer: bool = True,
    variants: str | Sequence[str] = "auto",
    seed: int = 0,
    folds: int = DEFAULT_FOLDS,
) -> MappingResult:
    """Grid-search (variant, alpha, layer) on validation questions, then predict val and test answers.

    Test answers come from the cell best on all validation questions; the validation answers of each
    fold of validation questions from the cell best on the other folds (:mod:`gemsflow.evaluation.selection`), so
    the validation figure the scorer reads is out-of-fold.

    ``alphas`` is ``mapping.alphas`` of the validated config (the schema owns its default and
    requires at least one).
    """
    features = keep_variants(features, variants)
    train_choices, eval_choices = _fit_and_eval_choices(features, gnn, options, split)
    feature_row = pd.Series(np.arange(len(features.choices)), index=pd.Index(features.choices))
    gnn_row = pd.Series(np.arange(len(gnn.choices)), index=pd.Index(gnn.choices))

    pairs = build_eval_pairs(split, responses, options, gnn.individuals, eval_choices)
    val_mask = (pairs.frame["part"] == "val").to_numpy()
    val_pairs = _subset(pairs, val_mask)
    if val_pairs.n_pairs == 0:
        raise InputDataError(
            "split.parquet", "part", "validation questions have no answers", "resplit"
        )

    train_rows = feature_row.loc[train_choices].to_numpy()
    eval_rows = feature_row.loc[eval_choices].to_numpy()
    y_train = gnn.choice_emb[gnn_row.loc[train_choices].to_numpy()]
    grid, credit = _validation_grid(
        features, train_rows, eval_rows, y_train, gnn, val_pairs, alphas, skip_embedding_layer
    )

    def cell_logits(cell: dict[str, Any], on: OptionRows) -> np.ndarray:
        states = features.candidates()[cell["variant"]]
        position = features.layers_of(states).index(cell["layer"])
        path = RidgePath.fit(states[train_rows, position], y_train)
        predicted = path.predict(states[eval_rows, position], cell["alpha"])
        return pair_logits(gnn.individual_emb, predicted, on)

    # First maximum in grid order: the main variant first, then per alpha the lowest best layer.
    best = max(grid, key=lambda cell: cell["val_accuracy"])
    states = features.candidates()[best["variant"]]
    logits = cell_logits(best, pairs)
    val_questions = val_pairs.frame["question"].to_numpy()[val_pairs.pair_start]
    fold = validation_folds(pd.Series(val_questions), folds, seed, kind="questions")
    chosen = cross_fitted_choice(credit, fold)
    fold_of_row = np.repeat(fold, np.diff(np.append(val_pairs.pair_start, len(val_pairs.frame))))
    val_logits = np.empty(len(val_pairs.frame))
    for j, c in enumerate(chosen):
        val_logits[fold_of_row == j] = cell_logits(grid[c], val_pairs)[fold_of_row == j]
    logits[val_mask] = val_logits
    oof_accuracy = pair_accuracy(val_logits, val_pairs)
    prob = pair_softmax(logits / gnn.temperature, pairs)

    predictions = pairs.frame[["individual", "question", "part", "code"]].assign(prob=prob)
    predictions = predictions.astype(
        {"individual": str, "question": str, "part": str, "code": "int64", "prob": "float64"}
    )
    info = {
        "best_variant": best["variant"],
        "best_alpha": best["alpha"],
        "best_layer": best["layer"],
        "best_val_accuracy": best["val_accuracy"],
        "fold_selected": [
            {"predicts_fold": j, **{k: grid[c][k] for k in ("variant", "layer", "alpha")}}
            for j, c in enumerate(chosen)
        ],
        "out_of_fold_val_accuracy": oof_accuracy,
        # Every choice made on validation questions, with the figure it was made on.
        "selection": {
            "what": "feature variant, layer and ridge alpha",
            "selected": {k: best[k] for k in ("variant", "layer", "alpha")},
            "val_accuracy": best["val_accuracy"],
            "candidates": len(grid),
            "best_val_accuracy_by_variant": {
                v: max(c["val_accuracy"] for c in grid if c["variant"] == v)
                for v in features.candidates()
            },
        },
        "temperature": float(gnn.temperature),
        "n_train_choices": len(train_choices),
        "n_eval_choices": len(eval_choices),
        "feature_dim": int(states.shape[-1]),
        "grid": grid,
    }
    log.info(
        "best variant %s, alpha %s, layer %s: val accuracy %.4f",
        best["variant"],
        best["alpha"],
        best["layer"],
        best["val_accuracy"],
    )
    return MappingResult(predictions, info)


def keep_variants(features: MappingFeatures, variants: str | Sequence[str]) -> MappingFeatures:
    """The features restricted to the configured variants (``auto``: all), in the configured order."""
    if variants == "auto":
        return features
    stored = features.candidates()
    unknown = [v for v in variants if v not in stored]
    if unknown or not variants:
        raise InputDataError(
            "config/config.yaml",
            "mapping.feature_variants",
            f"{unknown or 'empty list'} not among the stored variants {list(stored)}",
            "use auto or names of stored variants",
        )
    first, *rest = variants
    return MappingFeatures(
        features.choices,
        features.layers,
        stored[first],
        {v: stored[v] for v in rest},
        first,
    )


def _validation_grid(
    features: MappingFeatures,
    train_rows: np.ndarray,
    eval_rows: np.ndarray,
    y_train: np.ndarray,
    gnn: GnnEmbeddings,
    val_pairs: OptionRows,
    alphas: Sequence[float],
    skip_embedding_layer: bool,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Validation accuracy of every (variant, alpha, layer), in that nesting order, and each cell's
    per-pair credit ([cells, validation pairs])."""
    grid, credit = [], []
    for variant, states in features.candidates().items():
        all_layers = features.layers_of(states)
        layers = select_layers(all_layers, skip_embedding_layer)
        val_acc = np.full((len(alphas), len(layers)), np.nan)
        cell_credit = np.zeros((len(alphas), len(layers), val_pairs.n_pairs))
        for j, layer in enumerate(layers):
            position = all_layers.index(layer)
            path = RidgePath.fit(states[train_rows, position], y_train)
            z_eval = path.project(states[eval_rows, position])
            for i, alpha in enumerate(alphas):
                predicted = path.predict_projected(z_eval, alpha)
                cell_credit[i, j] = pair_credits(
                    pair_logits(gnn.individual_emb, predicted, val_pairs), val_pairs
                )
                val_acc[i, j] = cell_credit[i, j].mean()
        credit.append(cell_credit.reshape(-1, val_pairs.n_pairs))
        grid += [
            {
                "variant": variant,
                "alpha": float(alpha),
                "layer": int(layer),
                "val_accuracy": float(val_acc[i, j]),
            }
            for i, alpha in enumerate(alphas)
            for j, layer in enumerate(layers)
        ]
    return grid, np.concatenate(credit)


def _subset(pairs: OptionRows, row_mask: np.ndarray) -> OptionRows:
    """The pairs whose rows are selected (a mask that keeps or drops whole pairs)."""
    kept_rows = np.flatnonzero(row_mask)
    new_index = np.full(len(row_mask), -1)
    new_index[kept_rows] = np.arange(len(kept_rows))
    start_kept = row_mask[pairs.pair_start]
    return OptionRows(
        frame=pairs.frame.loc[row_mask].reset_index(drop=True),
        individual_index=pairs.individual_index[row_mask],
        choice_index=pairs.choice_index[row_mask],
        pair_start=new_index[pairs.pair_start[start_kept]],
        true_row=new_index[pairs.true_row[start_kept]],
    )
