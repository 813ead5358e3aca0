"""Each tiny builder writes a checkpoint the real loaders accept and that runs; builds are cached."""

import os
import re

import pytest
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline
from PIL import Image
from tokenizers import Tokenizer
from tokenizers.decoders import ByteLevel as ByteLevelDecoder
from tokenizers.models import BPE
from tokenizers.pre_tokenizers import ByteLevel
from tokenizers.trainers import BpeTrainer
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedTokenizerFast

from edit_handbook.models import cache, tiny
from edit_handbook.models.tokenizers import QWEN_SPECIAL_TOKENS, qwen3_vl_chat_template


TWO_IMAGES = [Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (30, 30, 220))]
MESSAGES = [
    {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "What changed?"}]}
]


def _forward_and_generate(path):
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    prompt = processor.apply_chat_template(MESSAGES, add_generation_prompt=True)
    batch = processor(text=[prompt], images=TWO_IMAGES, return_tensors="pt")
    image_tokens = batch["input_ids"] == model.config.image_token_id
    assert torch.equal(batch["mm_token_type_ids"].bool(), image_tokens)
    assert image_tokens.sum() == 8  # 64 px -> 4 merged patches per image
    loss = model(**batch, labels=batch["input_ids"]).loss
    assert torch.isfinite(loss)
    generated = model.generate(**batch, max_new_tokens=3)
    assert generated.shape == (1, batch["input_ids"].shape[1] + 3)
    return model, processor


def test_tiny_qwen3_vl_loads_and_runs(tiny_qwen3_vl_path):
    model, processor = _forward_and_generate(tiny_qwen3_vl_path)
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert processor.chat_template == qwen3_vl_chat_template()  # byte-identical: TRL recognises it
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert model.generation_config.eos_token_id == [151645, 151643]


def test_tiny_qwen3_vl_moe_loads_and_runs(model_cache_dir):
    model, _ = _forward_and_generate(tiny.tiny_qwen3_vl_moe(cache_dir=model_cache_dir))
    assert type(model).__name__ == "Qwen3VLMoeForConditionalGeneration"
    assert model.config.text_config.num_experts == 4


def test_tiny_qwen2_5_vl_loads_and_runs(model_cache_dir):
    model, processor = _forward_and_generate(tiny.tiny_qwen2_5_vl(cache_dir=model_cache_dir))
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"


def test_tiny_instruct_pix2pix_runs_two_steps(tiny_ip2p_path):
    pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_ip2p_path)
    assert pipeline.unet.config.in_channels == 8 and pipeline.safety_checker is None
    assert pipeline.tokenizer.model_max_length == 77
    assert pipeline.text_encoder.config.vocab_size == len(pipeline.tokenizer)
    result = pipeline(
        "make the square blue",
        image=Image.new("RGB", (32, 32), (220, 30, 30)),
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.images[0].size == (32, 32)


def _small_bpe_tokenizer():
    """A byte-level BPE of a few hundred tokens that still has the tokens Qwen-VL processors need."""
    bpe = Tokenizer(BPE())
    bpe.pre_tokenizer = ByteLevel(add_prefix_space=False)
    bpe.decoder = ByteLevelDecoder()
    trainer = BpeTrainer(
        vocab_size=300, special_tokens=list(QWEN_SPECIAL_TOKENS), initial_alphabet=ByteLevel.alphabet()
    )
    bpe.train_from_iterator(["move the red square left", "make the blue circle bigger", "user assistant"], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def test_swapped_small_tokenizer_sets_vocab_size_and_runs(tmp_path):
    tokenizer = _small_bpe_tokenizer()
    path = tiny.tiny_qwen3_vl(tokenizer, cache_dir=tmp_path)
    model, processor = _forward_and_generate(path)
    assert model.config.text_config.vocab_size == len(tokenizer) == len(processor.tokenizer) < 400
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_tokenizer_without_vision_tokens_is_refused(tmp_path):
    bpe = Tokenizer(BPE())
    bpe.pre_tokenizer = ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["hello"], BpeTrainer(vocab_size=280, special_tokens=["<|im_start|>", "<|im_end|>"]))
    with pytest.raises(ValueError, match=re.escape("'<|image_pad|>'")):
        tiny.tiny_qwen3_vl(PreTrainedTokenizerFast(tokenizer_object=bpe), cache_dir=tmp_path)


def test_builder_cache_reuses_folder_without_rebuilding(model_cache_dir, tiny_ip2p_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rebuilt a cached model")

    monkeypatch.setattr(StableDiffusionInstructPix2PixPipeline, "save_pretrained", fail)
    assert tiny.tiny_instruct_pix2pix(cache_dir=model_cache_dir) == tiny_ip2p_path
    with pytest.raises(AssertionError, match="rebuilt"):
        tiny.tiny_instruct_pix2pix(seed=1, cache_dir=model_cache_dir)  # a new config is a new build


def test_cached_build_tolerates_a_concurrent_winner(tmp_path):
    """The loser of a build race keeps the winner's folder and leaves no staging folder behind."""
    target = tmp_path / "kind" / cache.config_hash({"a": 1})

    def build_while_another_process_finishes(folder):
        (folder / "mine.txt").write_text("loser")
        target.mkdir()
        (target / "theirs.txt").write_text("winner")

    assert cache.cached_build("kind", {"a": 1}, build_while_another_process_finishes, tmp_path) == target
    assert sorted(os.listdir(target)) == ["theirs.txt"]
    assert os.listdir(tmp_path / "kind") == [target.name]


def test_cached_build_leaves_nothing_when_the_build_fails(tmp_path):
    def broken(folder):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.cached_build("kind", {"a": 1}, broken, tmp_path)
    assert os.listdir(tmp_path / "kind") == []
