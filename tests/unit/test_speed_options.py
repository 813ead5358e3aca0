"""The faster SuperEdit step computes the plain step's loss; torch.compile and Liger fall back cleanly."""

import copy
import logging

import pytest
import torch
from diffusers import DDPMScheduler

from edit_handbook.models.acceleration import compile_in_place, resolve_trainer_speedups
from edit_handbook.superedit.losses import conditioning_dropout_masks, superedit_loss
from edit_handbook.superedit.model import load_editor
from edit_handbook.superedit.step import EncodedBatch, diffusion_target, predict_noise, superedit_step


BATCH, SIDE, DROPOUT = 6, 8, 0.3  # p = 0.3 drops the text of ~60% of rows: both kinds present


@pytest.fixture(scope="module")
def tiny_unet(tiny_ip2p_path):
    return load_editor(str(tiny_ip2p_path)).unet.eval()


def encoded_batch(dim: int) -> EncodedBatch:
    g = torch.Generator().manual_seed(1)
    return EncodedBatch(
        source_latents=torch.randn(BATCH, 4, SIDE, SIDE, generator=g),
        target_moments=torch.randn(BATCH, 8, SIDE, SIDE, generator=g),
        positive_embeds=torch.randn(BATCH, 77, dim, generator=g),
        negative_embeds=torch.randn(BATCH, 77, dim, generator=g),
        null_embeds=torch.randn(1, 77, dim, generator=g),
    )


def seed_with_mixed_dropout() -> int:
    """A step seed whose dropout draw keeps some texts and drops others (the interesting case)."""
    for seed in range(100):
        g = torch.Generator().manual_seed(seed)
        torch.randn(BATCH, 4, SIDE, SIDE, generator=g)  # target sample
        torch.randn(BATCH, 4, SIDE, SIDE, generator=g)  # noise
        torch.randint(0, 1000, (BATCH,), generator=g)
        kept, _ = conditioning_dropout_masks(torch.rand(BATCH, generator=g), DROPOUT)
        if 0 < int(kept.sum()) < BATCH:
            return seed
    raise AssertionError("no mixed dropout draw in 100 seeds")


def plain_step_loss(unet, scheduler, batch: EncodedBatch, seed: int) -> torch.Tensor:
    """The step as first written: a negative for EVERY row (the null text where dropped), hinge masked."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    device = batch.source_latents.device
    g = torch.Generator(device).manual_seed(seed)
    latents = DiagonalGaussianDistribution(batch.target_moments).sample(g) * 0.18215
    noise = torch.randn(latents.shape, generator=g, device=device)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (BATCH,), generator=g, device=device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    text_kept, image_kept = conditioning_dropout_masks(torch.rand(BATCH, generator=g, device=device), DROPOUT)
    keep = text_kept[:, None, None]
    positive = torch.where(keep, batch.positive_embeds, batch.null_embeds)
    negative = torch.where(keep, batch.negative_embeds, batch.null_embeds)
    source = batch.source_latents * image_kept[:, None, None, None].float()
    e_pos, e_neg = predict_noise(unet, noisy, source, timesteps, positive, negative)
    target = diffusion_target(scheduler, latents, noise, timesteps)
    return superedit_loss(e_pos, target, e_neg, text_kept, margin=0.5, weight=1.0).loss


def new_step_loss(unet, scheduler, batch: EncodedBatch, seed: int) -> torch.Tensor:
    return superedit_step(
        unet, scheduler, batch, generator=torch.Generator(batch.source_latents.device).manual_seed(seed), scaling_factor=0.18215,
        dropout_probability=DROPOUT, triplet_on=True, margin=0.5, weight=1.0,
    ).loss  # fmt: skip


class RecordingUNet(torch.nn.Module):
    """Records each call's batch size and text; predicts a function of the input so the loss is non-trivial."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, sample, timesteps, encoder_hidden_states, return_dict=False):
        self.calls.append((sample.shape[0], encoder_hidden_states.clone()))
        return (sample[:, :4] * encoder_hidden_states.mean(dim=(1, 2))[:, None, None, None],)


def test_dropped_text_rows_get_no_negative_rows():
    unet, batch, seed = RecordingUNet(), encoded_batch(32), seed_with_mixed_dropout()
    new_step_loss(unet, DDPMScheduler(), batch, seed)
    g = torch.Generator().manual_seed(seed)
    torch.randn(BATCH, 4, SIDE, SIDE, generator=g), torch.randn(BATCH, 4, SIDE, SIDE, generator=g)
    torch.randint(0, 1000, (BATCH,), generator=g)
    kept, _ = conditioning_dropout_masks(torch.rand(BATCH, generator=g), DROPOUT)
    (size, text), *others = unet.calls
    assert not others  # still one UNet call
    assert size == BATCH + int(kept.sum()) < 2 * BATCH
    torch.testing.assert_close(text[BATCH:], batch.negative_embeds[kept])  # only the kept rows' negatives
    # and the loss equals the one with a (null-text, masked-out) negative row for every example
    torch.testing.assert_close(
        new_step_loss(RecordingUNet(), DDPMScheduler(), batch, seed),
        plain_step_loss(RecordingUNet(), DDPMScheduler(), batch, seed),
    )


