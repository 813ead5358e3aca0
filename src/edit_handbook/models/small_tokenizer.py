"""A small byte-level BPE trained on the synthetic world's vocabulary, dressed as a Qwen-VL tokenizer.

A tiny model cannot learn on CPU with the real 151k-token Qwen vocabulary: the output layer dominates every
step and the model stays at 0% correct for minutes (`../shared/ENVIRONMENT.md`). Trained on the synthetic
instructions, descriptions and this project's prompt texts, a few hundred merges turn every word the task
uses into one or two tokens, so the learning fixture sees short sequences and a small softmax. The Qwen-VL
special tokens and Qwen3-VL's chat template make it a drop-in tokenizer for the real processors and TRL;
byte-level BPE still encodes any text, only less compactly.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from edit_handbook.data.synthetic.edits import EDIT_TYPES, sample_edit
from edit_handbook.data.synthetic.language import (
    flawed_instructions,
    negative_instructions,
    rectified_description,
    reference_instruction,
    scene_description,
)
from edit_handbook.editcaption.prompts import prompt_texts
from edit_handbook.models.cache import cached_build
from edit_handbook.models.tokenizers import QWEN_SPECIAL_TOKENS, qwen3_vl_chat_template


DEFAULT_VOCAB_SIZE = 640
_CORPUS_EDITS = 3000
# The fixed texts every example repeats (chat roles, prompts) weigh as much as the synthetic sentences, so
# BPE merges them into whole words too: shorter sequences for the fixture to attend over.
_FIXED_TEXT_WEIGHT = 200
_CHAT_ROLES = ("system", "user", "assistant")
_BUILDER_VERSION = 3


def synthetic_corpus(num_edits: int = _CORPUS_EDITS, seed: int = 0) -> list[str]:
    """Every kind of text the synthetic pipeline produces (no images are rendered), plus the prompt texts."""
    rng = random.Random(f"small-tokenizer:{seed}")
    lines = [*prompt_texts(), *_CHAT_ROLES] * _FIXED_TEXT_WEIGHT
    for index in range(num_edits):
        source, target, spec = sample_edit(rng, EDIT_TYPES[index % len(EDIT_TYPES)])
        lines += [reference_instruction(spec), rectified_description(spec)]
        lines += [scene_description(source), scene_description(target)]
        lines += [text for text, _ in negative_instructions(spec, rng)]
        lines += [text for text, _, _ in flawed_instructions(spec, rng)]
    return lines


def _build(folder: Path, vocab_size: int) -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(synthetic_corpus(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in QWEN_SPECIAL_TOKENS if t != "<|endoftext|>"],
        model_max_length=4096,
        chat_template=qwen3_vl_chat_template(),
    )
    wrapped.save_pretrained(folder)


def small_tokenizer_path(vocab_size: int = DEFAULT_VOCAB_SIZE, cache_dir: str | Path | None = None) -> Path:
    """Folder with the small synthetic-vocabulary tokenizer, trained once and cached."""
    prompts = hashlib.sha256("\n".join(prompt_texts()).encode()).hexdigest()[:16]
    payload = {"vocab_size": vocab_size, "prompts": prompts, "builder_version": _BUILDER_VERSION}
    return cached_build("tokenizers/small-synthetic", payload, lambda folder: _build(folder, vocab_size), cache_dir)


def load_small_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE, cache_dir: str | Path | None = None):
    return AutoTokenizer.from_pretrained(small_tokenizer_path(vocab_size, cache_dir))
