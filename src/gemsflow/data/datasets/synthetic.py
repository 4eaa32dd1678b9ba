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

The direction in which a question loads on its topic's factor is a property of its text, not a draw:
every item template declares its stance (:data:`TOPICS`), as a real questionnaire's items lean for or
against what their topic measures, and most items of a topic lean its way. An earlier version drew the
sign at random, independently of the text. Then two questions of one topic had group differences alike
up to a sign that no reader of the text could tell, so no method that reads a new question's text
could predict which groups answer it higher (``benchmarks/synthetic_text_signal.py`` measured a mean
signed correlation near 0 between same-topic questions), and the held-out contrast targets of issue 27
were out of reach by construction. Everything else about a question (loading sizes, cross-loadings,
cut points, option utilities' sizes) is still drawn, from the same draws as before.

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
# Each has a pole, the high end of its factor, and every item declares its stance
# towards that pole in its own words: +1 where agreeing with a statement, valuing a thing, doing an
# activity often or being confident of an outcome expresses the pole, -1 where it expresses the
# opposite (a reversed item), and per option of a nominal item +1 / -1 / 0 (an option the text does
# not place on the topic's axis). The direction of a question's group differences then follows from
# its text, as in a real survey, where a reader who knows the topic can tell which way an item leans:
# a method that reads a new question's text can in principle predict it (issue 27). Most items of a
# topic lean towards its pole; reversed items are phrased against it.
# A question loads mainly on its topic's factor; topics beyond n_factors wrap around.
TOPICS: list[dict] = [
    {
        "code": "GOV",  # pole: a larger, more active government
        "statements": [
            ("The federal government should do more to reduce income inequality.", 1),
            ("Government regulation of business usually does more harm than good.", -1),
            ("Taxes on large corporations should be raised.", 1),
            ("The government should guarantee health insurance for all citizens.", 1),
            ("Most government spending programs are wasteful.", -1),
            ("Labor unions are good for working people in this country.", 1),
        ],
        "things": [
            ("keeping taxes low", -1),
            ("expanding social safety-net programs", 1),
            ("reducing the federal budget deficit", -1),
            ("raising the minimum wage", 1),
        ],
        "activities": [
            ("follow news about national politics", 1),
            ("contact an elected official", 1),
        ],
        "outcomes": [
            ("the federal government will handle the economy well over the next year", 1),
            ("elected officials care what people like you think", 1),
        ],
        "nominal": [
            (
                "Which of the following should be the top priority for Congress this year?",
                [
                    ("Lowering inflation", 0),
                    ("Improving health care", 1),
                    ("Reducing crime", 0),
                    ("Addressing climate change", 1),
                    ("Securing the border", -1),
                ],
            ),
            (
                "Which of these comes closest to your view about the size of government?",
                [
                    ("A smaller government providing fewer services", -1),
                    ("A bigger government providing more services", 1),
                    ("About the current size", 0),
                ],
            ),
            (
                "Which of these issues matters most to you when deciding how to vote?",
                [
                    ("The economy", 0),
                    ("Health care", 1),
                    ("Immigration", -1),
                    ("Abortion", 0),
                    ("Foreign policy", 0),
                ],
            ),
            (
                "Which level of government do you trust most to solve problems?",
                [
                    ("Federal government", 1),
                    ("State government", 0),
                    ("Local government", 0),
                    ("None of them", -1),
                ],
            ),
        ],
    },
    {
        "code": "TECH",  # pole: enthusiasm for technology and science
        "statements": [
            ("Artificial intelligence will do more good than harm for society.", 1),
            ("Social media companies should be more strictly regulated.", -1),
            ("Scientific research is worth funding even when it has no immediate benefit.", 1),
            ("Self-driving cars will make roads safer.", 1),
            ("People should be worried about how companies use their personal data.", -1),
            ("New technology generally makes life easier for people like me.", 1),
        ],
        "things": [
            ("having fast home internet", 1),
            ("keeping up with new technology", 1),
            ("protecting your online privacy", -1),
            ("learning new digital skills", 1),
        ],
        "activities": [
            ("use an AI chatbot", 1),
            ("shop online", 1),
            ("read news about science and technology", 1),
        ],
        "outcomes": [
            ("scientists act in the best interests of the public", 1),
            ("your personal information is kept secure by the companies you use", 1),
        ],
        "nominal": [
            (
                "Which of these sources do you rely on most for news about science?",
                [
                    ("Television", 0),
                    ("News websites or apps", 1),
                    ("Social media", 0),
                    ("Friends and family", -1),
                ],
            ),
            (
                "Which technology do you think will change daily life the most in the next ten years?",
                [
                    ("Artificial intelligence", 1),
                    ("Electric vehicles", 0),
                    ("Gene editing", 0),
                    ("Renewable energy", 0),
                    ("Space travel", 0),
                ],
            ),
            (
                "Which device do you use most often to go online?",
                [
                    ("A smartphone", 0),
                    ("A laptop or desktop computer", 1),
                    ("A tablet", 0),
                    ("I rarely go online", -1),
                ],
            ),
            (
                "Who should be mainly responsible for protecting people from false information online?",
                [
                    ("Technology companies", 1),
                    ("The government", -1),
                    ("Individual users", 0),
                    ("News organizations", 0),
                ],
            ),
        ],
    },
    {
        "code": "COMM",  # pole: attachment to and trust in the local community
        "statements": [
            ("Most people in my neighborhood can be trusted.", 1),
            ("People today are less willing to help their neighbors than in the past.", -1),
            ("Local community organizations make a real difference.", 1),
            ("I feel a strong sense of belonging to my local community.", 1),
            ("Volunteering is an important part of being a good citizen.", 1),
            ("Religion plays an important role in keeping communities together.", 1),
        ],
        "things": [
            ("attending religious services", 1),
            ("spending time with your neighbors", 1),
            ("voting in local elections", 1),
            ("supporting local businesses", 1),
        ],
        "activities": [
            ("volunteer for a local organization", 1),
            ("attend a community event", 1),
            ("talk with your neighbors", 1),
        ],
        "outcomes": [
            ("your local police treat all people fairly", 1),
            ("your local schools prepare children well for the future", 1),
        ],
        "nominal": [
            (
                "Which of the following best describes the place where you live?",
                [
                    ("A large city", -1),
                    ("A suburb", 0),
                    ("A small town", 1),
                    ("A rural area", 1),
                ],
            ),
            (
                "Which of these is the biggest problem facing your local community?",
                [
                    ("Affordable housing", 0),
                    ("Crime", -1),
                    ("Jobs", 0),
                    ("Schools", 0),
                    ("Roads and infrastructure", 0),
                ],
            ),
            (
                "Which of these do you rely on most to learn about what is happening in your community?",
                [
                    ("Local TV news", 0),
                    ("A local newspaper", 1),
                    ("Neighborhood social media groups", 0),
                    ("Word of mouth", 1),
                ],
            ),
            (
                "Which kind of group are you most involved with, if any?",
                [
                    ("A religious congregation", 1),
                    ("A sports or hobby club", 1),
                    ("A volunteer or charity group", 1),
                    ("A parents' or school group", 1),
                    ("None of these", -1),
                ],
            ),
        ],
    },
    {
        "code": "LIFE",  # pole: contentment and financial security
        "statements": [
            ("I am satisfied with the way things are going in my personal life.", 1),
            ("I often feel that I have too little time for the things that matter to me.", -1),
            ("I have enough money saved to cover several months of expenses.", 1),
            ("I feel in control of my own health.", 1),
            ("Children today will be better off financially than their parents.", 1),
            ("I worry that I could lose my job in the next year.", -1),
        ],
        "things": [
            ("getting regular exercise", 1),
            ("having a stable job", 1),
            ("eating healthy food", 1),
            ("spending time with family", 1),
        ],
        "activities": [
            ("exercise for at least 30 minutes", 1),
            ("cook a meal at home", 1),
            ("worry about paying your bills", -1),
        ],
        "outcomes": [
            ("you will have enough money to retire comfortably", 1),
            ("you could handle an unexpected expense of $1,000", 1),
        ],
        "nominal": [
            (
                "Which of these would you most like to have more of in your life?",
                [
                    ("Money", -1),
                    ("Free time", 0),
                    ("Good health", 0),
                    ("Close friendships", 0),
                ],
            ),
            (
                "Which of the following best describes your current work situation?",
                [
                    ("Working full time", 1),
                    ("Working part time", 0),
                    ("Not working but looking for work", -1),
                    ("Retired", 0),
                    ("Student or homemaker", 0),
                ],
            ),
            (
                "Which of these is your main source of stress these days?",
                [
                    ("Money", -1),
                    ("Work", 0),
                    ("Health", 0),
                    ("Family or relationships", 0),
                    ("Current events", 1),
                ],
            ),
            (
                "Which of these best describes how you usually spend a free evening?",
                [
                    ("Watching TV or streaming", 0),
                    ("Seeing friends or family", 1),
                    ("Reading or a hobby", 0),
                    ("Exercising", 1),
                    ("Working or studying", -1),
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

# An item's declared stance towards its topic's pole: one sign for an ordinal item (towards the high
# end of its scale), one per option for a nominal item.
Stance = int | tuple[int, ...]


@dataclass(frozen=True)
class SyntheticSurvey:
    """One draw of the generative model.

    ``traits`` holds 0-based category indices ``[n, n_traits]``; ``answers`` 0-based option positions
    with -1 for missing ``[n, n_questions]``; ``probabilities[q]`` the exact answer distribution
    ``[n, n_options(q)]`` each individual had for question ``q``; ``stances[q]`` its declared
    direction on its topic's factor (see :data:`TOPICS`).
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
    stances: list[Stance]


def _item_pool(
    topic: dict,
) -> tuple[list[tuple[str, list[str], Stance]], list[tuple[str, list[str], Stance]]]:
    """All ordinal and nominal items a topic can produce, in a fixed order, with their stances."""
    ordinal = [
        (f"How much do you agree or disagree with the following statement? {s}", AGREE, sign)
        for s, sign in topic["statements"]
    ]
    ordinal += [
        (f"How important is {t} to you personally?", IMPORTANCE, sign)
        for t, sign in topic["things"]
    ]
    ordinal += [
        (f"In a typical month, how often do you {a}?", FREQUENCY, sign)
        for a, sign in topic["activities"]
    ]
    ordinal += [
        (f"How confident are you that {o}?", CONFIDENCE, sign) for o, sign in topic["outcomes"]
    ]
    nominal = [
        (text, [option for option, _ in options], tuple(sign for _, sign in options))
        for text, options in topic["nominal"]
    ]
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
) -> list[tuple[int, str, list[str], bool, Stance]]:
    """Pick ``n_questions`` distinct (factor, text, options, ordinal, stance) items, cycling through
    topics."""
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
        text, options, stance = pool[used[f][kind] % len(pool)]
        repeat = used[f][kind] // len(pool)
        used[f][kind] += 1
        # Beyond the template pool, repeats are framed as asked again later in the survey so that
        # question texts stay distinct (they are embedded and shown in prompts); a repeat keeps its
        # statement's stance.
        if repeat:
            text = (
                f"{text} (Follow-up {repeat}: please answer again, thinking about the past year.)"
            )
        items.append((f, text, options, bool(kind == 0), stance))
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
    stance: Stance | None = None,
) -> np.ndarray:
    """(individual, option) answer probabilities of one question loading mainly on factor ``f``.

    ``stance`` is the item's declared direction on ``f`` (see :data:`TOPICS`): the sign of an ordinal
    item's loading, or per option of a nominal item the sign of its utility on ``f`` (0: none beyond
    the random part every factor gets). ``None`` draws the direction at random, for items whose text
    declares none (:mod:`gemsflow.data.datasets.atp_synthetic`).
    """
    n_individuals, n_factors = factors.shape
    loading = rng.normal(0.0, 0.3, size=n_factors)
    # The random sign is drawn even when the stance overrides it, so that every later draw of a
    # seed, and so the rest of the survey, is the same whether or not the items declare a stance.
    sign = rng.choice([-1.0, 1.0])
    if ordinal and stance is not None:
        sign = float(stance)
    loading[f] = sign * rng.uniform(0.8, 1.2)
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
        main = rng.normal(0.0, 1.0, size=k)
        if stance is not None:
            main = np.asarray(stance, dtype=float) * np.abs(main)
        utilities[:, f] += main
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
    for q, (f, _text, options, ordinal, stance) in enumerate(items):
        k = len(options)
        probs = answer_probabilities(rng, factors, f, k, ordinal, discrimination, stance)
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
        question_texts=[text for _, text, *_rest in items],
        option_texts=[list(options) for _, _, options, *_rest in items],
        ordinal=[ordinal for *_rest, ordinal, _ in items],
        stances=[stance for *_rest, stance in items],
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
