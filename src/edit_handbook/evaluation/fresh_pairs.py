"""A captioner's scores on fresh synthetic pairs, both tasks, by the exact checker, and how well its first stage
reads single images (`score_descriptions`).

- caption: `checker_accuracy` over all pairs (an empty answer is wrong), per failure mode and edit type, and
  `answered_rate`;
- rectify: the claimed edit shown as the hint is the reference on even rows and one of the pair's flawed
  instructions on odd rows (the training rule, `editcaption.sft_data`); `rectified_correct_rate` is the share of
  rectifications the checker accepts;
- negatives from the model's own rectification by a stated rule (`negative_from`): every occurrence of its first
  colour word becomes another colour, or, with no colour, of its first direction word the opposite direction;
  `negative_valid_rate` is the share the checker rejects on exactly one aspect (`synth.tasks.negative_is_valid`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from edit_handbook.data.synthetic import check_instruction
from edit_handbook.data.synthetic.vocabulary import COLOURS, OPPOSITE
from edit_handbook.editcaption.callbacks import checker_scores
from edit_handbook.editcaption.inference import describe_edit
from edit_handbook.editcaption.prompts import get_task, prompt_messages
from edit_handbook.models.generation import generate_answers
from edit_handbook.synth.tasks import negative_is_valid


_DIRECTIONS = ("left", "right", "up", "down", "in", "out")
# The fields of one object in a scene description, in order (`data.synthetic.language.scene_description`).
DESCRIPTION_FIELDS = ("size", "colour", "pattern", "shape")


def describe_images(model, processor, images, *, batch_size: int = 32) -> list[str]:
    """The `describe` task's greedy answers, one image each."""
    answers = []
    model.eval()
    text = processor.apply_chat_template(prompt_messages("describe"), add_generation_prompt=True, tokenize=False)
    tokenizer = getattr(processor, "tokenizer", processor)
    for start in range(0, len(images), batch_size):
        batch = [[image.convert("RGB")] for image in images[start : start + batch_size]]
        inputs = processor(
            text=[text] * len(batch), images=batch, padding=True, padding_side="left", return_tensors="pt"
        )
        answers += generate_answers(model, tokenizer, inputs, max_new_tokens=get_task("describe").max_new_tokens)
    return answers


def score_descriptions(answers: Sequence[str], descriptions: Sequence[str]) -> dict[str, float]:
    """Per object of the true description (left to right), the share whose size / colour / pattern / shape the answer's
    object in the same place names right; `objects` is the share of images with the right number of objects."""
    hits = dict.fromkeys(DESCRIPTION_FIELDS, 0)
    objects = total = 0
    for answer, truth in zip(answers, descriptions):
        wanted = [item.split() for item in truth.rstrip(".").split("; ")]
        given = [item.split() for item in (answer or "").rstrip(".").split("; ")]
        objects += len(wanted) == len(given)
        for k, words in enumerate(wanted):
            total += 1
            said = given[k] if k < len(given) else []
            for j, name in enumerate(DESCRIPTION_FIELDS):
                hits[name] += len(said) > j and said[j] == words[j]
    return {"objects": objects / len(descriptions), **{name: hits[name] / total for name in DESCRIPTION_FIELDS}}


def rectify_hints(instructions: Sequence[str], flawed: Sequence[Sequence[str]]) -> list[str]:
    """Half correct, half flawed claimed edits, by the same rule as training."""
    return [
        options[(index // 2) % len(options)] if index % 2 and options else instruction
        for index, (instruction, options) in enumerate(zip(instructions, flawed))
    ]


def negative_from(text: str) -> str | None:
    """The rule's one-aspect negative of `text`, or None when it names neither a colour nor a direction."""
    words = re.findall(r"[a-z]+", text.lower())
    colour = next((w for w in words if w in COLOURS), None)
    if colour is not None:
        other = next(c for c in COLOURS if c not in words)
        return re.sub(rf"\b{colour}\b", other, text)
    direction = next((w for w in words if w in _DIRECTIONS), None)
    if direction is None:
        return None
    return re.sub(rf"\b{direction}\b", OPPOSITE[direction], text)


def score_captioner(model, processor, pairs, *, batch_size: int = 32) -> dict:
    """Both tasks on `pairs` (synthetic rows with `edit_spec` and `flawed_instructions`); see the module docstring."""
    specs = pairs["edit_spec"]
    captions = describe_edit(model, processor, pairs["source_image"], pairs["target_image"], batch_size=batch_size)
    scores = checker_scores(captions, specs)
    hints = rectify_hints(pairs["instruction"], pairs["flawed_instructions"])
    rectified = describe_edit(
        model, processor, pairs["source_image"], pairs["target_image"], "rectify", instructions=hints,
        batch_size=batch_size,
    )  # fmt: skip
    negatives = [negative_from(text) if text else None for text in rectified]
    n = len(specs)
    return {
        "pairs": n,
        **{key: round(value, 4) for key, value in scores.items()},
        "answered_rate": sum(bool(text) for text in captions) / n,
        "rectified_correct_rate": sum(bool(t) and check_instruction(t, s).correct for t, s in zip(rectified, specs))
        / n,
        "negative_valid_rate": sum(bool(neg) and negative_is_valid(neg, s) for neg, s in zip(negatives, specs)) / n,
        "examples": [
            {"reference": ref, "caption": cap, "hint": hint, "rectified": rect}
            for ref, cap, hint, rect in list(zip(pairs["instruction"], captions, hints, rectified))[:6]
        ],
    }
