"""SuperEdit's loss, dropout masks and batched UNet call against hand-computed values."""

import pytest
import torch

from edit_handbook.superedit.data import negative_choice
from edit_handbook.superedit.losses import (
    conditioning_dropout_masks,
    per_sample_mse,
    superedit_loss,
    triplet_hinge,
    triplet_is_active,
)
from edit_handbook.superedit.model import load_editor
from edit_handbook.superedit.step import EncodedBatch, predict_noise, superedit_step


def constant_predictions(values, shape=(4, 2, 2)):
    """Predictions whose per-sample MSE against a zero target is value**2."""
    return torch.stack([torch.full(shape, float(v)) for v in values])


def test_triplet_hinge_active_and_inactive():
    d_pos = torch.tensor([0.10, 0.20, 0.30])
    d_neg = torch.tensor([0.30, 0.15, 0.302])
    hinge = triplet_hinge(d_pos, d_neg, margin=0.05)
    # 0.10 - 0.30 + 0.05 < 0 (inactive); 0.20 - 0.15 + 0.05 = 0.10; 0.30 - 0.302 + 0.05 = 0.048
    torch.testing.assert_close(hinge, torch.tensor([0.0, 0.10, 0.048]))


def test_loss_matches_hand_computation_with_mask():
    target = torch.zeros(3, 4, 2, 2)
    positive = constant_predictions([0.3, 0.4, 0.5])  # d_pos = 0.09, 0.16, 0.25
    negative = constant_predictions([0.4, 0.3, 0.6])  # d_neg = 0.16, 0.09, 0.36
    text_kept = torch.tensor([True, True, False])
    result = superedit_loss(positive, target, negative, text_kept, margin=0.01, weight=2.0)
    mse = (0.09 + 0.16 + 0.25) / 3
    hinges = [max(0.0, 0.09 - 0.16 + 0.01), max(0.0, 0.16 - 0.09 + 0.01)]  # third example masked out
    triplet = sum(hinges) / (2 + 1e-8)
    assert result.loss.item() == pytest.approx(mse + 2.0 * triplet, rel=1e-5)
    assert result.triplet.item() == pytest.approx(triplet, rel=1e-5)
    assert result.active_hinge_fraction.item() == pytest.approx(0.5, rel=1e-6)
    assert result.gap.item() == pytest.approx(((0.16 - 0.09) + (0.09 - 0.16)) / 2, abs=1e-6)
    assert per_sample_mse(positive, target).tolist() == pytest.approx([0.09, 0.16, 0.25])


def test_all_text_dropped_gives_zero_triplet_not_nan():
    target = torch.zeros(2, 4, 2, 2)
    result = superedit_loss(
        constant_predictions([0.5, 0.5]), target, constant_predictions([0.1, 0.1]), torch.tensor([False, False]),
        margin=0.1, weight=1.0,
    )  # fmt: skip
    assert result.triplet.item() == 0.0
    assert result.loss.item() == pytest.approx(0.25)


def test_without_negative_the_loss_is_plain_mse():
    target = torch.zeros(2, 4, 2, 2)
    result = superedit_loss(
        constant_predictions([0.2, 0.4]), target, None, torch.ones(2, dtype=torch.bool), margin=1, weight=1
    )
    assert result.loss.item() == pytest.approx((0.04 + 0.16) / 2)
    assert result.triplet.item() == 0.0


def test_activation_uses_the_global_step():
    assert not triplet_is_active(1999, 2000)
    assert triplet_is_active(2000, 2000)
    assert triplet_is_active(0, 0)


def test_dropout_mask_boundaries():
    r = torch.tensor([0.0, 0.0499, 0.05, 0.0999, 0.10, 0.1499, 0.15, 0.9])
    text_kept, image_kept = conditioning_dropout_masks(r, 0.05)
    assert text_kept.tolist() == [False, False, False, False, True, True, True, True]
    assert image_kept.tolist() == [True, True, False, False, False, False, True, True]


def test_dropout_mask_rates():
    r = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    text_kept, image_kept = conditioning_dropout_masks(r, 0.05)
    assert (~text_kept).float().mean().item() == pytest.approx(0.10, abs=0.003)
    assert (~image_kept).float().mean().item() == pytest.approx(0.10, abs=0.003)
    assert (~text_kept & ~image_kept).float().mean().item() == pytest.approx(0.05, abs=0.003)
    with pytest.raises(ValueError, match="dropout probability"):
        conditioning_dropout_masks(r, 0.5)


def test_negative_choice_is_reproducible_and_covers_every_negative():
    picks = [negative_choice(7, epoch, row=3, count=4) for epoch in range(200)]
    assert picks == [negative_choice(7, epoch, row=3, count=4) for epoch in range(200)]
    assert set(picks) == {0, 1, 2, 3}


@pytest.fixture(scope="module")
def tiny_unet(tiny_ip2p_path):
    return load_editor(str(tiny_ip2p_path)).unet.eval()


def test_one_batched_call_equals_two_separate_calls(tiny_unet):
    g = torch.Generator().manual_seed(0)
    noisy, source = torch.randn(3, 4, 16, 16, generator=g), torch.randn(3, 4, 16, 16, generator=g)
    timesteps = torch.tensor([10, 500, 999])
    positive, negative = torch.randn(3, 77, 32, generator=g), torch.randn(3, 77, 32, generator=g)
    with torch.no_grad():
        batched_pos, batched_neg = predict_noise(tiny_unet, noisy, source, timesteps, positive, negative)
        alone_pos, _ = predict_noise(tiny_unet, noisy, source, timesteps, positive)
        alone_neg, _ = predict_noise(tiny_unet, noisy, source, timesteps, negative)
    torch.testing.assert_close(batched_pos, alone_pos, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batched_neg, alone_neg, atol=1e-5, rtol=1e-4)


class CountingUNet(torch.nn.Module):
    """Records the batch size of every call; predicts zeros."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, sample, timesteps, encoder_hidden_states, return_dict=False):
        self.calls.append(sample.shape[0])
        return (torch.zeros(sample.shape[0], 4, *sample.shape[2:]),)


@pytest.mark.parametrize("triplet_on, calls", [(False, [2]), (True, [4])])
def test_step_makes_one_unet_call_and_skips_the_negative_before_activation(triplet_on, calls):
    from diffusers import DDPMScheduler

    unet = CountingUNet()
    batch = EncodedBatch(
        source_latents=torch.randn(2, 4, 8, 8),
        target_moments=torch.randn(2, 8, 8, 8),
        positive_embeds=torch.randn(2, 77, 32),
        negative_embeds=torch.randn(2, 77, 32) if triplet_on else None,
        null_embeds=torch.zeros(1, 77, 32),
    )
    result = superedit_step(
        unet, DDPMScheduler(), batch, generator=torch.Generator().manual_seed(0), scaling_factor=0.18215,
        dropout_probability=0.05, triplet_on=triplet_on, margin=5e-3, weight=1.0,
    )  # fmt: skip
    assert unet.calls == calls
    assert torch.isfinite(result.loss)
