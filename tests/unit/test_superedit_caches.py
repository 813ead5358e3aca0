"""The latent and text caches reproduce the uncached loss; bad rows fail with row, column and fix."""

import datasets
import pytest
import torch
from diffusers import DDPMScheduler
from torch.utils.data import default_collate

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.superedit.caches import build_latent_cache, build_text_cache
from edit_handbook.superedit.data import SuperEditDataset, training_rows
from edit_handbook.superedit.encoders import FrozenEncoders
from edit_handbook.superedit.model import load_editor
from edit_handbook.superedit.step import superedit_step


RESOLUTION = 32


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(6, seed=0, image_size=48)


def test_fp32_caches_give_the_uncached_loss(tiny_ip2p_path, pairs, tmp_path):
    pipeline = load_editor(str(tiny_ip2p_path))
    vae, text_encoder, tokenizer, unet = pipeline.vae, pipeline.text_encoder, pipeline.tokenizer, pipeline.unet
    rows = training_rows(pairs, "rectified_instruction", "negative_instructions")
    latents = build_latent_cache(
        tmp_path / "latents", pairs, rows.ids, vae, resolution=RESOLUTION, job_fingerprint="a", dtype="float32",
        batch_size=4,
    )  # fmt: skip
    texts = build_text_cache(
        tmp_path / "text",
        rows.table.texts,
        tokenizer,
        text_encoder,
        job_fingerprint="b",
        dtype="float32",
        batch_size=7,
    )
    assert texts.shape == (len(rows.table.texts), 77, text_encoder.config.hidden_size)

    def loss(encoders, dataset):
        batch = encoders.encode(default_collate([dataset[row] for row in range(len(rows))]))
        return superedit_step(
            unet, DDPMScheduler.from_config(pipeline.scheduler.config), batch,
            generator=torch.Generator().manual_seed(3), scaling_factor=vae.config.scaling_factor,
            dropout_probability=0.3, triplet_on=True, margin=5e-3, weight=1.0,
        )  # fmt: skip

    common = {"device": torch.device("cpu"), "dtype": torch.float32}
    cached = loss(
        FrozenEncoders(vae, text_encoder, tokenizer, rows.table, text_embeddings=texts, **common),
        SuperEditDataset(rows, seed=0, latents=latents),
    )
    live = loss(
        FrozenEncoders(vae, text_encoder, tokenizer, rows.table, **common),
        SuperEditDataset(rows, seed=0, images=pairs, resolution=RESOLUTION),
    )
    torch.testing.assert_close(cached.loss, live.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cached.triplet, live.triplet, rtol=1e-5, atol=1e-6)

    # Built once: reopening finds every row and another job's fingerprint is refused.
    again = build_latent_cache(
        tmp_path / "latents", pairs, rows.ids, vae, resolution=RESOLUTION, job_fingerprint="a", dtype="float32"
    )
    assert again["id"] == rows.ids
    with pytest.raises(ValueError, match="fingerprint"):
        build_latent_cache(
            tmp_path / "latents", pairs, rows.ids, vae, resolution=RESOLUTION, job_fingerprint="other", dtype="float32"
        )


def test_row_without_negatives_names_row_column_and_fix():
    images = [None, None]
    bad = datasets.Dataset.from_dict(
        {
            "id": ["a", "b"],
            "source_image": images,
            "target_image": images,
            "rectified_instruction": ["make it red", "make it blue"],
            "negative_instructions": [["make it green"], []],
        }
    )
    with pytest.raises(ValueError, match=r"row 1 \(id 'b'\), column 'negative_instructions'.*Fix"):
        training_rows(bad, "rectified_instruction", "negative_instructions")
    with pytest.raises(ValueError, match="no column 'instruction_x'"):
        training_rows(bad, "instruction_x", "negative_instructions")
