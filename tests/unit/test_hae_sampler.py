"""The hard-example sampler: frequencies match its probabilities, orders are seeded by (seed, epoch), resume."""

import numpy as np
import pytest

from edit_handbook.editcaption.sampler import HardExampleSampler, PairScores


MARGINS = (0.05, 0.25, 0.5, 1.0, 2.0)


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, np.float64)))


def scores(margins=MARGINS, refresh=True):
    return PairScores(np.asarray(margins), beta=0.1, temperature=0.5, uniform_mix=0.2, eps=0.05, refresh=refresh)


def test_empirical_frequencies_match_probabilities():
    pair_scores = scores()
    sampler = HardExampleSampler(pair_scores, seed=3, num_samples=40_000)
    counts = np.bincount(sampler.global_order(0), minlength=len(pair_scores))
    expected = pair_scores.probabilities() * sampler.num_samples
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 13.28  # chi-square critical value, 4 degrees of freedom, p = 0.01
    assert np.abs(counts / sampler.num_samples - pair_scores.probabilities()).max() < 0.01


def test_order_is_a_function_of_seed_and_epoch():
    first, second = HardExampleSampler(scores(), seed=7), HardExampleSampler(scores(), seed=7)
    assert first.global_order(2).tolist() == second.global_order(2).tolist()
    assert first.global_order(3).tolist() != first.global_order(4).tolist()
    assert len(list(first)) == len(first) == 5  # with replacement, N draws per epoch


def test_refresh_applies_at_next_epoch_and_resume_continues_the_same_order():
    live = scores()
    sampler = HardExampleSampler(live, seed=0, num_samples=64)
    sampler.global_order(0)
    live.observe(np.array([1, 3]), np.array([20.0, -5.0]))  # pair 1 satisfied, pair 3 not
    saved = live.state_dict()  # a checkpoint at the end of epoch 0, before the refresh
    epoch1 = sampler.global_order(1)
    assert live.scores[1] == pytest.approx(1 / (1 + np.exp(-(0.25 - 2.0))))
    assert live.scores[3] == pytest.approx(1 / (1 + np.exp(-(1.0 + 0.5))))
    assert live.scores[0] == pytest.approx(sigmoid(0.05))  # not drawn: keeps its score

    resumed = scores()
    resumed.load_state_dict(saved)
    assert HardExampleSampler(resumed, seed=0, num_samples=64).global_order(1).tolist() == epoch1.tolist()


def test_without_refresh_scores_stay():
    frozen = scores(refresh=False)
    frozen.observe(np.array([0]), np.array([100.0]))
    frozen.start_epoch(1)
    assert frozen.scores.tolist() == pytest.approx(sigmoid(MARGINS).tolist())


def test_state_of_another_dataset_is_refused():
    with pytest.raises(ValueError, match="checkpoint belongs to another dataset"):
        scores().load_state_dict(scores(margins=(1.0, 2.0)).state_dict())


def test_every_score_is_on_one_scale_drawn_or_not():
    """Scores start at sigmoid(m_i), the refreshed score at delta = 0: an undrawn pair and an identical drawn
    pair whose delta is still 0 get the same score, hence the same probability (never 0.6x or 2x)."""
    live = scores(margins=(1.0, 1.0, 0.0))
    assert live.scores.tolist() == pytest.approx(sigmoid([1.0, 1.0, 0.0]).tolist())
    live.observe(np.array([0]), np.array([0.0]))
    live.start_epoch(1)
    assert live.scores[0] == pytest.approx(live.scores[1])
    probabilities = live.probabilities()
    assert probabilities[0] == pytest.approx(probabilities[1])
    assert probabilities[0] > probabilities[2]  # a larger margin is a harder, more often drawn pair
    assert np.all((live.scores > 0) & (live.scores < 1))
