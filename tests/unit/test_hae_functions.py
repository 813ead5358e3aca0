"""HAE-DPO's pure functions against hand-computed values, and bad settings refused with a clear message."""

import math

import numpy as np
import pytest

from edit_handbook.editcaption import hae
from edit_handbook.editcaption.configs import HAEMarginArguments, HAESamplerArguments


SEVERITY = {"minor": 0.5, "major": 1.0, "critical": 1.5}
TYPES = {"orientation": 1.0, "viewpoint": 2.0, "attribute": 0.5, "other": 0.25}


def test_label_weights_per_row():
    assert hae.severity_weights(["minor", "critical", "major"], SEVERITY).tolist() == [0.5, 1.5, 1.0]
    assert hae.type_weights(["viewpoint", "other"], TYPES).tolist() == [2.0, 0.25]


def test_unknown_label_names_the_row():
    with pytest.raises(ValueError, match=r"row 1: severity label 'fatal' is not one of minor, major, critical"):
        hae.severity_weights(["minor", "fatal"], SEVERITY)


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"minor": 1.0, "major": 1.0}, r"missing \['critical'\]"),
        ({**SEVERITY, "fatal": 2.0}, r"unknown \['fatal'\]"),
        ({**SEVERITY, "minor": -1.0}, "finite and >= 0"),
        ({**SEVERITY, "minor": math.nan}, "finite and >= 0"),
    ],
)
def test_bad_weight_tables(weights, message):
    with pytest.raises(ValueError, match=message):
        hae.check_label_weights(weights, ("minor", "major", "critical"), "severity")


def test_reference_gap_is_rejected_minus_chosen():
    assert hae.reference_gap([-1.0, -2.0], [-1.5, -0.5]).tolist() == [-0.5, 1.5]


def test_percentile_rank_by_hand():
    # sorted: -1, 0, 0, 3 -> ranks 0, (1 + 1/2)/3, (1 + 1/2)/3, 3/3
    assert hae.percentile_rank([3.0, 0.0, -1.0, 0.0]).tolist() == [1.0, 0.5, 0.0, 0.5]
    assert hae.percentile_rank([7.0]).tolist() == [0.5]
    # spread out even when the reference prefers every rejected answer (all gaps positive)
    assert hae.percentile_rank([5.0, 6.0, 7.0]).tolist() == [0.0, 0.5, 1.0]


def test_hardness_scale_and_margin_by_hand():
    h = np.array([0.0, 0.5, 1.0])
    assert hae.hardness_scale(h, 0.5).tolist() == [0.5, 1.0, 1.5]
    s = hae.severity_weights(["minor", "major", "critical"], SEVERITY)
    w = hae.type_weights(["orientation", "viewpoint", "attribute"], TYPES)
    # gamma * s * w * g: 2 * 0.5 * 1 * 0.5, 2 * 1 * 2 * 1, 2 * 1.5 * 0.5 * 1.5
    assert hae.margins(s, w, h, gamma=2.0, alpha=0.5).tolist() == [0.5, 4.0, 2.25]
    assert hae.margins(s, w, h, gamma=0.0, alpha=0.5).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("alpha", [-0.1, 1.01])
def test_alpha_outside_unit_interval_is_rejected(alpha):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        hae.hardness_scale([0.5], alpha)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        HAEMarginArguments(margin_alpha=alpha)


def test_other_bad_margin_settings():
    with pytest.raises(ValueError, match="gamma must be finite and >= 0"):
        hae.margins([1.0], [1.0], [0.5], gamma=-1.0, alpha=0.5)
    with pytest.raises(ValueError, match=r"hardness must lie in \[0, 1\]"):
        hae.hardness_scale([1.5], 0.5)
    with pytest.raises(ValueError, match="margin_severity_weights must give a weight"):
        HAEMarginArguments(margin_severity_weights='{"minor": 1}')


def test_refresh_score_by_hand():
    # sigmoid(m - beta * delta): m=1, beta=0.5, delta=2 -> sigmoid(0) = 0.5; m=0, delta=-2 -> sigmoid(1)
    got = hae.unsatisfied_probability([1.0, 0.0], [2.0, -2.0], 0.5)
    assert got == pytest.approx([0.5, 1 / (1 + math.exp(-1))], abs=1e-12)
    assert hae.unsatisfied_probability([0.0], [1e6], 1.0)[0] == 0.0  # no overflow


def test_sampling_probabilities_by_hand():
    # q ~ (eps + s) ** (1/T) = [1, 4, 9] ** (1/2) = [1, 2, 3] -> q = [1, 2, 3] / 6; p = 0.7 q + 0.3 / 3
    p = hae.sampling_probabilities([0.9, 3.9, 8.9], temperature=2.0, uniform_mix=0.3, eps=0.1)
    assert p == pytest.approx([0.7 / 6 + 0.1, 1.4 / 6 + 0.1, 2.1 / 6 + 0.1], abs=1e-12)
    assert p.sum() == pytest.approx(1.0)
    # u = 1 is uniform; a tiny temperature stays finite (computed in log space)
    assert hae.sampling_probabilities([0.0, 5.0], temperature=1.0, uniform_mix=1.0, eps=0.1).tolist() == [0.5, 0.5]
    assert hae.sampling_probabilities([1.0, 2.0], temperature=1e-3, uniform_mix=0.0, eps=0.0) == pytest.approx([0, 1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, "temperature T must be > 0"),
        ({"uniform_mix": 1.5}, r"uniform_mix u must be in \[0, 1\]"),
        ({"eps": -0.1}, "eps must be >= 0"),
    ],
)
def test_bad_sampler_settings(kwargs, message):
    settings = {"temperature": 1.0, "uniform_mix": 0.1, "eps": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        hae.sampling_probabilities([1.0, 2.0], **settings)
    names = {"temperature": "sampler_temperature", "uniform_mix": "sampler_uniform_mix", "eps": "sampler_eps"}
    with pytest.raises(ValueError, match=message):
        HAESamplerArguments(**{names[k]: v for k, v in kwargs.items()})


def test_all_zero_scores_without_eps_is_refused():
    with pytest.raises(ValueError, match="set eps > 0"):
        hae.sampling_probabilities([0.0, 0.0], temperature=1.0, uniform_mix=0.0, eps=0.0)
