"""Tiny, randomly initialised copies of the real architectures, saved as ordinary checkpoints.

Tests and smoke recipes exercise the real loading paths (`AutoModelForImageTextToText.from_pretrained`,
`AutoProcessor.from_pretrained`, `StableDiffusionInstructPix2PixPipeline.from_pretrained`) on folders these
builders write. Every folder is cached by a hash of the builder's arguments, the tokenizer's files and the
library versions, so a test session builds each model once.

The tokenizer defaults to the real one (Qwen-VL or CLIP) and can be swapped for any saved tokenizer or
tokenizer object, e.g. a small BPE a tiny model can learn with on CPU; the vocabulary size follows it.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from diffusers import (
    AutoencoderKL,
    EulerAncestralDiscreteScheduler,
    StableDiffusionInstructPix2PixPipeline,
    UNet2DConditionModel,
)
from transformers import (
    AutoTokenizer,
    CLIPTextConfig,
    CLIPTextModel,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLMoeConfig,
    Qwen3VLMoeForConditionalGeneration,
)

from edit_handbook.models.cache import BUILD_INFO, cached_build
from edit_handbook.models.loading import require_torchvision
from edit_handbook.models.tokenizers import (
    QWEN_VL_REQUIRED_TOKENS,
    clip_tokenizer_path,
    qwen2_5_vl_chat_template,
    qwen3_vl_chat_template,
    qwen_tokenizer_path,
    require_tokens,
)


TokenizerLike = str | Path | PreTrainedTokenizerBase | None
CacheDir = str | Path | None
TokenizerDefault = Callable[[CacheDir], Path]

# Small enough that a 64 px image becomes 4 merged vision tokens, and larger images are scaled down to that.
TINY_MIN_PIXELS = 32 * 32
TINY_MAX_PIXELS = 64 * 64
# Every attention head is 16 wide, so the M-RoPE split of its 8 frequency pairs is (temporal, height, width); with
# Qwen3-VL's interleaving, height turns with frequencies 1, 4, 7 and width with 2, 5 (transformers'
# `apply_interleaved_mrope`), the same 3:3:2 share of the pairs as the real 24:20:20 of 64.
_HEAD_DIM = 16
_MROPE_SECTION = [2, 3, 3]
# RoPE base of the tiny Qwen3-VL. The real models use 5e6 with 128-wide heads; kept with 16-wide heads, one step
# across the image grid turns the position pairs by at most 0.02-0.15 rad, so neighbouring image tokens look
# almost alike by position and the model never learns where things are (measured: left/right across two images
# stays at chance, 47%). With 1e4 the same model learns it (100% on fresh scenes, 1,500 steps).
TINY_ROPE_THETA = 10_000.0
# Bump when a builder changes what it writes, so stale cached folders are not reused.
_BUILDER_VERSION = 2


@contextmanager
def _tokenizer_folder(tokenizer: TokenizerLike, default: TokenizerDefault, cache_dir: CacheDir) -> Iterator[Path]:
    """A folder holding the tokenizer to use, whether given as a folder, an object, or not at all."""
    if tokenizer is None:
        yield default(cache_dir)
    elif isinstance(tokenizer, PreTrainedTokenizerBase):
        with tempfile.TemporaryDirectory() as folder:
            tokenizer.save_pretrained(folder)
            yield Path(folder)
    else:
        yield Path(tokenizer)


def _fingerprint(folder: Path) -> str:
    """Hash of a tokenizer folder's files, so a changed tokenizer means a new cached model."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != BUILD_INFO:
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build_cached(
    kind: str,
    tokenizer: TokenizerLike,
    default: TokenizerDefault,
    cache_dir: CacheDir,
    params: dict[str, Any],
    build: Callable[[Path, Path], None],
) -> Path:
    """Cache key = builder, versions, tokenizer files and `params`; `build(folder, tokenizer_dir)` fills it."""
    with _tokenizer_folder(tokenizer, default, cache_dir) as tokenizer_dir:
        payload = {
            "builder": kind,
            "builder_version": _BUILDER_VERSION,
            "transformers": transformers.__version__,
            "diffusers": diffusers.__version__,
            "tokenizer": _fingerprint(tokenizer_dir),
            **params,
        }
        return cached_build(f"models/{kind}", payload, lambda folder: build(folder, tokenizer_dir), cache_dir)


