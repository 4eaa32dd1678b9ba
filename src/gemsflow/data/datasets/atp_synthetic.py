"""A synthetic Pew American Trends Panel: ``ATP W{wave}.sav`` files laid out like Pew's releases.

Pew's terms forbid redistributing the answers, so OpinionQA cannot be run at its real size from
shipped data. These files stand in for a user's downloads: the OpinionQA dataset entry reads them
through the same reader (:func:`gemsflow.data.datasets.opinionqa.load_opinionqa`) as Pew's files.

What is taken from OpinionQA's shipped text files and from the layout of Pew's releases:

* the waves and question keys of ``<prefix>_question_keys.json``; each question column carries the
  shipped options as SPSS value labels under their shipped codes (1..K, a few 8 or 9) plus
  ``99 "Refused"``, and the question text as its variable label;
* a panel of respondents (``QKEY``); each wave is answered by its own sample of them
  (:data:`DEFAULT_RESPONDENTS`: 76,000 respondent-waves in all, configurable per wave);
* the demographic columns the reader looks for, under Pew's names and value labels: the ``*_FINAL``
  and recruitment columns before wave :data:`LATER_NAMES_FROM`, the later names (``F_GENDER``,
  ``F_INC_SDT1``, ``F_RACETHNMOD``, ...) from it on, each with its refusal code (99, or 9
  "Don't know/Refused");
* form splits: a question whose key marks a form (``BETTERPOL1F1B``, ``PQ4_F2Aa``) is asked only of
  the half of the wave on that form (``FORM_W{wave}``); a question not asked is system-missing;
* item refusals (code 99), system-missing answers and ``WEIGHT_W{wave}`` survey weights.

Answers come from a latent model: each respondent has ``n_factors`` attitudes, the sum of a
per-category effect of each of the nine demographics and an individual part, fixed across waves; a
question loads mainly on one factor and is answered by an ordered (cumulative-logit) or unordered
(softmax) model (:func:`gemsflow.data.datasets.synthetic.answer_probabilities`). So subgroups differ, and
a person's other answers in the wave reveal the individual part.

Every wave is drawn from its own generator seeded with ``(seed, wave)``, so a wave's file does not
depend on which other waves are written.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gemsflow.data.datasets.opinionqa import TRAIT_COLUMNS, wave_layout
from gemsflow.data.datasets.synthetic import answer_probabilities
from gemsflow.errors import InputDataError
from gemsflow.io import atomic_path

log = logging.getLogger(__name__)

# Respondents per wave: 76,000 respondent-waves in all, waves of a few thousand to about ten thousand
# as in the ATP of 2017-2021. Approximate sizes, not Pew's published counts.
DEFAULT_RESPONDENTS: dict[int, int] = {
    26: 4700,
    29: 4800,
    32: 6200,
    34: 2500,
    36: 6300,
    41: 10700,
    42: 4600,
    43: 10700,
    45: 1600,
    49: 4300,
    50: 4600,
    54: 5000,
    82: 5000,
    92: 5000,
}
REFUSED = 99
QKEY_OFFSET = 200_000
LATER_NAMES_FROM = 50
# A form-split question: "F1"/"F2" followed by at most two item letters before the wave suffix. A
# heuristic on the key: it also takes MARRYPREF1_W50 and MARRYPREF2_W50 for form questions.
FORM_KEY = re.compile(r"F([12])[A-Za-z]{0,2}_W\d+$")

# Population shares of the common category vocabulary (TRAIT_COLUMNS), roughly US adults.
SHARES: dict[str, tuple[float, ...]] = {
    "age": (0.20, 0.33, 0.26, 0.21),
    "race": (0.62, 0.12, 0.06, 0.16, 0.04),
    "sex": (0.48, 0.51, 0.01),
    "education": (0.09, 0.27, 0.20, 0.10, 0.21, 0.13),
    "income": (0.27, 0.18, 0.17, 0.13, 0.25),
    "cregion": (0.17, 0.21, 0.38, 0.24),
    "relig": (0.42, 0.20, 0.02, 0.01, 0.02, 0.01, 0.01, 0.01, 0.04, 0.05, 0.02, 0.19),
    "polparty": (0.27, 0.31, 0.33, 0.09),
    "polideology": (0.08, 0.24, 0.37, 0.20, 0.11),
}
# Ideology leans with party: republican +1, democrat -1, on a scale from very conservative (+2) to
# very liberal (-2).
PARTY_LEAN = {"republican": 1.0, "democrat": -1.0}
IDEOLOGY_SIDE = (2.0, 1.0, 0.0, -1.0, -2.0)
PARTY_IDEOLOGY_STRENGTH = 0.8
# Relative size of each trait's effects on the attitudes: party and ideology divide opinion most.
TRAIT_WEIGHT = {"polparty": 2.0, "polideology": 1.5}


@dataclass(frozen=True)
class PewColumn:
    """A demographic column as Pew writes it: code -> (value label, the category it stands for;
    None for a refusal). ``stand_in``: a category the column cannot express -> the category written
    instead (None: the refusal code)."""

    name: str
    codes: dict[int, tuple[str, str | None]]
    stand_in: dict[str, str | None] = field(default_factory=dict)

    @property
    def refusal(self) -> int:
        return next(code for code, (_, category) in self.codes.items() if category is None)

    def labels(self) -> dict[int, str]:
        return {code: label for code, (label, _) in self.codes.items()}


_AGE = {1: ("18-29", "18-29"), 2: ("30-49", "30-49"), 3: ("50-64", "50-64"), 4: ("65+", "65+")}
_AGE[REFUSED] = ("DK/REF", None)
_EDUCATION = {
    1: ("Less than high school", "less than high school"),
    2: ("High school graduate", "high school graduate"),
    3: ("Some college, no degree", "some college, no degree"),
    4: ("Associate's degree", "associate's degree"),
    5: ("College graduate/some post grad", "college graduate/some postgrad"),
    6: ("Postgraduate", "postgraduate"),
    REFUSED: ("Don't know/Refused", None),
}
_REGION = {
    1: ("Northeast", "northeast"),
    2: ("Midwest", "midwest"),
    3: ("South", "south"),
    4: ("West", "west"),
    REFUSED: ("Refused", None),
}
_RELIGION = {
    1: (
        "Protestant (Baptist, Methodist, Non-denominational, Lutheran, Presbyterian, Pentecostal, "
        "Episcopalian, Reformed, Church of Christ, etc.)",
        "protestant",
    ),
    2: ("Roman Catholic (Catholic)", "roman catholic"),
    3: ("Mormon (Church of Jesus Christ of Latter-day Saints or LDS)", "mormon"),
    4: ("Orthodox (such as Greek, Russian, or some other Orthodox church)", "orthodox"),
    5: ("Jewish", "jewish"),
    6: ("Muslim", "muslim"),
    7: ("Buddhist", "buddhist"),
    8: ("Hindu", "hindu"),
    9: ("Atheist", "atheist"),
    10: ("Agnostic", "agnostic"),
    11: ("Something else, Specify:______", "other"),
    12: ("Nothing in particular", "nothing in particular"),
    REFUSED: ("Refused", None),
}
_PARTY = {
    1: ("Republican", "republican"),
    2: ("Democrat", "democrat"),
    3: ("Independent", "independent"),
    4: ("Something else", "something else"),
    REFUSED: ("Refused", None),
}
_IDEOLOGY = {
    1: ("Very conservative", "very conservative"),
    2: ("Conservative", "conservative"),
    3: ("Moderate", "moderate"),
    4: ("Liberal", "liberal"),
    5: ("Very liberal", "very liberal"),
    REFUSED: ("Refused", None),
}
_RACE_LATER = {
    1: ("White non-Hispanic", "white"),
    2: ("Black non-Hispanic", "black"),
    3: ("Hispanic", "hispanic"),
    4: ("Other", "other"),
    5: ("Asian non-Hispanic", "asian"),
    REFUSED: ("Refused", None),
}

# trait -> (column before LATER_NAMES_FROM, column from it on).
PEW_COLUMNS: dict[str, tuple[PewColumn, PewColumn]] = {
    "age": (PewColumn("F_AGECAT_FINAL", _AGE), PewColumn("F_AGECAT", _AGE)),
    "race": (
        # The recruitment race variable has no Asian category: Asian respondents are "Other".
        PewColumn(
            "F_RACETHN_RECRUITMENT",
            {
                1: ("White non-Hispanic", "white"),
                2: ("Black non-Hispanic", "black"),
                3: ("Hispanic", "hispanic"),
                4: ("Other", "other"),
                9: ("Don't know/Refused", None),
            },
            stand_in={"asian": "other"},
        ),
        PewColumn("F_RACETHNMOD", _RACE_LATER),
    ),
    "sex": (
        PewColumn(
            "F_SEX_FINAL",
            {1: ("Male", "male"), 2: ("Female", "female"), REFUSED: ("Refused", None)},
            stand_in={"other": None},
        ),
        PewColumn(
            "F_GENDER",
            {
                1: ("A man", "male"),
                2: ("A woman", "female"),
                3: ("In some other way", "other"),
                REFUSED: ("Refused", None),
            },
        ),
    ),
    "education": (
        PewColumn("F_EDUCCAT2_FINAL", _EDUCATION),
        PewColumn("F_EDUCCAT2", _EDUCATION),
    ),
    "income": (
        PewColumn(
            "F_INCOME_FINAL",
            {
                1: ("Less than $10,000", "less than $30,000"),
                2: ("10 to under $20,000", "less than $30,000"),
                3: ("20 to under $30,000", "less than $30,000"),
                4: ("30 to under $40,000", "$30,000-$50,000"),
                5: ("40 to under $50,000", "$30,000-$50,000"),
                6: ("50 to under $75,000", "$50,000-$75,000"),
                7: ("75 to under $100,000", "$75,000-$100,000"),
                8: ("100 to under $150,000", "$100,000 or more"),
                9: ("$150,000 or more", "$100,000 or more"),
                REFUSED: ("Don't know/Refused", None),
            },
        ),
        PewColumn(
            "F_INC_SDT1",
            {
                1: ("Less than $30,000", "less than $30,000"),
                2: ("$30,000 to less than $40,000", "$30,000-$50,000"),
                3: ("$40,000 to less than $50,000", "$30,000-$50,000"),
                4: ("$50,000 to less than $60,000", "$50,000-$75,000"),
                5: ("$60,000 to less than $70,000", "$50,000-$75,000"),
                # Pew's later brackets straddle $75,000; the reader files a bracket by its lower bound.
                6: ("$70,000 to less than $80,000", "$50,000-$75,000"),
                7: ("$80,000 to less than $90,000", "$75,000-$100,000"),
                8: ("$90,000 to less than $100,000", "$75,000-$100,000"),
                9: ("$100,000 or more", "$100,000 or more"),
                REFUSED: ("Refused", None),
            },
        ),
    ),
    "cregion": (PewColumn("F_CREGION_FINAL", _REGION), PewColumn("F_CREGION", _REGION)),
    "relig": (PewColumn("F_RELIG_FINAL", _RELIGION), PewColumn("F_RELIG", _RELIGION)),
    "polparty": (PewColumn("F_PARTY_FINAL", _PARTY), PewColumn("F_PARTY_FINAL", _PARTY)),
    "polideology": (PewColumn("F_IDEO_FINAL", _IDEOLOGY), PewColumn("F_IDEO", _IDEOLOGY)),
}


def pew_columns(wave: int) -> dict[str, PewColumn]:
    """The demographic column of each trait in a wave's file."""
    return {trait: pair[wave >= LATER_NAMES_FROM] for trait, pair in PEW_COLUMNS.items()}


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    codes: list[int]  # in option (letter) order
    labels: list[str]