def test_compact_and_full_negatives_give_the_same_loss_by_hand():
    target = torch.zeros(3, 1, 1, 1)
    positive = torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1, 1)
    kept = torch.tensor([True, False, True])
    full = superedit_loss(
        positive, target, torch.tensor([1.5, 9.0, 1.0]).view(3, 1, 1, 1), kept, margin=1.0, weight=1.0
    )
    compact = superedit_loss(positive, target, torch.tensor([1.5, 1.0]).view(2, 1, 1, 1), kept, margin=1.0, weight=1.0)
    # d_pos = 1, 4, 9; kept rows: hinge(1 - 2.25 + 1) = 0, hinge(9 - 1 + 1) = 9 -> triplet 4.5; MSE = 14/3
    assert compact.loss.item() == pytest.approx(14 / 3 + 4.5) == full.loss.item()
    with pytest.raises(ValueError, match="expected 3 .* or 2"):
        superedit_loss(positive, target, torch.zeros(1, 1, 1, 1), kept, margin=1.0, weight=1.0)


def test_compiled_channels_last_step_matches_the_plain_step(tiny_unet):
    """Loss and gradients of the compiled, channels-last, negative-skipping step equal the plain step's."""
    scheduler, batch = DDPMScheduler(), encoded_batch(tiny_unet.config.cross_attention_dim)
    seed = seed_with_mixed_dropout()
    plain = copy.deepcopy(tiny_unet)
    fast = copy.deepcopy(tiny_unet).to(memory_format=torch.channels_last)
    status = compile_in_place(fast, enabled=True, device=torch.device("cpu"), backend="eager")
    assert status.startswith("torch.compile: on"), status
    plain_loss, fast_loss = plain_step_loss(plain, scheduler, batch, seed), new_step_loss(fast, scheduler, batch, seed)
    torch.testing.assert_close(fast_loss, plain_loss, atol=1e-6, rtol=1e-5)
    plain_loss.backward(), fast_loss.backward()
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-4, msg=name)
    assert fast.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert set(fast.state_dict()) == set(plain.state_dict())  # compiled in place: same keys for checkpoints


def failing_backend(graph, example_inputs):
    raise RuntimeError("no compiler on this machine")


def test_compile_falls_back_to_eager_with_the_reason(tiny_unet, caplog):
    unet = copy.deepcopy(tiny_unet)
    with caplog.at_level(logging.WARNING):
        status = compile_in_place(unet, enabled=True, device=torch.device("cpu"), backend=failing_backend)
    assert "fell back to eager" in status and "no compiler on this machine" in status
    assert "no compiler on this machine" in caplog.text
    assert unet._compiled_call_impl is None
    # a failure only the real module shows (the probe) falls back too
    calls = []

    def fails_on_the_unet(graph, example_inputs):
        calls.append(len(graph.graph.nodes))
        if len(calls) > 1:
            raise RuntimeError("inductor failed on the UNet")
        return graph.forward

    status = compile_in_place(
        unet, enabled=True, device=torch.device("cpu"), backend=fails_on_the_unet, probe=lambda: unet_loss(unet)
    )
    assert "inductor failed on the UNet" in status and unet._compiled_call_impl is None
    assert all(p.grad is None for p in unet.parameters())
    assert torch.isfinite(unet_loss(unet))  # eager again


def unet_loss(unet):
    dim = unet.config.cross_attention_dim
    return unet(torch.zeros(1, 8, SIDE, SIDE), torch.zeros(1, dtype=torch.long), torch.zeros(1, 77, dim))[0].sum()


def test_compile_auto_is_off_on_cpu_and_refused_when_incompatible(tiny_unet):
    cpu = torch.device("cpu")
    assert "auto: on for CUDA only" in compile_in_place(tiny_unet, enabled=None, device=cpu)
    assert "(ZeRO-3 shards)" in compile_in_place(tiny_unet, enabled=None, device=torch.device("cuda"), incompatible="ZeRO-3 shards")  # fmt: skip
    with pytest.raises(ValueError, match="torch_compile=true cannot be used here: ZeRO-3 shards"):
        compile_in_place(tiny_unet, enabled=True, device=cpu, incompatible="ZeRO-3 shards")
    assert tiny_unet._compiled_call_impl is None


def test_trainer_speedups_fall_back_on_cpu_with_reasons():
    from trl import SFTConfig

    args = SFTConfig(output_dir="unused", use_cpu=True, bf16=False, use_liger_kernel=True, torch_compile=True)
    args.torch_compile_backend = "no-such-backend"
    lines = resolve_trainer_speedups(args)
    assert args.use_liger_kernel is False and args.torch_compile is False and args.torch_compile_backend is None
    assert "Liger kernels are Triton GPU kernels and this run is on cpu" in lines[0]
    assert "torch_compile: off, fell back to eager" in lines[1] and "no-such-backend" in lines[1]
    args = SFTConfig(output_dir="unused", use_cpu=True, bf16=False, torch_compile=True)
    with pytest.raises(ValueError, match="ZeRO-3"):
        resolve_trainer_speedups(args, zero3=True)


def test_liger_patch_applies_or_falls_back_with_the_reason(caplog):
    """On a model Liger cannot patch (today: Qwen3-VL with transformers 5.2x), the option turns off, logged."""
    from trl import SFTConfig

    from edit_handbook.models import load_vlm, tiny_qwen3_vl
    from edit_handbook.models.acceleration import apply_liger_kernels

    model, _ = load_vlm(str(tiny_qwen3_vl()), dtype=torch.float32)
    args = SFTConfig(output_dir="unused", use_cpu=True, bf16=False, use_liger_kernel=True)
    norm = type(model.model.language_model.norm)
    with caplog.at_level(logging.WARNING):
        line = apply_liger_kernels(model, args)
    if args.use_liger_kernel:
        assert line.startswith("use_liger_kernel: Liger layer kernels patched")
    else:
        assert line.startswith("use_liger_kernel: off, fell back") and "Qwen3VLForConditionalGeneration" in line
        assert line in caplog.text and type(model.model.language_model.norm) is norm
    assert apply_liger_kernels(model, SFTConfig(output_dir="unused", use_cpu=True, bf16=False)) is None
