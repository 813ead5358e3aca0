"""The offline tokenizers give the real checkpoints' ids, and the chat templates render images as Qwen does."""

import pytest

from edit_handbook.models.tokenizers import (
    clip_tokenizer_path,
    load_clip_tokenizer,
    load_qwen_tokenizer,
    qwen2_5_vl_chat_template,
    qwen_tokenizer_path,
)


# Expected ids from transformers' Qwen2 tokenizer integration test (tests/models/qwen2/test_tokenization_qwen2.py),
# which encodes these strings with the released Qwen tokenizer.
INTEGRATION_CASES = [
    (
        "Transformers (formerly known as pytorch-transformers and pytorch-pretrained-bert) provides "
        "general-purpose architectures (BERT, GPT-2, RoBERTa, XLM, DistilBert, XLNet...) for Natural "
        "Language Understanding (NLU) and Natural Language Generation (NLG) with over 32+ pretrained "
        "models in 100+ languages and deep interoperability between Jax, PyTorch and TensorFlow.",
        [8963, 388, 320, 69514, 3881, 438, 4510, 27414, 32852, 388, 323, 4510, 27414, 21334, 35722, 1455, 529, 8,
         5707, 4586, 58238, 77235, 320, 61437, 11, 479, 2828, 12, 17, 11, 11830, 61437, 64, 11, 1599, 10994, 11,
         27604, 321, 33, 529, 11, 29881, 6954, 32574, 369, 18448, 11434, 45451, 320, 45, 23236, 8, 323, 18448,
         11434, 23470, 320, 30042, 38, 8, 448, 916, 220, 18, 17, 10, 80669, 4119, 304, 220, 16, 15, 15, 10, 15459,
         323, 5538, 94130, 2897, 1948, 619, 706, 11, 5355, 51, 21584, 323, 94986, 13],
    ),
    (
        "🤗 Transformers 提供了可以轻松地下载并且训练先进的预训练模型的 API 和工具。"
        "使用预训练模型可以减少计算消耗和碳排放，并且节省从头训练所需要的时间和资源。",
        [144834, 80532, 93685, 83744, 34187, 73670, 104261, 29490, 62189, 103937, 104034, 102830, 98841, 104034,
         104949, 9370, 5333, 58143, 102011, 1773, 37029, 98841, 104034, 104949, 73670, 101940, 100768, 104997,
         33108, 100912, 105054, 90395, 100136, 106831, 45181, 64355, 104034, 113521, 101975, 33108, 85329, 1773],
    ),
    (
        '```python\ntokenizer = AutoTokenizer.from_pretrained("Qwen/Qwen-tokenizer")\ntokenizer("世界，你好！")```',
        [73594, 12669, 198, 85593, 284, 8979, 37434, 6387, 10442, 35722, 445, 48, 16948, 45274, 16948, 34841, 3135,
         1138, 85593, 445, 99489, 3837, 108386, 6313, 899, 73594],
    ),
    ("<|im_start|>hello<|im_end|>", [151644, 14990, 151645]),
]  # fmt: skip

TWO_IMAGES = [
    {
        "role": "user",
        "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Describe the edit."}],
    }
]
VISION = "<|vision_start|><|image_pad|><|vision_end|>"


@pytest.fixture(scope="module")
def qwen(model_cache_dir):
    return load_qwen_tokenizer(cache_dir=model_cache_dir)


@pytest.mark.parametrize(("text", "expected"), INTEGRATION_CASES)
def test_qwen_ids_match_released_tokenizer(qwen, text, expected):
    assert qwen(text)["input_ids"] == expected


def test_qwen_special_tokens_sit_at_released_ids(qwen):
    ids = qwen.convert_tokens_to_ids(
        [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "</think>",
        ]
    )
    assert ids == [151643, 151644, 151645, 151652, 151655, 151656, 151668]
    assert len(qwen) == 151_669
    assert (qwen.eos_token, qwen.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert qwen(VISION)["input_ids"] == [151652, 151655, 151653]


def test_qwen_normalises_to_nfc(qwen):
    # U+03D2 U+0301 composes to U+03D3 under NFC only; one token in the released vocabulary.
    assert qwen.decode(qwen("\u03d2\u0301")["input_ids"]) == "\u03d3"


def test_qwen3_vl_template_renders_two_images(qwen):
    text = qwen.apply_chat_template(TWO_IMAGES, tokenize=False, add_generation_prompt=True)
    assert text == f"<|im_start|>user\n{VISION}{VISION}Describe the edit.<|im_end|>\n<|im_start|>assistant\n"
    ids = qwen(text)["input_ids"]
    assert ids.count(151652) == 2 and ids.count(151655) == 2


def test_qwen3_vl_template_renders_system_and_assistant_turns(qwen):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be exact."}]},
        *TWO_IMAGES,
        {"role": "assistant", "content": [{"type": "text", "text": "Turn the red square blue."}]},
    ]
    text = qwen.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe exact.<|im_end|>\n"
        f"<|im_start|>user\n{VISION}{VISION}Describe the edit.<|im_end|>\n"
        "<|im_start|>assistant\nTurn the red square blue.<|im_end|>\n"
    )


def test_qwen2_5_vl_template_adds_default_system_prompt(model_cache_dir):
    tokenizer = load_qwen_tokenizer(chat_template=qwen2_5_vl_chat_template(), cache_dir=model_cache_dir)
    text = tokenizer.apply_chat_template(TWO_IMAGES, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert text.count(VISION) == 2


def test_clip_ids_match_released_tokenizer(model_cache_dir):
    clip = load_clip_tokenizer(cache_dir=model_cache_dir)
    assert len(clip) == 49_408
    assert clip("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    padded = clip("a photo", padding="max_length", truncation=True, max_length=clip.model_max_length)
    assert clip.model_max_length == 77 and len(padded["input_ids"]) == 77


def test_tokenizers_are_built_once(model_cache_dir):
    assert qwen_tokenizer_path(model_cache_dir) == qwen_tokenizer_path(model_cache_dir)
    assert clip_tokenizer_path(model_cache_dir) == clip_tokenizer_path(model_cache_dir)
