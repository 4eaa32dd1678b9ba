"""A synthetic survey with a known latent structure, written in the GEMS file layout.

The generative model, all drawn from one ``numpy.random.Generator``:

* every individual has five demographic traits (age, sex, education, region, party; party depends on
  the other four so that traits are correlated as in real panels);
* ``n_factors`` latent attitudes per individual = the sum of per-category effects of their traits
  (shared by everybody in a subgroup) + individual noise (what only other answers can reveal);
* ordinal questions (Likert scales) threshold a noisy linear score of the attitudes (cumulative-logit
  model, so option order carries meaning); nominal questions pick an option by a softmax over
  option utilities that are linear in the attitudes;
* answers go missing completely at random with probability ``missing_rate``.

The structure gives each method family something to find: per-question majority ignores people,
subgroup majority sees the demographic part of the attitudes, and a model that learns from the other
answers of a person (matrix factorisation, GNN) can recover the individual part as well. The exact
answer probabilities are kept, so tests can compare any predictor with the oracle that knows them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gemsflow.data.datasets.gems_layout import WEIGHT_COLUMN
from gemsflow.data.survey import choice_block
from gemsflow.errors import InputDataError
from gemsflow.io import atomic_path, write_json

log = logging.getLogger(__name__)

ID_OFFSET = 30000001

# Trait column -> (description, categories, population shares). Category texts follow the vocabulary
# of the Twin/OpinionQA traits, so subgroup names read the same across datasets.
TRAITS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "age": ("Age", ("18-29", "30-49", "50-64", "65+"), (0.2, 0.34, 0.26, 0.2)),
    "sex": ("Gender", ("male", "female"), (0.49, 0.51)),
    "education": (
        "Education level",
        (
            "high school graduate or less",
            "some college, no degree",
            "college graduate",
            "postgraduate",
        ),
        (0.36, 0.28, 0.22, 0.14),
    ),
    "cregion": (
        "Region of residence",
        ("northeast", "midwest", "south", "west"),
        (0.17, 0.21, 0.38, 0.24),
    ),
    "polparty": (
        "Political party affiliation",
        ("republican", "democrat", "independent", "something else"),
        (0.3, 0.32, 0.3, 0.08),
    ),
}
PARTY = "polparty"

# Attitude topics: (question-key stem, statements for agree/disagree items, things for importance
# items, activities for frequency items, outcomes for confidence items, nominal items).
# A question loads mainly on its topic's factor; topics beyond n_factors wrap around.
TOPICS: list[dict] = [
    {
        "code": "GOV",
        "statements": [
            "The federal government should do more to reduce income inequality.",
            "Government regulation of business usually does more harm than good.",
            "Taxes on large corporations should be raised.",
            "The government should guarantee health insurance for all citizens.",
            "Most government spending programs are wasteful.",
            "Labor unions are good for working people in this country.",
        ],
        "things": [
            "keeping taxes low",
            "expanding social safety-net programs",
            "reducing the federal budget deficit",
            "raising the minimum wage",
        ],
        "activities": ["follow news about national politics", "contact an elected official"],
        "outcomes": [
            "the federal government will handle the economy well over the next year",
            "elected officials care what people like you think",
        ],
        "nominal": [
            (
                "Which of the following should be the top priority for Congress this year?",
                [
                    "Lowering inflation",
                    "Improving health care",
                    "Reducing crime",
                    "Addressing climate change",
                    "Securing the border",
                ],
            ),
            (
                "Which of these comes closest to your view about the size of government?",
                [
                    "A smaller government providing fewer services",
                    "A bigger government providing more services",
                    "About the current size",
                ],
            ),
            (
                "Which of these issues matters most to you when deciding how to vote?",
                ["The economy", "Health care", "Immigration", "Abortion", "Foreign policy"],
            ),
            (
                "Which level of government do you trust most to solve problems?",
                ["Federal government", "State government", "Local government", "None of them"],
            ),
        ],
    },
    {
        "code": "TECH",
        "statements": [
            "Artificial intelligence will do more good than harm for society.",
            "Social media companies should be more strictly regulated.",
            "Scientific research is worth funding even when it has no immediate benefit.",
            "Self-driving cars will make roads safer.",
            "People should be worried about how companies use their personal data.",
            "New technology generally makes life easier for people like me.",
        ],
        "things": [
            "having fast home internet",
            "keeping up with new technology",
            "protecting your online privacy",
            "learning new digital skills",
        ],
        "activities": [
            "use an AI chatbot",
            "shop online",
            "read news about science and technology",
        ],
        "outcomes": [
            "scientists act in the best interests of the public",
            "your personal information is kept secure by the companies you use",
        ],
        "nominal": [
            (
                "Which of these sources do you rely on most for news about science?",
                ["Television", "News websites or apps", "Social media", "Friends and family"],
            ),
            (
                "Which technology do you think will change daily life the most in the next ten years?",
                [
                    "Artificial intelligence",
                    "Electric vehicles",
                    "Gene editing",
                    "Renewable energy",
                    "Space travel",
                ],
            ),
            (
                "Which device do you use most often to go online?",
                ["A smartphone", "A laptop or desktop computer", "A tablet", "I rarely go online"],
            ),
            (
                "Who should be mainly responsible for protecting people from false information online?",
                [
                    "Technology companies",
                    "The government",
                    "Individual users",
                    "News organizations",
                ],
            ),
        ],
    },
    {
        "code": "COMM",
        "statements": [
            "Most people in my neighborhood can be trusted.",
            "People today are less willing to help their neighbors than in the past.",
            "Local community organizations make a real difference.",
            "I feel a strong sense of belonging to my local community.",
            "Volunteering is an important part of being a good citizen.",
            "Religion plays an important role in keeping communities together.",
        ],
        "things": [
            "attending religious services",
            "spending time with your neighbors",
            "voting in local elections",
            "supporting local businesses",
        ],
        "activities": [
            "volunteer for a local organization",
            "attend a community event",
            "talk with your neighbors",
        ],
        "outcomes": [
            "your local police treat all people fairly",
            "your local schools prepare children well for the future",
        ],
        "nominal": [
            (
                "Which of the following best describes the place where you live?",
                ["A large city", "A suburb", "A small town", "A rural area"],
            ),
            (
                "Which of these is the biggest problem facing your local community?",
                ["Affordable housing", "Crime", "Jobs", "Schools", "Roads and infrastructure"],
            ),
            (
                "Which of these do you rely on most to learn about what is happening in your community?",
                [
                    "Local TV news",
                    "A local newspaper",
                    "Neighborhood social media groups",
                    "Word of mouth",
                ],
            ),
            (
                "Which kind of group are you most involved with, if any?",
                [
                    "A religious congregation",
                    "A sports or hobby club",
                    "A volunteer or charity group",
                    "A parents' or school group",
                    "None of these",
                ],
            ),
        ],
    },
    {
        "code": "LIFE",
        "statements": [
            "I am satisfied with the way things are going in my personal life.",
            "Working from home is better for most employees.",
            "It is important to save money for the future even if it means spending less now.",
            "People should take more responsibility for their own health.",
            "Children today will be better off financially than their parents.",
            "Having a good work-life balance matters more than a high salary.",
        ],
        "things": [
            "getting regular exercise",
            "having a stable job",
            "eating healthy food",
            "spending time with family",
        ],
        "activities": [
            "exercise for at least 30 minutes",
            "cook a meal at home",
            "worry about paying your bills",
        ],
        "outcomes": [
            "you will have enough money to retire comfortably",
            "you could handle an unexpected expense of $1,000",
        ],
        "nominal": [
            (
                "Which of these would you most like to have more of in your life?",
                ["Money", "Free time", "Good health", "Close friendships"],
            ),
            (
                "Which of the following best describes your current work situation?",
                [
                    "Working full time",
                    "Working part time",
                    "Not working but looking for work",
                    "Retired",
                    "Student or homemaker",
                ],
            ),
            (
                "Which of these is your main source of stress these days?",
                ["Money", "Work", "Health", "Family or relationships", "Current events"],
            ),
            (
                "Which of these best describes how you usually spend a free evening?",
                [
                    "Watching TV or streaming",
                    "Seeing friends or family",
                    "Reading or a hobby",
                    "Exercising",
                    "Working or studying",
                ],
            ),
        ],
    },
]

# Ordinal scales from the low to the high end of the latent score.
AGREE = [
    "Strongly disagree",
    "Somewhat disagree",
    "Neither agree nor disagree",
    "Somewhat agree",
    "Strongly agree",
]
IMPORTANCE = ["Not at all important", "Not too important", "Somewhat important", "Very important"]
FREQUENCY = ["Never", "Rarely", "Sometimes", "Often", "Very often"]
CONFIDENCE = ["Not at all confident", "Not too confident", "Somewhat confident", "Very confident"]


@dataclass(frozen=True)
class SyntheticSurvey:
    """One draw of the generative model.

    ``traits`` holds 0-based category indices ``[n, n_traits]``; ``answers`` 0-based option positions
    with -1 for missing ``[n, n_questions]``; ``probabilities[q]`` the exact answer distribution
    ``[n, n_options(q)]`` each individual had for question ``q``.
    """

    ids: np.ndarray
    traits: np.ndarray
    factors: np.ndarray
    question_keys: list[str]
    question_texts: list[str]
    option_texts: list[list[str]]
    ordinal: list[bool]
    answers: np.ndarray
    probabilities: list[np.ndarray]


def _item_pool(topic: dict) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """All ordinal and nominal items a topic can produce, in a fixed order."""
    ordinal = [
        (f"How much do you agree or disagree with the following statement? {s}", AGREE)
        for s in topic["statements"]
    ]
    ordinal += [(f"How important is {t} to you personally?", IMPORTANCE) for t in topic["things"]]
    ordinal += [
        (f"In a typical month, how often do you {a}?", FREQUENCY) for a in topic["activities"]
    ]
    ordinal += [(f"How confident are you that {o}?", CONFIDENCE) for o in topic["outcomes"]]
    nominal = [(text, list(options)) for text, options in topic["nominal"]]
    return ordinal, nominal


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    expd = np.exp(shifted)
    return expd / expd.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_traits(rng: np.random.Generator, n: int, party_dependence: float) -> np.ndarray:
    names = list(TRAITS)
    out = np.zeros((n, len(names)), dtype=np.int64)
    for t, name in enumerate(names):
        if name == PARTY:
            continue
        shares = np.asarray(TRAITS[name][2])
        out[:, t] = rng.choice(len(shares), size=n, p=shares / shares.sum())
    # Party leans on the other traits through random per-category effects on party logits.
    party_t = names.index(PARTY)
    shares = np.asarray(TRAITS[PARTY][2])
    logits = np.tile(np.log(shares), (n, 1))
    for t, name in enumerate(names):
        if name == PARTY:
            continue
        effects = rng.normal(0.0, party_dependence, size=(len(TRAITS[name][1]), len(shares)))
        logits += effects[out[:, t]]
    probs = _softmax(logits)
    draws = rng.random(n)
    out[:, party_t] = np.minimum(
        (probs.cumsum(axis=1) < draws[:, None]).sum(axis=1), len(shares) - 1
    )
    return out


def _choose_items(
    rng: np.random.Generator, n_questions: int, n_factors: int, ordinal_share: float
) -> list[tuple[int, str, list[str], bool]]:
    """Pick ``n_questions`` distinct (factor, text, options, ordinal) items, cycling through topics."""
    pools = []
    for f in range(n_factors):
        ordinal, nominal = _item_pool(TOPICS[f % len(TOPICS)])
        pools.append(
            (
                [ordinal[i] for i in rng.permutation(len(ordinal))],
                [nominal[i] for i in rng.permutation(len(nominal))],
            )
        )
    is_ordinal = rng.random(n_questions) < ordinal_share
    used = [[0, 0] for _ in range(n_factors)]
    items = []
    for q in range(n_questions):
        f = q % n_factors
        kind = 0 if is_ordinal[q] else 1
        # Switch to the other item kind before repeating an item of the preferred one.
        if used[f][kind] >= len(pools[f][kind]) and used[f][1 - kind] < len(pools[f][1 - kind]):
            kind = 1 - kind
        pool = pools[f][kind]
        text, options = pool[used[f][kind] % len(pool)]
        repeat = used[f][kind] // len(pool)
        used[f][kind] += 1
        # Beyond the template pool, repeats are framed as asked again later in the survey so that
        # question texts stay distinct (they are embedded and shown in prompts).
        if repeat:
            text = (
                f"{text} (Follow-up {repeat}: please answer again, thinking about the past year.)"
            )
        items.append((f, text, options, bool(kind == 0)))
    return items


def _attitudes(
    rng: np.random.Generator,
    traits: np.ndarray,
    n_factors: int,
    demographic_strength: float,
    individual_strength: float,
) -> np.ndarray:
    """Each individual's attitude on every factor: an individual part plus a shift per trait category."""
    # Scaled so the summed demographic part has the requested standard deviation whatever the number
    # of traits.
    per_trait = demographic_strength / np.sqrt(len(TRAITS))
    factors = rng.normal(0.0, individual_strength, size=(len(traits), n_factors))
    for t, name in enumerate(TRAITS):
        effects = rng.normal(0.0, per_trait, size=(len(TRAITS[name][1]), n_factors))
        factors += effects[traits[:, t]]
    return factors