def read_questions(text_dir: str | Path, prefix: str) -> dict[int, list[Question]]:
    """The shipped OpinionQA questions by wave: keys, texts, and option codes and texts (each parsed
    from the ``Answer: X. <option>`` line of its choice block)."""
    text_dir = Path(text_dir)
    loaded = {}
    for kind in ("question_keys", "question_strings", "option_strings"):
        path = text_dir / f"{prefix}_{kind}.json"
        try:
            loaded[kind] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputDataError(
                path, None, f"cannot read the OpinionQA {kind} file ({exc})", "point dir at them"
            ) from exc
    options: dict[str, dict[int, tuple[str, str]]] = {}
    answer_line = re.compile(r"Answer: ([A-Z])\. (.*)", re.S)
    for choice, block in loaded["option_strings"].items():
        question, _, code = choice.rpartition("_option_")
        match = answer_line.fullmatch(block.rstrip("\n").split("\n")[-1])
        if match is None or not code.isdigit():
            raise InputDataError(
                text_dir / f"{prefix}_option_strings.json",
                choice,
                "not a '<question>_option_<code>' entry ending in 'Answer: <letter>. <option>'",
                "use the shipped OpinionQA option strings",
            )
        options.setdefault(question, {})[int(code)] = (match.group(1), match.group(2).strip())
    by_wave: dict[int, list[Question]] = {}
    for key in sorted(loaded["question_keys"]):
        ordered = sorted(options.get(key, {}).items(), key=lambda item: item[1][0])
        if not ordered:
            raise InputDataError(
                text_dir / f"{prefix}_option_strings.json",
                key,
                "question has no option strings",
                "use the shipped OpinionQA option strings",
            )
        by_wave.setdefault(int(key.rpartition("_W")[2]), []).append(
            Question(
                key,
                str(loaded["question_strings"].get(key, "")),
                [code for code, _ in ordered],
                [text for _, (_, text) in ordered],
            )
        )
    return dict(sorted(by_wave.items()))


