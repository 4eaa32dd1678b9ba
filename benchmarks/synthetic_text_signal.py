"""How much a question's text can say about the synthetic survey's group differences (issue 27).

The generator (:mod:`gemsflow.data.datasets.synthetic`) makes question ``q`` load on factor ``q % n_factors``
(its topic, which the text names) with a sign drawn at random, independently of the text. Two questions
of one topic then have group differences that are alike up to that sign. This script measures it from
the generator's exact answer probabilities, with no split and no method: for every ordinal question, the
profile of each trait category's mean answer position (scaled to [0, 1], minus the population's), all
traits stacked; then, over pairs of questions, the correlation of their profiles:

- ``same topic``: pairs on one factor, the most a text-based method can tell apart;
- ``same text``: pairs with the same statement (the larger configuration's follow-ups repeat it).

A mean correlation near 0 with a large mean absolute correlation says that the text tells which
questions move together but not in which direction, so no method that reads only the text of a new
question can predict the sign of its group differences better than chance.

Usage: ``python benchmarks/synthetic_text_signal.py [--questions 24 72] [--seed 7]``. Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from gemsflow.data.datasets.synthetic import TRAITS, generate_synthetic

FOLLOW_UP = " (Follow-up"


def profiles(survey) -> dict[int, tuple[np.ndarray, str]]:
    """Per ordinal question: the stacked group-minus-population mean positions and its base text."""
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
        out[q] = (np.concatenate(gaps), survey.question_texts[q].split(FOLLOW_UP)[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, nargs="+", default=[24, 72])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--factors", type=int, default=3, help="the generator's n_factors")
    args = parser.parse_args()
    print(
        "| questions | ordinal | pairs | same topic: mean r | mean abs r | same text: pairs | mean r | mean abs r |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.questions:
        survey = generate_synthetic(n_questions=n, seed=args.seed, n_factors=args.factors)
        rows = profiles(survey)
        topic, text = [], []
        for a, b in itertools.combinations(rows, 2):
            r = float(np.corrcoef(rows[a][0], rows[b][0])[0, 1])
            if a % args.factors == b % args.factors:
                topic.append(r)
            if rows[a][1] == rows[b][1]:
                text.append(r)

        def stats(values: list[float]) -> str:
            if not values:
                return "0 | n/a | n/a"
            return f"{len(values)} | {np.mean(values):+.3f} | {np.mean(np.abs(values)):.3f}"

        print(f"| {n} | {len(rows)} | {stats(topic)} | {stats(text)} |")


if __name__ == "__main__":
    main()
