"""The one accuracy definition: random tie-break credit, abstentions score 0."""

import numpy as np

from gemsflow.evaluation.accuracy import accuracy, pair_credit


def test_uniform_predictions_score_mean_one_over_k():
    rng = np.random.default_rng(0)
    n_options = rng.integers(2, 7, size=500)
    probs = np.zeros((500, 6))
    for i, k in enumerate(n_options):
        probs[i, :k] = 1.0 / k
    answer = np.array([rng.integers(0, k) for k in n_options])
    assert accuracy(probs, answer) == np.mean(1.0 / n_options)


def test_two_way_tie_containing_the_answer_scores_half():
    probs = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7]])
    assert pair_credit(probs, np.array([1, 2, 2])).tolist() == [0.5, 0.0, 1.0]


def test_ties_from_rounding_count_as_ties_and_invalid_options_never_win():
    logits = np.array([[1.0, 1.0 + 1e-12, 5.0]])
    valid = np.array([[True, True, False]])
    assert pair_credit(logits, np.array([0]), valid=valid).tolist() == [0.5]


def test_abstained_pairs_score_zero_and_weights_apply():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.5]])
    answer = np.array([0, 0, 0])
    abstained = np.array([False, True, False])
    assert pair_credit(probs, answer, abstained=abstained).tolist() == [1.0, 0.0, 0.5]
    assert accuracy(probs, answer, weights=np.array([2.0, 1.0, 1.0])) == (2.0 + 1.0 + 0.5) / 4.0