def _init_weights(model_class: type[PreTrainedModel], config: Any, seed: int) -> PreTrainedModel:
    """Instantiate with a fixed seed without disturbing the caller's global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return model_class(config)


def _heads(hidden_size: int) -> int:
    if hidden_size % _HEAD_DIM:
        raise ValueError(f"Hidden sizes must be multiples of the {_HEAD_DIM}-wide attention heads, got {hidden_size}.")
    return hidden_size // _HEAD_DIM


def _qwen_text_config(vocab_size: int, hidden_size: int, num_hidden_layers: int, rope: dict) -> dict:
    heads = _heads(hidden_size)
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "rope_parameters": {"rope_type": "default", "mrope_section": _MROPE_SECTION, **rope},
    }


def _qwen_vision_config(hidden_size: int, depth: int, out_hidden_size: int, patch_size: int) -> dict:
    return {
        "depth": depth,
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_heads": _heads(hidden_size),
        "out_hidden_size": out_hidden_size,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }


def _qwen_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    ids = require_tokens(tokenizer, QWEN_VL_REQUIRED_TOKENS)
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def _save_qwen_vl(
    folder: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    make_processor: Callable[[PreTrainedTokenizerBase], ProcessorMixin],
) -> None:
    """Save model + processor; generation stops at `<|im_end|>` (or the pad token) and is greedy."""
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else im_end
    eos = [im_end] if pad == im_end else [im_end, pad]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=False)
    model.save_pretrained(folder)
    make_processor(tokenizer).save_pretrained(folder)


def _qwen3_vl_processor(
    tokenizer: PreTrainedTokenizerBase, min_pixels: int, max_pixels: int, patch_size: int = 16
) -> ProcessorMixin:
    # Imported here, after the torchvision check: these processors are torchvision-backed.
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(
        patch_size=patch_size,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    template = qwen3_vl_chat_template()
    tokenizer.chat_template = template
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(patch_size=patch_size),
        chat_template=template,
    )


def _tiny_qwen3_vl_family(
    kind: str,
    tokenizer: TokenizerLike,
    cache_dir: CacheDir,
    params: dict[str, Any],
    moe: dict[str, int] | None,
) -> Path:
    require_torchvision()

    def build(folder: Path, tokenizer_dir: Path) -> None:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        text = _qwen_text_config(
            len(tok), params["hidden_size"], params["num_hidden_layers"], {"rope_theta": params["rope_theta"]}
        )
        text["rope_parameters"]["mrope_interleaved"] = True
        text["head_dim"] = _HEAD_DIM
        vision = _qwen_vision_config(
            params["vision_hidden_size"], params["vision_depth"], params["hidden_size"], params["patch_size"]
        )
        vision["deepstack_visual_indexes"] = list(range(min(params["vision_depth"], 3)))
        vision["num_position_embeddings"] = 64
        config_class, model_class = Qwen3VLConfig, Qwen3VLForConditionalGeneration
        if moe is not None:
            text.update(moe, moe_intermediate_size=params["hidden_size"], decoder_sparse_step=1)
            config_class, model_class = Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
        config = config_class(text_config=text, vision_config=vision, tie_word_embeddings=True, **_qwen_token_ids(tok))
        model = _init_weights(model_class, config, params["seed"])
        _save_qwen_vl(
            folder,
            model,
            tok,
            lambda t: _qwen3_vl_processor(t, params["min_pixels"], params["max_pixels"], params["patch_size"]),
        )

    return _build_cached(kind, tokenizer, qwen_tokenizer_path, cache_dir, params, build)


def tiny_qwen3_vl(
    tokenizer: TokenizerLike = None,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    vision_hidden_size: int = 32,
    vision_depth: int = 2,
    min_pixels: int = TINY_MIN_PIXELS,
    max_pixels: int = TINY_MAX_PIXELS,
    rope_theta: float = TINY_ROPE_THETA,
    patch_size: int = 16,
    seed: int = 0,
    cache_dir: CacheDir = None,
) -> Path:
    """Folder with a tiny dense Qwen3-VL (tied embeddings) and its full `Qwen3VLProcessor`."""
    params = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "vision_hidden_size": vision_hidden_size,
        "vision_depth": vision_depth,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "rope_theta": rope_theta,
        "patch_size": patch_size,
        "seed": seed,
    }
    return _tiny_qwen3_vl_family("qwen3-vl", tokenizer, cache_dir, params, moe=None)


def tiny_qwen3_vl_moe(
    tokenizer: TokenizerLike = None,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_experts: int = 4,
    num_experts_per_tok: int = 2,
    vision_hidden_size: int = 32,
    vision_depth: int = 2,
    min_pixels: int = TINY_MIN_PIXELS,
    max_pixels: int = TINY_MAX_PIXELS,
    rope_theta: float = TINY_ROPE_THETA,
    patch_size: int = 16,
    seed: int = 0,
    cache_dir: CacheDir = None,
) -> Path:
    """Folder with a tiny Qwen3-VL-MoE (every layer sparse) and its `Qwen3VLProcessor`."""
    params = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_experts": num_experts,
        "num_experts_per_tok": num_experts_per_tok,
        "vision_hidden_size": vision_hidden_size,
        "vision_depth": vision_depth,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "rope_theta": rope_theta,
        "patch_size": patch_size,
        "seed": seed,
    }
    moe = {"num_experts": num_experts, "num_experts_per_tok": num_experts_per_tok}
    return _tiny_qwen3_vl_family("qwen3-vl-moe", tokenizer, cache_dir, params, moe=moe)


def tiny_qwen2_5_vl(
    tokenizer: TokenizerLike = None,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    vision_hidden_size: int = 32,
    vision_depth: int = 2,
    min_pixels: int = TINY_MIN_PIXELS,
    max_pixels: int = TINY_MAX_PIXELS,
    seed: int = 0,
    cache_dir: CacheDir = None,
) -> Path:
    """Folder with a tiny Qwen2.5-VL (14 px patches, windowed vision attention) and its `Qwen2_5_VLProcessor`."""
    params = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "vision_hidden_size": vision_hidden_size,
        "vision_depth": vision_depth,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "seed": seed,
    }
    require_torchvision()

    def make_processor(tok: PreTrainedTokenizerBase) -> ProcessorMixin:
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        template = qwen2_5_vl_chat_template()
        tok.chat_template = template
        image_processor = Qwen2VLImageProcessor(
            patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=min_pixels, max_pixels=max_pixels
        )
        return Qwen2_5_VLProcessor(
            image_processor=image_processor,
            tokenizer=tok,
            video_processor=Qwen2VLVideoProcessor(patch_size=14, merge_size=2, temporal_patch_size=2),
            chat_template=template,
        )

    def build(folder: Path, tokenizer_dir: Path) -> None:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        text = _qwen_text_config(len(tok), hidden_size, num_hidden_layers, {"rope_theta": 1_000_000.0})
        vision = _qwen_vision_config(vision_hidden_size, vision_depth, hidden_size, 14)
        vision.update(window_size=112, fullatt_block_indexes=[vision_depth - 1])
        config = Qwen2_5_VLConfig(
            text_config=text, vision_config=vision, tie_word_embeddings=True, **_qwen_token_ids(tok)
        )
        model = _init_weights(Qwen2_5_VLForConditionalGeneration, config, seed)
        _save_qwen_vl(folder, model, tok, make_processor)

    return _build_cached("qwen2.5-vl", tokenizer, qwen_tokenizer_path, cache_dir, params, build)


def tiny_instruct_pix2pix(
    tokenizer: TokenizerLike = None,
    *,
    block_out_channels: tuple[int, int] = (32, 64),
    text_hidden_size: int = 32,
    text_layers: int = 2,
    seed: int = 0,
    cache_dir: CacheDir = None,
) -> Path:
    """Folder with a tiny `StableDiffusionInstructPix2PixPipeline` (8-channel UNet, no safety checker).

    The VAE has two blocks, so latents are 1/2 of the image size (not 1/8 as in SD1.5) and the default
    resolution is 32 px: cheap enough to run on CPU while keeping the real latent/conditioning plumbing.
    """
    params = {
        "block_out_channels": list(block_out_channels),
        "text_hidden_size": text_hidden_size,
        "text_layers": text_layers,
        "seed": seed,
    }

    def build(folder: Path, tokenizer_dir: Path) -> None:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        if tok.model_max_length > 1024:
            raise ValueError(
                f"The text encoder's positions follow the tokenizer's model_max_length ({tok.model_max_length}); "
                "save the tokenizer with a real limit (CLIP uses 77)."
            )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            unet = UNet2DConditionModel(
                block_out_channels=block_out_channels,
                layers_per_block=1,
                sample_size=16,
                in_channels=8,
                out_channels=4,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                cross_attention_dim=text_hidden_size,
                norm_num_groups=8,
                attention_head_dim=4,
            )
            vae = AutoencoderKL(
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2,
                block_out_channels=block_out_channels,
                latent_channels=4,
                norm_num_groups=8,
                sample_size=32,
            )
            text_encoder = CLIPTextModel(
                CLIPTextConfig(
                    vocab_size=len(tok),
                    hidden_size=text_hidden_size,
                    intermediate_size=2 * text_hidden_size,
                    num_attention_heads=4,
                    num_hidden_layers=text_layers,
                    max_position_embeddings=tok.model_max_length,
                    bos_token_id=tok.bos_token_id,
                    eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id,
                )
            )
        scheduler = EulerAncestralDiscreteScheduler(
            num_train_timesteps=1000,
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
        )
        pipeline = StableDiffusionInstructPix2PixPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tok,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipeline.save_pretrained(folder)

    return _build_cached("instruct-pix2pix", tokenizer, clip_tokenizer_path, cache_dir, params, build)
