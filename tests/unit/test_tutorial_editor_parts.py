"""The tutorial editor's parts: attribute labels, a text encoder that learns them, a pipeline that runs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from edit_handbook.models import load_clip_tokenizer
from edit_handbook.superedit.tutorial import (
    ATTRIBUTES,
    edit_attributes,
    fit_text_encoder,
    instruction_corpus,
    tutorial_scheduler,
    tutorial_text_encoder,
    tutorial_unet,
    tutorial_vae,
)


def test_attributes_of_each_edit_type():
    recolour = {"type": "recolour", "object": {"colour": "red", "shape": "star"}, "colour": "blue"}
    add = {
        "type": "add",
        "side": "left",
        "object": {"colour": "green", "shape": "circle", "size": "large", "pattern": "dotted"},
    }
    assert edit_attributes(recolour) == {
        "type": "recolour", "colour": "red", "shape": "star", "new_colour": "blue", "direction": "none",
        "size": "none", "pattern": "none", "side": "none",
    }  # fmt: skip
    assert edit_attributes(add)["size"] == "large" and edit_attributes(add)["pattern"] == "dotted"
    assert edit_attributes(add)["side"] == "left"
    for name, value in edit_attributes(add).items():
        assert value in ATTRIBUTES[name]


def test_text_encoder_learns_to_tell_colours_apart_and_zeroes_unused_tokens():
    tokenizer = load_clip_tokenizer()
    encoder = tutorial_text_encoder(tokenizer, hidden_size=32)
    texts, labels = instruction_corpus(600, seed=0)
    accuracy = fit_text_encoder(encoder, tokenizer, texts, labels, steps=60, log=lambda record: None)
    assert accuracy["type"] > 0.9 and accuracy["new_colour"] > 0.5  # chance: 0.2 and about 0.3
    unused = tokenizer.convert_tokens_to_ids("cat</w>")
    assert torch.count_nonzero(encoder.get_input_embeddings().weight[unused]) == 0


def test_the_pipeline_runs_and_keeps_the_image_size():
    from diffusers import StableDiffusionInstructPix2PixPipeline

    tokenizer = load_clip_tokenizer()
    pipeline = StableDiffusionInstructPix2PixPipeline(
        vae=tutorial_vae(), text_encoder=tutorial_text_encoder(tokenizer), tokenizer=tokenizer, unet=tutorial_unet(),
        scheduler=tutorial_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.set_progress_bar_config(disable=True)
    image = Image.new("RGB", (32, 32), (238, 236, 230))
    out = pipeline("Remove the red star.", image=image, num_inference_steps=2, guidance_scale=3.0).images[0]
    assert out.size == (32, 32) and pipeline.unet.config.in_channels == 8


def test_sample_prediction_regresses_the_clean_latent():
    from diffusers import DDPMScheduler

    from edit_handbook.superedit.step import diffusion_target

    scheduler = DDPMScheduler.from_config(tutorial_scheduler().config)
    latents, noise = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16)
    assert torch.equal(diffusion_target(scheduler, latents, noise, torch.tensor([10, 900])), latents)


def test_noisy_instructions_replace_the_stated_share_with_flawed_ones():
    from edit_handbook.data.synthetic import generate_dataset
    from edit_handbook.superedit.tutorial import NOISY_COLUMN, noisy_instructions

    pairs = generate_dataset(50, seed=3, image_size=32, edit_types=("recolour", "move"))
    noisy = noisy_instructions(pairs, 0.4, seed=0)
    replaced = [i for i, flag in enumerate(noisy["instruction_is_noisy"]) if flag]
    assert len(replaced) == 20
    for i in range(50):
        text, row = noisy[NOISY_COLUMN][i], pairs[i]
        assert text in row["flawed_instructions"] if i in replaced else text == row["instruction"]
    assert noisy_instructions(pairs, 0.4, seed=0)[NOISY_COLUMN] == noisy[NOISY_COLUMN]
    with pytest.raises(ValueError, match="noisy share"):
        noisy_instructions(pairs, 1.5, seed=0)
