"""Caches of the frozen encoders' outputs, built once through the resumable `ShardedWriter` and reused.

- Latents: for every row, the source latent (`latent_dist.mode()`, unscaled) and the target latent's
  mean and log-variance, so each step still samples a fresh target latent as the uncached path does.
  Parquet shards keyed by row id; on by default (the VAE encoder costs about as much as the UNet step).
- Text embeddings: CLIP hidden states of every unique prompt in one memory-mapped `.npy` file, whose size
  is printed before it is allocated (77 x 768 values per prompt: tens of GB for SuperEdit-40K with its
  negatives). The writer keeps a ledger of finished prompt indices, so a killed build resumes.

Both live under a folder named by a fingerprint of model weights, data and settings: another model,
dataset, resolution or dtype gets a new folder instead of stale rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import PartialState
from diffusers import AutoencoderKL
from transformers import CLIPTextModel, PreTrainedTokenizerBase

from ..data import schema
from ..data.writer import ShardedWriter, load_shards
from ..hub.run_info import fingerprint
from .data import image_to_tensor


EMBEDDINGS_FILE = "embeddings.npy"
LEDGER_DIR = "ledger"


def module_fingerprint(name: str, module: torch.nn.Module) -> str:
    """Name, config and a checksum of the weights: a retrained model at the same path is a new key."""
    with torch.no_grad():
        checksum = sum(float(parameter.detach().double().sum()) for parameter in module.parameters())
    return fingerprint(name, getattr(module, "config", None), f"{checksum:.10e}")


def latent_size(vae: AutoencoderKL, resolution: int) -> int:
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    if resolution % factor:
        raise ValueError(f"resolution {resolution} must be a multiple of the VAE's downsampling factor {factor}")
    return resolution // factor


def latent_features(channels: int, size: int, dtype: str) -> datasets.Features:
    return datasets.Features(
        {
            schema.ID: datasets.Value("string"),
            "source_latents": datasets.Array3D(shape=(channels, size, size), dtype=dtype),
            "target_moments": datasets.Array3D(shape=(2 * channels, size, size), dtype=dtype),
        }
    )


@torch.no_grad()
def encode_pairs(vae: AutoencoderKL, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(source latent = unscaled mode, target moments = [mean, logvar]) for pixel batches in [-1, 1]."""
    dtype = vae.dtype
    source_latents = vae.encode(source.to(vae.device, dtype)).latent_dist.mode()
    target_distribution = vae.encode(target.to(vae.device, dtype)).latent_dist
    return source_latents, torch.cat([target_distribution.mean, target_distribution.logvar], dim=1)


def build_latent_cache(
    folder: str | Path,
    images: datasets.Dataset,
    ids: Sequence[str],
    vae: AutoencoderKL,
    *,
    resolution: int,
    job_fingerprint: str,
    dtype: str = "float16",
    batch_size: int = 16,
) -> datasets.Dataset:
    """Encode every pair not yet in `folder` (each rank its share) and return all rows in `ids` order."""
    size = latent_size(vae, resolution)
    features = latent_features(vae.config.latent_channels, size, dtype)
    pairs = images.select_columns(list(schema.IMAGE_COLUMNS))
    position = {row_id: index for index, row_id in enumerate(ids)}
    with ShardedWriter(folder, features, fingerprint=job_fingerprint, shard_size=max(batch_size, 256)) as writer:
        pending = writer.pending_for_rank(ids)
        if writer.rank == 0:
            print(f"latent cache {folder}: {len(ids) - len(writer.pending(ids))}/{len(ids)} rows cached", flush=True)
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            rows = pairs[[position[row_id] for row_id in chunk]]
            source = torch.stack([image_to_tensor(image, resolution) for image in rows[schema.SOURCE_IMAGE]])
            target = torch.stack([image_to_tensor(image, resolution) for image in rows[schema.TARGET_IMAGE]])
            source_latents, target_moments = encode_pairs(vae, source, target)
            for row_id, latents, moments in zip(chunk, source_latents, target_moments):
                writer.write(
                    {
                        schema.ID: row_id,
                        "source_latents": latents.float().cpu().numpy().astype(dtype),
                        "target_moments": moments.float().cpu().numpy().astype(dtype),
                    }
                )
    PartialState().wait_for_everyone()
    return load_shards(folder, order=ids)


@torch.no_grad()
def embed_prompts(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, text_encoder: CLIPTextModel
) -> torch.Tensor:
    """CLIP last hidden states of `texts`, padded to the tokenizer's 77 positions as Stable Diffusion does."""
    tokens = tokenizer(
        list(texts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    return text_encoder(tokens.input_ids.to(text_encoder.device), return_dict=False)[0]


def text_cache_bytes(num_prompts: int, tokenizer: PreTrainedTokenizerBase, text_encoder: CLIPTextModel, dtype: str):
    return num_prompts * tokenizer.model_max_length * text_encoder.config.hidden_size * np.dtype(dtype).itemsize


def build_text_cache(
    folder: str | Path,
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    text_encoder: CLIPTextModel,
    *,
    job_fingerprint: str,
    dtype: str = "float16",
    batch_size: int = 64,
) -> np.memmap:
    """Embed every prompt into `folder/embeddings.npy` (memory-mapped) and return it opened read-only."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EMBEDDINGS_FILE
    shape = (len(texts), tokenizer.model_max_length, text_encoder.config.hidden_size)
    state = PartialState()
    if state.is_main_process and not path.exists():
        size = text_cache_bytes(len(texts), tokenizer, text_encoder, dtype)
        print(
            f"text-embedding cache {path}: {shape[0]} prompts x {shape[1]} x {shape[2]} {dtype} = "
            f"{size / 2**30:.2f} GiB on disk",
            flush=True,
        )
        np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=shape).flush()
    ledger = datasets.Features({schema.ID: datasets.Value("string")})
    ids = [str(index) for index in range(len(texts))]
    with ShardedWriter(folder / LEDGER_DIR, ledger, fingerprint=job_fingerprint, shard_size=batch_size) as writer:
        pending = writer.pending_for_rank(ids)
        embeddings = np.load(path, mmap_mode="r+")
        if embeddings.shape != shape:
            raise ValueError(f"{path} has shape {embeddings.shape}, expected {shape}; delete the folder to rebuild")
        for start in range(0, len(pending), batch_size):
            chunk = [int(row_id) for row_id in pending[start : start + batch_size]]
            vectors = embed_prompts([texts[index] for index in chunk], tokenizer, text_encoder)
            embeddings[chunk] = vectors.float().cpu().numpy().astype(dtype)
            embeddings.flush()  # rows are durable before the ledger says they are done
            writer.write_many({schema.ID: str(index)} for index in chunk)
        del embeddings
    state.wait_for_everyone()
    return np.load(path, mmap_mode="r")