def answer_probabilities(
    rng: np.random.Generator,
    factors: np.ndarray,
    f: int,
    k: int,
    ordinal: bool,
    discrimination: float,
) -> np.ndarray:
    """(individual, option) answer probabilities of one question loading mainly on factor ``f``."""
    n_individuals, n_factors = factors.shape
    loading = rng.normal(0.0, 0.3, size=n_factors)
    loading[f] = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2)
    strength = discrimination * rng.uniform(0.75, 1.25)
    if ordinal:
        score = strength * (factors @ loading)
        # Cut points at population quantiles of the score with uneven category shares, so that
        # the modal answer differs between questions and subgroups.
        shares = rng.dirichlet(np.full(k, 2.0))
        cuts = np.quantile(score, np.cumsum(shares)[:-1])
        cumulative = _sigmoid(cuts[None, :] - score[:, None])
        cumulative = np.concatenate(
            [np.zeros((n_individuals, 1)), cumulative, np.ones((n_individuals, 1))], axis=1
        )
        probs = np.diff(cumulative, axis=1)
    else:
        utilities = rng.normal(0.0, 0.5, size=(k, n_factors))
        utilities[:, f] += rng.normal(0.0, 1.0, size=k)
        intercepts = rng.normal(0.0, 0.7, size=k)
        probs = _softmax(strength * (factors @ utilities.T) * 0.7 + intercepts)
    probs = np.clip(probs, 0.0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs


def generate_synthetic(
    n_individuals: int = 400,
    n_questions: int = 24,
    seed: int = 7,
    missing_rate: float = 0.05,
    n_factors: int = 3,
    ordinal_share: float = 0.75,
    demographic_strength: float = 1.3,
    individual_strength: float = 1.0,
    discrimination: float = 2.0,
    party_dependence: float = 0.6,
) -> SyntheticSurvey:
    """Draw individuals, questions and answers.

    ``demographic_strength`` and ``individual_strength`` are the standard deviations of the trait-driven
    and the individual part of each attitude; ``discrimination`` scales how sharply answers follow the
    attitudes (higher: less answer noise, a higher oracle accuracy).
    """
    if n_individuals < 1 or n_questions < 1 or n_factors < 1:
        raise ValueError("n_individuals, n_questions and n_factors must be at least 1")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must lie in [0, 1), got {missing_rate}")
    rng = np.random.default_rng(seed)
    traits = _draw_traits(rng, n_individuals, party_dependence)
    factors = _attitudes(rng, traits, n_factors, demographic_strength, individual_strength)

    items = _choose_items(rng, n_questions, n_factors, ordinal_share)
    answers = np.full((n_individuals, n_questions), -1, dtype=np.int64)
    probabilities = []
    for q, (f, _text, options, ordinal) in enumerate(items):
        k = len(options)
        probs = answer_probabilities(rng, factors, f, k, ordinal, discrimination)
        draws = rng.random(n_individuals)
        answers[:, q] = np.minimum((probs.cumsum(axis=1) < draws[:, None]).sum(axis=1), k - 1)
        probabilities.append(probs)

    missing = rng.random(answers.shape) < missing_rate
    answers[missing] = -1

    width = max(3, len(str(n_questions)))
    keys = [
        f"{TOPICS[f % len(TOPICS)]['code']}{q + 1:0{width}d}_W1"
        for q, (f, *_rest) in enumerate(items)
    ]
    return SyntheticSurvey(
        ids=np.arange(ID_OFFSET, ID_OFFSET + n_individuals, dtype=np.int64),
        traits=traits,
        factors=factors,
        question_keys=keys,
        question_texts=[text for _, text, _, _ in items],
        option_texts=[list(options) for _, _, options, _ in items],
        ordinal=[ordinal for *_rest, ordinal in items],
        answers=answers,
        probabilities=probabilities,
    )


def write_synthetic_gems_layout(
    out_dir: str | Path,
    prefix: str = "synthetic",
    n_individuals: int = 400,
    n_questions: int = 24,
    seed: int = 7,
    missing_rate: float = 0.05,
    **model: float,
) -> SyntheticSurvey:
    """Generate a survey and write it in the GEMS file layout under ``out_dir``.

    Files (``<prefix>_``): ``responses.csv`` (``QKEY``, trait columns, question columns, ``WEIGHT_W1``;
    1-based integer codes, empty = missing), ``question_keys.json``, ``question_strings.json``,
    ``options_map.json`` (questions and trait columns, keys ``"1.0"``...), ``option_strings.json``
    and ``question_meta.json`` (``{qkey: {"ordinal": bool}}``). Extra keyword arguments go to
    :func:`generate_synthetic`. Returns the survey that was written.
    """
    survey = generate_synthetic(
        n_individuals=n_individuals,
        n_questions=n_questions,
        seed=seed,
        missing_rate=missing_rate,
        **model,
    )
    out_dir = Path(out_dir)
    columns: dict[str, object] = {"QKEY": survey.ids}
    for t, name in enumerate(TRAITS):
        columns[name] = survey.traits[:, t] + 1
    for q, key in enumerate(survey.question_keys):
        codes = pd.array(survey.answers[:, q] + 1, dtype="Int64")
        codes[survey.answers[:, q] < 0] = pd.NA
        columns[key] = codes
    columns[WEIGHT_COLUMN] = np.ones(len(survey.ids))
    frame = pd.DataFrame(columns)

    options_map: dict[str, dict[str, str]] = {}
    option_strings: dict[str, str] = {}
    for key, text, options in zip(
        survey.question_keys, survey.question_texts, survey.option_texts, strict=True
    ):
        options_map[key] = {f"{i + 1}.0": option for i, option in enumerate(options)}
        for i in range(len(options)):
            option_strings[f"{key}_option_{i + 1}"] = choice_block(text, options, i)
    for name, (_, categories, _) in TRAITS.items():
        options_map[name] = {f"{i + 1}.0": category for i, category in enumerate(categories)}

    with atomic_path(out_dir / f"{prefix}_responses.csv") as tmp:
        frame.to_csv(tmp, index=False)
    write_json(survey.question_keys, out_dir / f"{prefix}_question_keys.json")
    write_json(
        dict(zip(survey.question_keys, survey.question_texts, strict=True)),
        out_dir / f"{prefix}_question_strings.json",
    )
    write_json(options_map, out_dir / f"{prefix}_options_map.json")
    write_json(option_strings, out_dir / f"{prefix}_option_strings.json")
    write_json(
        {key: {"ordinal": o} for key, o in zip(survey.question_keys, survey.ordinal, strict=True)},
        out_dir / f"{prefix}_question_meta.json",
    )
    log.info(
        "wrote synthetic survey to %s: %d individuals, %d questions (%d ordinal), %.1f%% missing",
        out_dir,
        n_individuals,
        n_questions,
        sum(survey.ordinal),
        100.0 * float((survey.answers < 0).mean()),
    )
    return survey


def check_generator_params(
    params: Mapping[str, object], where: str = "config"
) -> dict[str, object]:
    """Validate a config's ``generator`` mapping against :func:`generate_synthetic`'s parameters."""
    known = inspect.signature(generate_synthetic).parameters
    for key, value in params.items():
        if key not in known:
            raise InputDataError(
                where,
                f"generator.{key}",
                "unknown synthetic-generator parameter",
                f"use one of {sorted(known)}",
            )
        default = known[key].default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputDataError(
                where, f"generator.{key}", f"{value!r} is not a number", "give a number"
            )
        if isinstance(default, int) and not isinstance(value, int):
            raise InputDataError(
                where, f"generator.{key}", f"{value!r} is not an integer", "give an integer"
            )
    return dict(params)


def trait_descriptions() -> dict[str, str]:
    """Trait column -> description, for the dataset config of the synthetic survey."""
    return {name: description for name, (description, _, _) in TRAITS.items()}
