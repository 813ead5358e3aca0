"""HAE-DPO's algorithmic core as pure functions of arrays (docs/method.md section 1, our formulation).

    m_i = gamma * s(severity_i) * w(type_i) * g(hard_i),    g(h) = 1 + alpha * (2h - 1)
    L_i = -log sigmoid(beta * delta_i - m_i)

`hard_i` is the percentile rank of `r_i = lp_ref(y_l) - lp_ref(y_w)` (length-normalised reference
log-probs) over the set, so it stays spread out even when the reference prefers most rejected answers.
The sampler draws pair i with `p_i = (1 - u) * q_i + u / N`, `q_i ~ (eps + score_i) ** (1 / T)`; the
score is always the probability that the pair's loss is not yet satisfied, `sigmoid(m_i - beta * delta_i)`:
`sigmoid(m_i)` before training (the policy is the reference, delta = 0), then refreshed from the latest delta.
One scale for every pair, so a pair not drawn last epoch is never favoured or starved by its units.

No trainer state here: the trainer, the reference pass and the sampler call these, and the unit tests
check each against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from edit_handbook.data.schema import ERROR_TYPES, SEVERITIES


def check_label_weights(weights: Mapping[str, float], labels: Sequence[str], name: str) -> dict[str, float]:
    """`weights` as a plain dict after checking it names every label once and each weight is finite and >= 0."""
    unknown = sorted(set(weights) - set(labels))
    missing = [label for label in labels if label not in weights]
    if unknown or missing:
        raise ValueError(
            f"{name} must give a weight for exactly {', '.join(labels)}; unknown {unknown}, missing {missing}"
        )
    checked = {label: float(weights[label]) for label in labels}
    bad = {label: value for label, value in checked.items() if not math.isfinite(value) or value < 0}
    if bad:
        raise ValueError(f"{name} weights must be finite and >= 0, got {bad}")
    return checked


def label_weights(
    labels: Sequence[str], weights: Mapping[str, float], allowed: Sequence[str], name: str
) -> np.ndarray:
    """One weight per row; an unknown label raises naming the row and the allowed values."""
    table = check_label_weights(weights, allowed, name)
    out = np.empty(len(labels), dtype=np.float64)
    for index, label in enumerate(labels):
        if label not in table:
            raise ValueError(f"row {index}: {name} label {label!r} is not one of {', '.join(allowed)}")
        out[index] = table[label]
    return out


def severity_weights(severities: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    """s(severity_i) for each row (minor | major | critical)."""
    return label_weights(severities, weights, SEVERITIES, "severity")


def type_weights(error_types: Sequence[str], weights: Mapping[str, float]) -> np.ndarray:
    """w(type_i) for each row (orientation | viewpoint | attribute | other)."""
    return label_weights(error_types, weights, ERROR_TYPES, "error_type")


def reference_gap(ref_chosen_norm: np.ndarray, ref_rejected_norm: np.ndarray) -> np.ndarray:
    """r_i = lp_ref(y_l) - lp_ref(y_w) from length-normalised log-probs: > 0 where the reference prefers y_l."""
    chosen, rejected = np.asarray(ref_chosen_norm, np.float64), np.asarray(ref_rejected_norm, np.float64)
    if chosen.shape != rejected.shape:
        raise ValueError(f"chosen and rejected log-probs differ in shape: {chosen.shape} vs {rejected.shape}")
    return rejected - chosen


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the others, in [0, 1]: (#smaller + #equal others / 2) / (N - 1); 0.5 when N == 1.

    Ties share the average rank, so equal gaps get equal hardness and the result does not depend on row order.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1:
        raise ValueError(f"percentile_rank takes a 1-D array, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"percentile_rank needs finite values; rows {np.flatnonzero(~np.isfinite(values))[:5].tolist()} are not"
        )
    if values.size <= 1:
        return np.full(values.shape, 0.5)
    ordered = np.sort(values)
    smaller = np.searchsorted(ordered, values, side="left")
    equal_others = np.searchsorted(ordered, values, side="right") - smaller - 1
    return (smaller + equal_others / 2) / (values.size - 1)


def check_alpha(alpha: float) -> float:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] so that g(h) = 1 + alpha * (2h - 1) stays >= 0; got {alpha}")
    return float(alpha)


def hardness_scale(hardness: np.ndarray, alpha: float) -> np.ndarray:
    """g(h) = 1 + alpha * (2h - 1): 1 - alpha for the easiest pair, 1 + alpha for the hardest."""
    hardness = np.asarray(hardness, np.float64)
    if np.any((hardness < 0) | (hardness > 1)) or not np.all(np.isfinite(hardness)):
        raise ValueError("hardness must lie in [0, 1] (a percentile rank); recompute it with percentile_rank")
    return 1.0 + check_alpha(alpha) * (2.0 * hardness - 1.0)


def margin_weights(severity_w: np.ndarray, type_w: np.ndarray, hardness: np.ndarray, alpha: float) -> np.ndarray:
    """s * w * g(h): the margin without gamma."""
    return np.asarray(severity_w, np.float64) * np.asarray(type_w, np.float64) * hardness_scale(hardness, alpha)


def margins(
    severity_w: np.ndarray, type_w: np.ndarray, hardness: np.ndarray, *, gamma: float, alpha: float
) -> np.ndarray:
    """m_i = gamma * s_i * w_i * g(h_i); gamma = 0 gives plain DPO."""
    if not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be finite and >= 0 (0 turns the margin off), got {gamma}")
    return gamma * margin_weights(severity_w, type_w, hardness, alpha)


def unsatisfied_probability(margin: np.ndarray, delta: np.ndarray, beta: float) -> np.ndarray:
    """sigmoid(m_i - beta * delta_i): the refreshed sampler score, near 1 while the pair's loss is still high."""
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    z = np.asarray(margin, np.float64) - beta * np.asarray(delta, np.float64)
    return 0.5 * (1.0 + np.tanh(z / 2))  # sigmoid without overflow for large |z|


def initial_scores(margin: np.ndarray) -> np.ndarray:
    """sigmoid(m_i): the sampler score before training, the refreshed score's value at delta = 0."""
    return unsatisfied_probability(margin, np.zeros_like(np.asarray(margin, np.float64)), beta=1.0)


def sampling_probabilities(scores: np.ndarray, *, temperature: float, uniform_mix: float, eps: float) -> np.ndarray:
    """p_i = (1 - u) * q_i + u / N with q_i proportional to (eps + score_i) ** (1 / T); sums to 1."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)) or np.any(scores < 0):
        raise ValueError("sampler scores must be finite and >= 0")
    if not temperature > 0:
        raise ValueError(f"sampler temperature T must be > 0, got {temperature}")
    if not 0.0 <= uniform_mix <= 1.0:
        raise ValueError(f"sampler uniform_mix u must be in [0, 1], got {uniform_mix}")
    if not eps >= 0:
        raise ValueError(f"sampler eps must be >= 0, got {eps}")
    base = eps + scores
    if not np.any(base > 0):
        raise ValueError("every score is 0 and eps is 0, so no pair can be drawn: set eps > 0")
    with np.errstate(divide="ignore"):
        logits = np.log(base) / temperature  # in log space: small T would overflow base ** (1 / T)
    q = np.exp(logits - logits.max())
    q /= q.sum()
    return (1.0 - uniform_mix) * q + uniform_mix / scores.size