def _draw_categories(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Category index of each panel member per trait; ideology leans with party."""
    drawn: dict[str, np.ndarray] = {}
    for trait, shares in SHARES.items():
        p = np.asarray(shares) / np.sum(shares)
        if trait == "polideology":
            parties = TRAIT_COLUMNS["polparty"][2]
            lean = np.array([PARTY_LEAN.get(c, 0.0) for c in parties])[drawn["polparty"]]
            logits = np.log(p)[None, :] + PARTY_IDEOLOGY_STRENGTH * np.outer(lean, IDEOLOGY_SIDE)
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            drawn[trait] = (probs.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
            drawn[trait] = np.minimum(drawn[trait], len(p) - 1)
        else:
            drawn[trait] = rng.choice(len(p), size=n, p=p)
    return drawn


def _attitudes(
    rng: np.random.Generator,
    categories: Mapping[str, np.ndarray],
    n_factors: int,
    demographic_strength: float,
    individual_strength: float,
) -> np.ndarray:
    n = len(next(iter(categories.values())))
    weights = {trait: TRAIT_WEIGHT.get(trait, 1.0) for trait in categories}
    # Scaled so the summed demographic part has the requested standard deviation.
    unit = demographic_strength / np.sqrt(sum(w**2 for w in weights.values()))
    factors = rng.normal(0.0, individual_strength, size=(n, n_factors))
    for trait, index in categories.items():
        effects = rng.normal(0.0, unit * weights[trait], size=(len(SHARES[trait]), n_factors))
        factors += effects[index]
    return factors


def _trait_codes(
    rng: np.random.Generator, column: PewColumn, trait: str, index: np.ndarray, refusal_rate: float
) -> np.ndarray:
    """Pew codes of one demographic column for respondents with category ``index``: a code meaning
    the category (drawn evenly among several), its stand-in, or a refusal."""
    vocabulary = TRAIT_COLUMNS[trait][2]
    out = np.full(len(index), float(column.refusal))
    for c, category in enumerate(vocabulary):
        rows = np.flatnonzero(index == c)
        written = column.stand_in.get(category, category)
        codes = [code for code, (_, meant) in column.codes.items() if meant == written]
        if written is None or not rows.size:
            continue
        out[rows] = np.asarray(codes, dtype="float64")[rng.integers(len(codes), size=rows.size)]
    out[rng.random(len(index)) < refusal_rate] = column.refusal
    return out


def resolve_respondents(respondents: int | Mapping[Any, int] | None, waves: Sequence[int]):
    """Respondents per wave: the defaults, one number for every wave, or a mapping wave -> number."""
    if respondents is None:
        sizes = {w: DEFAULT_RESPONDENTS.get(w) for w in waves}
    elif isinstance(respondents, Mapping):
        sizes = {w: respondents.get(w, respondents.get(str(w))) for w in waves}
    else:
        sizes = dict.fromkeys(waves, int(respondents))
    missing = [w for w, n in sizes.items() if n is None]
    if missing:
        raise InputDataError(
            None,
            "generator.respondents",
            f"no respondent count for waves {missing}",
            "give a count for every wave, or one number for all",
        )
    return {w: int(n) for w, n in sizes.items()}


def write_atp_waves(
    text_dir: str | Path,
    prefix: str,
    raw_dir: str | Path,
    file_pattern: str = "ATP W{wave}.sav",
    waves: Sequence[int] | None = None,
    *,
    seed: int = 30,
    respondents: int | Mapping[Any, int] | None = None,
    panel_size: int = 20_000,
    missing_rate: float = 0.005,
    refusal_rate: float = 0.015,
    trait_refusal_rate: float = 0.02,
    n_factors: int = 4,
    ordinal_share: float = 0.6,
    demographic_strength: float = 1.3,
    individual_strength: float = 1.0,
    discrimination: float = 2.0,
) -> dict[str, Any]:
    """Write one ``.sav`` per wave under ``raw_dir`` and return what was written (per wave:
    respondents, questions, valid answers, refusals, system-missing cells)."""
    import pyreadstat

    if not 0.0 <= missing_rate + refusal_rate < 1.0 or not 0.0 <= trait_refusal_rate < 1.0:
        raise InputDataError(
            None,
            "generator",
            "missing_rate + refusal_rate and trait_refusal_rate must lie in [0, 1)",
            "lower the rates",
        )
    questions = read_questions(text_dir, prefix)
    if waves is not None:
        questions = {int(w): questions[int(w)] for w in waves}
    sizes = resolve_respondents(respondents, list(questions))
    too_big = {w: n for w, n in sizes.items() if not 1 <= n <= panel_size}
    if too_big:
        raise InputDataError(
            None,
            "generator.respondents",
            f"waves {too_big} need between 1 and panel_size={panel_size} respondents",
            "raise generator.panel_size or lower the counts",
        )
    panel_rng = np.random.default_rng([seed, 0])
    categories = _draw_categories(panel_rng, panel_size)
    factors = _attitudes(
        panel_rng, categories, n_factors, demographic_strength, individual_strength
    )
    summary: dict[str, Any] = {}
    for wave, wave_questions in questions.items():
        rng = np.random.default_rng([seed, wave])
        members = np.sort(rng.choice(panel_size, size=sizes[wave], replace=False))
        n = len(members)
        form = rng.integers(1, 3, size=n)
        columns: dict[str, np.ndarray] = {"QKEY": (QKEY_OFFSET + members).astype("float64")}
        value_labels: dict[str, dict[int, str]] = {f"FORM_W{wave}": {1: "Form 1", 2: "Form 2"}}
        variable_labels = {"QKEY": "Respondent key", f"FORM_W{wave}": "Questionnaire form"}
        counts = {"respondents": n, "questions": len(wave_questions)}
        counts.update(answers=0, refusals=0, system_missing=0, not_asked=0)
        for question in wave_questions:
            k = len(question.codes)
            ordinal = k >= 3 and rng.random() < ordinal_share
            probs = answer_probabilities(
                rng, factors[members], int(rng.integers(n_factors)), k, ordinal, discrimination
            )
            position = (probs.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
            codes = np.asarray(question.codes, dtype="float64")[np.minimum(position, k - 1)]
            outcome = rng.random(n)
            codes[outcome < refusal_rate] = REFUSED
            codes[(outcome >= refusal_rate) & (outcome < refusal_rate + missing_rate)] = np.nan
            form_match = FORM_KEY.search(question.key)
            asked = np.ones(n, dtype=bool) if form_match is None else form == int(form_match[1])
            codes[~asked] = np.nan
            columns[question.key] = codes
            value_labels[question.key] = {
                **dict(zip(question.codes, question.labels, strict=True)),
                REFUSED: "Refused",
            }
            variable_labels[question.key] = question.text
            counts["refusals"] += int((asked & (codes == REFUSED)).sum())
            counts["not_asked"] += int((~asked).sum())
            counts["system_missing"] += int((asked & np.isnan(codes)).sum())
        counts["answers"] = (
            n * len(wave_questions)
            - counts["refusals"]
            - counts["not_asked"]
            - counts["system_missing"]
        )
        columns[f"FORM_W{wave}"] = form.astype("float64")
        for trait, column in pew_columns(wave).items():
            columns[column.name] = _trait_codes(
                rng, column, trait, categories[trait][members], trait_refusal_rate
            )
            value_labels[column.name] = column.labels()
            variable_labels[column.name] = TRAIT_COLUMNS[trait][0]
        weights = rng.lognormal(0.0, 0.6, size=n)
        columns[f"WEIGHT_W{wave}"] = weights / weights.mean()
        variable_labels[f"WEIGHT_W{wave}"] = f"Wave {wave} weight"
        frame = pd.DataFrame(columns)
        path = Path(raw_dir) / file_pattern.format(wave=wave)
        with atomic_path(path) as tmp:
            pyreadstat.write_sav(
                frame,
                str(tmp),
                column_labels=[variable_labels.get(c, "") for c in frame.columns],
                variable_value_labels=value_labels,
            )
        summary[str(wave)] = counts
        log.info("wrote %s: %s", path, counts)
    total = {key: sum(c[key] for c in summary.values()) for key in next(iter(summary.values()))}
    log.info("synthetic ATP, %d waves: %s", len(summary), total)
    return {"waves": summary, "total": total}


def write_atp_dataset(entry: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """Write the waves of an OpinionQA dataset entry (path-resolved) from its ``generator`` block
    into its ``raw_dir``, named as the reader expects them."""
    layout = wave_layout(entry)
    params = check_atp_generator_params(entry.get("generator") or {}, where)
    return write_atp_waves(
        layout["dir"],
        layout["prefix"],
        layout["raw_dir"],
        layout["file_pattern"],
        layout["waves"],
        **params,
    )


def check_atp_generator_params(params: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """The config's ``generator`` block of an OpinionQA entry, checked against
    :func:`write_atp_waves`' keyword parameters."""
    known = {
        name: p
        for name, p in inspect.signature(write_atp_waves).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    for key in params:
        if key not in known:
            raise InputDataError(
                where,
                f"generator.{key}",
                "unknown synthetic-ATP generator parameter",
                f"use one of {sorted(known)}",
            )
    return dict(params)
