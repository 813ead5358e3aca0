"""Loaders: conv_in expansion is exact, SD1.x checkpoints become IP2P starts, missing torchvision is explained."""

import sys

import pytest
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline, UNet2DConditionModel
from PIL import Image

from edit_handbook.models import expand_conv_in_for_instruct_pix2pix, load_instruct_pix2pix, load_vlm, tiny


def _text_to_image_unet(seed: int = 0) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
        attention_head_dim=4,
    ).eval()


def test_expanded_conv_in_ignores_the_extra_channels():
    unet = _text_to_image_unet()
    latents, text = torch.randn(2, 4, 16, 16), torch.randn(2, 5, 32)
    timesteps = torch.tensor([10, 500])
    with torch.no_grad():
        before = unet(latents, timesteps, text).sample
        expanded = expand_conv_in_for_instruct_pix2pix(unet)
        assert expanded is unet and unet.config.in_channels == 8 and unet.conv_in.in_channels == 8
        for source_latents in (torch.zeros_like(latents), torch.randn_like(latents), 100 * torch.randn_like(latents)):
            after = unet(torch.cat([latents, source_latents], dim=1), timesteps, text).sample
            torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    assert unet.conv_in.weight[:, 4:].abs().sum() == 0


def test_expand_refuses_an_inconsistent_unet():
    unet = _text_to_image_unet()
    unet.register_to_config(in_channels=8)
    with pytest.raises(ValueError, match="config says 8"):
        expand_conv_in_for_instruct_pix2pix(unet)


@pytest.fixture
def sd15_like_path(tiny_ip2p_path, tmp_path):
    """A text-to-image checkpoint laid out like SD1.5 (4-channel UNet), made from the tiny IP2P parts."""
    parts = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_ip2p_path).components
    pipeline = StableDiffusionPipeline(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        unet=_text_to_image_unet(),
        scheduler=parts["scheduler"],
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(tmp_path / "sd15")
    return tmp_path / "sd15"


def test_load_instruct_pix2pix_from_sd15_expands_and_runs(sd15_like_path, tmp_path):
    with pytest.raises(ValueError, match="from_sd15=True"):
        load_instruct_pix2pix(sd15_like_path)
    pipeline = load_instruct_pix2pix(sd15_like_path, from_sd15=True)
    assert isinstance(pipeline, StableDiffusionInstructPix2PixPipeline)
    assert pipeline.unet.config.in_channels == 8 and pipeline.safety_checker is None
    image = pipeline("make it blue", image=Image.new("RGB", (32, 32)), num_inference_steps=1).images[0]
    assert image.size == (32, 32)
    pipeline.save_pretrained(tmp_path / "ip2p")  # the expansion survives a save/load round trip
    assert load_instruct_pix2pix(tmp_path / "ip2p").unet.conv_in.in_channels == 8


def test_load_instruct_pix2pix_keeps_dtype(tiny_ip2p_path):
    pipeline = load_instruct_pix2pix(tiny_ip2p_path, dtype=torch.bfloat16)
    assert pipeline.unet.dtype == torch.bfloat16 and pipeline.unet.config.in_channels == 8


def test_load_vlm_bounds_image_pixels(tiny_qwen3_vl_path):
    model, processor = load_vlm(tiny_qwen3_vl_path, dtype=torch.float32, min_pixels=64 * 64, max_pixels=128 * 128)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration" and model.dtype == torch.float32
    size = processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (64 * 64, 128 * 128)


def test_missing_torchvision_is_explained(tiny_qwen3_vl_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` raise ImportError
    with pytest.raises(ImportError, match=r"pip install torch==2\.15\.0 torchvision==0\.29\.2"):
        load_vlm(tiny_qwen3_vl_path)
    with pytest.raises(ImportError, match="needs torchvision"):
        tiny.tiny_qwen2_5_vl(seed=123)
