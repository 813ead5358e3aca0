"""A small byte-level BPE trained on a given corpus, dressed as a Qwen-VL tokenizer.

A tiny model cannot learn on CPU with the real 151k-token Qwen vocabulary: the output layer dominates every
step and the model stays at 0% correct for minutes (`docs/environment.md`). Trained on the texts a task uses
(for the smoke model: the synthetic instructions, descriptions and the prompt texts, see
`editcaption.smoke_model`), a few hundred merges turn every word into one or two tokens, so the learning
fixture sees short sequences and a small softmax. The Qwen-VL
special tokens and Qwen3-VL's chat template make it a drop-in tokenizer for the real processors and TRL;
byte-level BPE still encodes any text, only less compactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from edit_handbook.models.cache import cached_build
from edit_handbook.models.tokenizers import QWEN_SPECIAL_TOKENS, qwen3_vl_chat_template


DEFAULT_VOCAB_SIZE = 640
_BUILDER_VERSION = 3


def _build(folder: Path, corpus: Sequence[str], vocab_size: int) -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=[t for t in QWEN_SPECIAL_TOKENS if t != "<|endoftext|>"],
        model_max_length=4096,
        chat_template=qwen3_vl_chat_template(),
    )
    wrapped.save_pretrained(folder)


def small_tokenizer_path(
    corpus: Sequence[str], vocab_size: int = DEFAULT_VOCAB_SIZE, cache_dir: str | Path | None = None
) -> Path:
    """Folder with a small tokenizer trained on `corpus` (lines of text), trained once per corpus and cached."""
    digest = hashlib.sha256("\n".join(corpus).encode()).hexdigest()[:16]
    payload = {"vocab_size": vocab_size, "corpus": digest, "builder_version": _BUILDER_VERSION}
    return cached_build("tokenizers/small", payload, lambda folder: _build(folder, corpus, vocab_size), cache_dir)


def load_small_tokenizer(
    corpus: Sequence[str], vocab_size: int = DEFAULT_VOCAB_SIZE, cache_dir: str | Path | None = None
):
    return AutoTokenizer.from_pretrained(small_tokenizer_path(corpus, vocab_size, cache_dir))
