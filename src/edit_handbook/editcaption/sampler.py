"""The hard-example-aware preference sampler: draws with replacement, one global order sharded across ranks.

`PairScores` holds each pair's sampler score (always `sigmoid(m_i - beta * delta_i)`, starting at delta = 0)
and the deltas seen during an epoch; `HardExampleSampler` turns
the scores into probabilities (`hae.sampling_probabilities`) and draws the epoch's order from a random stream
seeded by (seed, epoch) alone. Every rank computes the same order and accelerate's `BatchSamplerShard` hands
each rank its batches of it, so ranks draw disjoint positions of one order with no synchronisation (and no
`generator` for accelerate to broadcast).

Refresh (optional): the trainer reports each pair's unshifted delta as it trains on it; when the next epoch
starts, pairs seen in the last epoch get the score `sigmoid(m_i - beta * delta_i)` from the delta of their
latest draw (ours: no extra forward pass over the data, so the score is at most one epoch stale); pairs not
drawn keep theirs. The refresh is applied lazily at the start of the next epoch, so a checkpoint taken at the
end of an epoch (before or after `on_epoch_end`) resumes into the same order. `state_dict` is saved with every
checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from edit_handbook.editcaption import hae


class PairScores:
    """Per-pair sampler scores, the margins and beta their refresh needs, and the current epoch's observations.

    The scores start at `sigmoid(m_i)` (the policy is the reference: delta = 0) and a refresh replaces a drawn
    pair's score by `sigmoid(m_i - beta * delta_i)`: the same quantity, so drawn and undrawn pairs compare.
    """

    def __init__(
        self,
        margins: np.ndarray,
        *,
        beta: float,
        temperature: float,
        uniform_mix: float,
        eps: float,
        refresh: bool,
    ) -> None:
        self.margins = np.asarray(margins, np.float64)
        if self.margins.ndim != 1:
            raise ValueError(f"margins must be a 1-D array, got shape {self.margins.shape}")
        self.scores = hae.initial_scores(self.margins)
        self.beta, self.temperature, self.uniform_mix, self.eps = beta, temperature, uniform_mix, eps
        self.refresh = refresh
        self.epoch = 0
        self.seen_delta = np.full(self.scores.shape, np.nan)
        self.probabilities()  # validates the settings now, not at the first draw

    def __len__(self) -> int:
        return self.scores.size

    def probabilities(self) -> np.ndarray:
        return hae.sampling_probabilities(
            self.scores, temperature=self.temperature, uniform_mix=self.uniform_mix, eps=self.eps
        )

    def observe(self, indices: np.ndarray, deltas: np.ndarray) -> None:
        """Record the unshifted delta of pairs just trained on (the same gathered values on every rank)."""
        if self.refresh:
            self.seen_delta[np.asarray(indices, np.int64)] = np.asarray(deltas, np.float64)

    def start_epoch(self, epoch: int) -> None:
        """Apply the pending refresh when a later epoch starts; idempotent for the same epoch."""
        if epoch > self.epoch and self.refresh:
            seen = ~np.isnan(self.seen_delta)
            self.scores[seen] = hae.unsatisfied_probability(self.margins[seen], self.seen_delta[seen], self.beta)
            self.seen_delta[:] = np.nan
        self.epoch = max(self.epoch, epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "scores": self.scores.tolist(), "seen_delta": self.seen_delta.tolist()}

    def load_state_dict(self, state: dict) -> None:
        scores = np.asarray(state["scores"], np.float64)
        if scores.shape != self.scores.shape:
            raise ValueError(
                f"sampler state holds {scores.size} scores but the training set has {self.scores.size} pairs: "
                "the checkpoint belongs to another dataset; resume with the same data or start a new output_dir"
            )
        self.epoch, self.scores = int(state["epoch"]), scores
        self.seen_delta = np.asarray(state["seen_delta"], np.float64)


def epoch_seed(seed: int, epoch: int) -> np.random.SeedSequence:
    """The random stream of one epoch: a function of (seed, epoch) only, identical on every rank."""
    return np.random.SeedSequence([seed, epoch])


class HardExampleSampler(Sampler[int]):
    """Draws `num_samples` pair indices per epoch with replacement from `scores.probabilities()`."""

    def __init__(self, scores: PairScores, *, seed: int, num_samples: int | None = None) -> None:
        self.scores = scores
        self.seed = seed
        self.num_samples = len(scores) if num_samples is None else num_samples
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_order(self, epoch: int | None = None) -> np.ndarray:
        """The epoch's full order (before sharding across ranks)."""
        epoch = self.epoch if epoch is None else epoch
        self.scores.start_epoch(epoch)
        rng = np.random.default_rng(epoch_seed(self.seed, epoch))
        probabilities = self.scores.probabilities()
        return rng.choice(probabilities.size, size=self.num_samples, replace=True, p=probabilities)

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_order().tolist())

    def __len__(self) -> int:
        return self.num_samples
