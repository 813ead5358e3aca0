"""Loading VLMs, processors and InstructPix2Pix pipelines; real offline tokenizers; tiny-model builders."""

from edit_handbook.models.cache import cache_root, cached_build
from edit_handbook.models.loading import (
    expand_conv_in_for_instruct_pix2pix,
    load_instruct_pix2pix,
    load_vlm,
    require_torchvision,
)
from edit_handbook.models.tiny import tiny_instruct_pix2pix, tiny_qwen2_5_vl, tiny_qwen3_vl, tiny_qwen3_vl_moe
from edit_handbook.models.tokenizers import (
    clip_tokenizer_path,
    load_clip_tokenizer,
    load_qwen_tokenizer,
    qwen2_5_vl_chat_template,
    qwen3_vl_chat_template,
    qwen_tokenizer_path,
)


__all__ = [
    "cache_root",
    "cached_build",
    "clip_tokenizer_path",
    "expand_conv_in_for_instruct_pix2pix",
    "load_clip_tokenizer",
    "load_instruct_pix2pix",
    "load_qwen_tokenizer",
    "load_vlm",
    "qwen2_5_vl_chat_template",
    "qwen3_vl_chat_template",
    "qwen_tokenizer_path",
    "require_torchvision",
    "tiny_instruct_pix2pix",
    "tiny_qwen2_5_vl",
    "tiny_qwen3_vl",
    "tiny_qwen3_vl_moe",
]
