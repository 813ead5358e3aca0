"""Edit pairs -> prompt-completion examples: image placeholders, order, tasks, and clear errors."""

import io

import pytest
from PIL import Image

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.data.validation import DataValidationError
from edit_handbook.editcaption import prompts
from edit_handbook.editcaption.sft_data import to_sft_examples


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(3, seed=0, image_size=32, edit_types=("move", "recolour"))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_placeholders_in_order_and_count_equals_images(pairs):
    examples = to_sft_examples(pairs)
    assert len(examples) == len(pairs)
    for example, row in zip(examples, pairs):
        system, user = example["prompt"]
        assert (system["role"], user["role"]) == ("system", "user")
        parts = [(part["type"], part["text"]) for part in user["content"]]
        assert parts == [
            ("text", prompts.SOURCE_LABEL),
            ("image", None),
            ("text", prompts.EDITED_LABEL),
            ("image", None),
            ("text", prompts.user_request("caption")),
        ]
        placeholders = sum(part["type"] == "image" for m in example["prompt"] for part in m["content"])
        assert placeholders == len(example["images"]) == 2
        source, edited = example["images"]
        assert _png(source) == _png(row["source_image"])  # source first, edited second
        assert _png(edited) == _png(row["target_image"])
        assert example["completion"] == [
            {"role": "assistant", "content": [{"type": "text", "text": row["instruction"]}]}
        ]


def test_mixing_tasks_gives_one_example_per_task_per_pair(pairs):
    examples = to_sft_examples(pairs, tasks=("caption", "rectify"))
    assert examples["task"] == ["caption", "rectify"] * len(pairs)
    rectify = examples[1]
    assert rectify["completion"][0]["content"][0]["text"] == pairs[0]["rectified_instruction"]
    assert pairs[0]["instruction"] in rectify["prompt"][1]["content"][-1]["text"]  # the claim being rectified


def test_rectify_targets_over_77_clip_tokens_name_the_row(pairs):
    from edit_handbook.models import load_clip_tokenizer

    long = pairs.map(
        lambda row, i: {"rectified_instruction": row["rectified_instruction"] + " very" * 80 * (i == 2)},
        with_indices=True,
    )
    with pytest.raises(DataValidationError, match="row 2.*rectified_instruction.*CLIP tokens"):
        to_sft_examples(long, tasks=("rectify",), clip_tokenizer=load_clip_tokenizer())


def test_missing_answer_column_and_unknown_task_are_clear(pairs):
    with pytest.raises(DataValidationError, match="rectified_instruction"):
        to_sft_examples(pairs.remove_columns("rectified_instruction"), tasks=("rectify",))
    with pytest.raises(ValueError, match="unknown task 'summarise'"):
        to_sft_examples(pairs, tasks=("summarise",))


def test_rectify_prompt_needs_the_claimed_instruction():
    with pytest.raises(ValueError, match="needs the original instruction"):
        prompts.prompt_messages("rectify")
