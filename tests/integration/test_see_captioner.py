"""The shipped captioner that sees (`tiny:see-captioner`), rescored on fresh pairs of the test seed.

The checkpoint was made by the tiny-see recipe (recipes/editcaption/tiny-see) and `scripts/ship_captioner.py`,
which recorded its figures on 256 pairs of the test seed (and its blind control's) in `scores.json`. This test
rescores the weights as shipped on those same pairs by the exact checker (greedy decoding: about 10 s), so a
change to loading, prompting or generation that stops the captioner from reading its images fails here, and the
card's figures are the ones the weights give.
"""

import pytest

from edit_handbook.evaluation.fresh_pairs import score_captioner
from edit_handbook.fixtures import SEE_CAPTIONER, see_captioner_checkpoint, see_captioner_pairs, see_captioner_scores
from edit_handbook.models import load_vlm
from edit_handbook.models.registry import resolve_model


MODES = ("orientation", "viewpoint", "attribute")
CAPTIONS = ("checker_accuracy", *(f"checker_accuracy/{mode}" for mode in MODES))
# Issue 12's targets on fresh test-seed pairs. Measured when shipped (256 pairs): 76.6% overall, orientation 58.1%
# (50 of 86; move 21%, mirror 95%), viewpoint 91.9%, attribute 79.8%; blind control 8.6 / 0.0 / 25.6 / 0.0%;
# rectified 99.2%, negatives 99.2% (blind control 82.0%, 84.0%).
TARGETS = {"checker_accuracy": 0.60, **dict.fromkeys(CAPTIONS[1:], 0.50)}
TARGETS |= {"rectified_correct_rate": 0.50, "negative_valid_rate": 0.80}
ABOVE_BLIND = 0.25  # points above the blind control, overall and per failure mode
REPRODUCED = 0.02  # rescoring may differ from the card by this much (float reductions can flip a greedy token)


@pytest.fixture(scope="module")
def recorded():
    return see_captioner_scores()


@pytest.fixture(scope="module")
def fresh(recorded):
    model, processor = load_vlm(see_captioner_checkpoint())
    pairs = see_captioner_pairs(recorded["captioner"]["trained_types"]["pairs"], recorded["test_seed"])
    return score_captioner(model, processor, pairs)


def test_the_tiny_name_is_the_shipped_folder():
    assert resolve_model(SEE_CAPTIONER) == str(see_captioner_checkpoint())


def test_shipped_captioner_reproduces_its_card(fresh, recorded):
    print({key: value for key, value in fresh.items() if key != "examples"})
    card = recorded["captioner"]["trained_types"]
    for key, value in card.items():
        if key.startswith(("checker_accuracy", "rectified", "negative")):
            assert abs(fresh[key] - value) <= REPRODUCED, (key, fresh[key], value)


def test_shipped_captioner_meets_the_targets_on_fresh_test_seed_pairs(fresh, recorded):
    blind = recorded["blind_control"]["trained_types"]
    assert fresh["answered_rate"] == 1.0
    for key, bar in TARGETS.items():
        assert fresh[key] >= bar, (key, fresh[key], bar)
    for key in CAPTIONS:
        assert fresh[key] >= blind[key] + ABOVE_BLIND, (key, fresh[key], blind[key])
