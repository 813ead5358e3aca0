"""Loss only on the answer: the labels SFTTrainer's own collator builds for our examples.

The tiny model carries the real Qwen tokenizer and Qwen3-VL chat template, so the token ids are those a
released Qwen3-VL checkpoint sees.
"""

import pytest
import torch
from trl import SFTConfig, SFTTrainer

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.editcaption.prompts import SYSTEM_PROMPT
from edit_handbook.editcaption.sft_data import to_sft_examples
from edit_handbook.models import load_vlm


@pytest.fixture(scope="module")
def batch_and_processor(tiny_qwen3_vl_path, tmp_path_factory):
    pairs = generate_dataset(3, seed=1, image_size=64, edit_types=("move", "recolour", "add"))
    examples = to_sft_examples(pairs, tasks=("caption", "rectify"))
    model, processor = load_vlm(tiny_qwen3_vl_path, dtype=torch.float32)
    args = SFTConfig(
        output_dir=str(tmp_path_factory.mktemp("masking")),
        use_cpu=True,
        bf16=False,
        max_length=None,
        per_device_train_batch_size=len(examples),
        report_to=[],
        shuffle_dataset=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=examples, processing_class=processor)
    assert trainer.completion_only_loss, "prompt-completion data must switch on completion-only loss"
    batch = next(iter(trainer.get_train_dataloader()))
    return batch, processor, examples


def test_only_the_answer_and_its_end_token_have_labels(batch_and_processor):
    batch, processor, examples = batch_and_processor
    tokenizer = processor.tokenizer
    expected = {example["completion"][0]["content"][0]["text"] for example in examples}
    answers = set()
    for ids, labels in zip(batch["input_ids"], batch["labels"]):
        kept = labels != -100
        assert torch.equal(labels[kept], ids[kept])
        text = tokenizer.decode(labels[kept])
        assert text.endswith("<|im_end|>\n"), text  # Qwen's template ends every turn with im_end + newline
        answers.add(text.removesuffix("<|im_end|>\n"))
        first = int(kept.nonzero()[0])
        assert tokenizer.decode(ids[:first]).endswith("<|im_start|>assistant\n")
        assert kept[first : first + int(kept.sum())].all()  # one contiguous span: the answer
    assert answers == expected


def test_image_system_and_user_tokens_are_masked(batch_and_processor):
    batch, processor, _ = batch_and_processor
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    is_image = batch["input_ids"] == image_id
    assert is_image.sum() > 0
    assert (batch["labels"][is_image] == -100).all()
    assert torch.equal(batch["mm_token_type_ids"].bool(), is_image)  # the model needs it next to input_ids
    system_ids = processor.tokenizer(SYSTEM_PROMPT, add_special_tokens=False)["input_ids"]
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        start = next(i for i in range(len(ids)) if ids[i : i + len(system_ids)] == system_ids)
        assert all(label == -100 for label in labels[: start + len(system_ids) + 1])
    assert int(is_image.sum(dim=1).min()) == int(is_image.sum(dim=1).max())  # two whole images per row
