"""How much a question's text can say about the synthetic survey's group differences (issue 27).

The generator (:mod:`gemsflow.data.datasets.synthetic`) makes question ``q`` load on factor ``q % n_factors``
(its topic, which the text names), in the direction its item template declares (its stance: a
statement phrased for or against the topic's pole). This script measures what that leaves for a
method that reads text, from the generator's exact answer probabilities, with no split and no method:
for every ordinal question, the profile of each trait category's mean answer position (scaled to
[0, 1], minus the population's), all traits stacked; then, over pairs of questions, the correlation of
their profiles:

- ``same topic``: pairs on one factor; ``mean r`` is what a method that knows only the topic gets
  (positive where most of a topic's items lean its way), ``mean r x stances`` the same correlation
  signed by the two items' declared stances, what a reader who can tell each item's stance gets;
- ``same text``: pairs with the same statement (the larger configuration's follow-ups repeat it).

Before the stances (the sign drawn at random, independently of the text), seed 7 gave a same-topic
mean r of +0.128 (24 questions) and -0.034 (72), with a mean abs r of 0.90 / 0.82: the text told which
questions move together but not in which direction. Now the mean r is positive and the stance-signed
mean equals the mean abs r: the direction follows from the text.

With ``--embeddings`` (a survey's ``results/embeddings/synthetic/minilm/text_embeddings.safetensors``,
built by the workflow for the same generator settings, ``--questions`` naming its size), it also
measures what a text-embedding method sees: for each option of an ordinal question, its 20 most similar
options of other questions (cosine of each feature variant), and the share of them on the question's
topic, and on its topic with the same stance, beside the share of all other options that are.
Neighbours no more often on the topic than the base rate mean the features read the response scale
and the question stem, not the statement, so a method that weighs neighbours by them cannot use the
direction the text now carries. ``weighted`` gives the share of ``similar-<features>``' neighbour
weights (temperature 0.05, the smaller of ``learners.similar.temperatures``) that falls on them, what
the method actually reads: the weights favour the few nearest options.

Usage: ``python benchmarks/synthetic_text_signal.py [--questions 24 72] [--seed 7]
[--embeddings PATH]``. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from gemsflow.data.datasets.synthetic import TRAITS, generate_synthetic

FOLLOW_UP = " (Follow-up"


def profiles(survey) -> dict[int, tuple[np.ndarray, str, int]]:
    """Per ordinal question: the stacked group-minus-population mean positions, its base text and
    its declared stance."""
    out = {}
    for q, probs in enumerate(survey.probabilities):
        if not survey.ordinal[q]:
            continue
        expected = probs @ np.arange(probs.shape[1]) / (probs.shape[1] - 1)
        gaps = [
            np.array([expected[survey.traits[:, t] == c].mean() for c in range(len(categories))])
            - expected.mean()
            for t, (_, categories, _) in enumerate(TRAITS.values())
        ]
        out[q] = (
            np.concatenate(gaps),
            survey.question_texts[q].split(FOLLOW_UP)[0],
            survey.stances[q],
        )
    return out


def neighbour_topics(
    survey, path: str, n_factors: int, k: int = 20, temperature: float = 0.05
) -> None:
    """Per feature variant: the share of each ordinal option's ``k`` nearest options of other questions
    on its topic / on its topic with its stance, the same share of ``similar-<features>``' weights
    over them (``softmax(similarity / temperature)``), and the base rates."""
    from gemsflow.methods.mapping import load_choice_features
    from gemsflow.methods.similar_questions import top_weights

    features = load_choice_features(path)
    index = {key: q for q, key in enumerate(survey.question_keys)}
    question = np.array([index[c.rsplit("_option_", 1)[0]] for c in features.choices])
    topic = question % n_factors
    stance = np.array([s if isinstance(s, int) else 0 for s in survey.stances])[question]
    ordinal = np.array(survey.ordinal)[question]
    other = question[ordinal, None] != question[None, :]
    same_topic = topic[ordinal, None] == topic[None, :]
    same_stance = same_topic & (stance[ordinal, None] == stance[None, :])
    base = [(mask & other).sum() / other.sum() for mask in (same_topic, same_stance)]
    print(
        "\n| feature variant | same topic: top 20 | weighted | all others "
        "| same topic and stance: top 20 | weighted | all others |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, states in features.candidates().items():
        unit = states[:, -1] / np.linalg.norm(states[:, -1], axis=1, keepdims=True)
        similarity = np.where(question[:, None] == question[None, :], -np.inf, unit @ unit.T)
        top = np.argsort(-similarity, axis=1)[ordinal, :k]
        rows = np.arange(len(top))[:, None]
        near = [same_topic[rows, top].mean(), same_stance[rows, top].mean()]
        weights = top_weights(similarity[ordinal], np.isfinite(similarity[ordinal]), temperature, k)
        weighted = [(weights * mask).sum(axis=1).mean() for mask in (same_topic, same_stance)]
        print(
            f"| {name} | {near[0]:.2f} | {weighted[0]:.2f} | {base[0]:.2f} "
            f"| {near[1]:.2f} | {weighted[1]:.2f} | {base[1]:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, nargs="+", default=[24, 72])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--factors", type=int, default=3, help="the generator's n_factors")
    parser.add_argument(
        "--embeddings", help="text_embeddings.safetensors of the survey of --questions"
    )
    args = parser.parse_args()
    print(
        "| questions | ordinal | same topic: pairs | mean r | mean abs r | mean r x stances "
        "| same text: pairs | mean r | mean abs r |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.questions:
        survey = generate_synthetic(n_questions=n, seed=args.seed, n_factors=args.factors)
        rows = profiles(survey)
        topic, signed, text = [], [], []
        for a, b in itertools.combinations(rows, 2):
            r = float(np.corrcoef(rows[a][0], rows[b][0])[0, 1])
            if a % args.factors == b % args.factors:
                topic.append(r)
                signed.append(r * rows[a][2] * rows[b][2])
            if rows[a][1] == rows[b][1]:
                text.append(r)

        def stats(values: list[float]) -> str:
            if not values:
                return "0 | n/a | n/a"
            return f"{len(values)} | {np.mean(values):+.3f} | {np.mean(np.abs(values)):.3f}"

        print(f"| {n} | {len(rows)} | {stats(topic)} | {np.mean(signed):+.3f} | {stats(text)} |")
    if args.embeddings:
        if len(args.questions) != 1:
            parser.error("--embeddings needs exactly one --questions, the size of its survey")
        survey = generate_synthetic(
            n_questions=args.questions[0], seed=args.seed, n_factors=args.factors
        )
        neighbour_topics(survey, args.embeddings, args.factors)


if __name__ == "__main__":
    main()
