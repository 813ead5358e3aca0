"""Prompt templates of the synthesis engine's own tasks: judge, negatives, summarise; versioned.

The `caption` and `rectify` requests are the instruction writer's (`editcaption.prompts`), so a fine-tuned
captioner is asked exactly what it was trained on; they are not repeated here. Every synthesized row records
`prompt_version()`, which names both modules' versions: changing any text below means bumping
`SYNTH_PROMPT_VERSION`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edit_handbook.editcaption import prompts as caption_prompts


SYNTH_PROMPT_VERSION = "synth-prompts-v1"
NEGATIVE_ATTRIBUTES = ("quantity", "position", "object", "colour")


def prompt_version() -> str:
    """The version written into every row and card: the captioner's prompts plus this module's."""
    return f"{caption_prompts.PROMPT_VERSION}+{SYNTH_PROMPT_VERSION}"


@dataclass(frozen=True)
class JudgeField:
    """An extra answer field the judge fills with one of `choices` (validated like the score, never guessed).

    `empty_when=(other, value)`: this field holds its first choice (e.g. "none") exactly when field `other`
    holds `value`, e.g. an error type is "none" exactly when the classification is "correct".
    """

    name: str
    choices: tuple[str, ...]
    empty_when: tuple[str, str] | None = None


@dataclass(frozen=True)
class JudgeQuestion:
    """One question a VLM judge answers about an edit: a yes/no verdict and a 0..`max_score` score.

    `images` names what the judge sees, in order ("source", "target"); `{instruction}` in `question` is
    filled with the instruction under judgement. The evaluation suite adds its own questions (Real-Edit's
    following / preserving / quality) as more `JudgeQuestion`s for the same judge. `fields` asks for more
    answer fields with fixed choices (the instruction-quality classification).
    """

    name: str
    question: str
    images: tuple[str, ...] = ("source", "target")
    max_score: int = 5
    fields: tuple[JudgeField, ...] = ()


# EditScore's role in EditCaption's data engine: does this instruction describe this pair?
INSTRUCTION_ACCURACY = JudgeQuestion(
    name="instruction_accuracy",
    question=(
        'An editing instruction is meant to turn the source image into the edited image: "{instruction}". '
        "Check every part of it against the two images: the action, the object and its attributes (colour, "
        "count, size, pattern), and every direction as seen by the viewer. Is the instruction correct and "
        "complete? Score 5 when it is exactly right, 0 when it describes a different edit."
    ),
)

# Evaluation: instruction quality. EditCaption's human study (docs/method.md) rates each instruction correct, minor
# error or critical error and names the error type; this project's own rubric asks a VLM judge the same.
INSTRUCTION_QUALITY_CLASSES = ("correct", "minor", "critical")
INSTRUCTION_ERROR_TYPES = ("none", "orientation", "viewpoint", "attribute", "other")
INSTRUCTION_QUALITY = JudgeQuestion(
    name="instruction_quality_v1",
    question=(
        'An editing instruction is meant to turn the source image into the edited image: "{instruction}". '
        "Judge it against the two images like a careful annotator. Check the action, the object and its "
        "fine-grained attributes (colour, count, size, pattern), every direction (left, right, up, down as seen "
        "by the viewer, never from an object's own point of view) and any camera or viewpoint change. "
        "Score: 5 = correct and complete, an editor following it would make exactly this edit; 4 = correct but "
        "one secondary detail is vague or missing; 3 = the main change is right but an attribute is wrong or "
        "missing; 2 = a key part is wrong (direction, object, colour, count, or a camera move told as an object "
        "move); 1 = only loosely related to the change; 0 = a different edit, no edit, or unreadable. "
        'Classification: "correct" (nothing wrong), "minor" (an omission or imprecision that would not mislead an '
        'editor), "critical" (an editor following it would make a different image). Error type of the main '
        'error: "orientation" (left/right, direction, rotation or mirroring confused), "viewpoint" (camera motion '
        'told as object motion, or whose left/right is unclear), "attribute" (a wrong or missing colour, count, '
        'size, pattern or object), "other", or "none" when correct. Answer "yes" when the instruction can be '
        "used as it is (correct or minor)."
    ),
    fields=(
        JudgeField("classification", INSTRUCTION_QUALITY_CLASSES),
        JudgeField("error_type", INSTRUCTION_ERROR_TYPES, empty_when=("classification", "correct")),
    ),
)

JUDGE_FORMAT = (
    "Answer with one JSON object and nothing else: "
    '{{"answer": "yes" or "no", "score": an integer from 0 to {max_score}, {extra_fields}"reason": "one short '
    'sentence"}}.'
)

NEGATIVES_REQUEST = (
    'The correct editing instruction for this pair is: "{instruction}". Write {k} wrong instructions for '
    "contrastive training. Each one copies the correct instruction and changes exactly one attribute, one of "
    "quantity, position, object, colour, so that it contradicts the images in that attribute only. Use "
    "different attributes where you can. Keep each under {max_tokens} CLIP tokens. Answer with one JSON "
    'object and nothing else: {{"negatives": [{{"attribute": "colour", "instruction": "..."}}, ...]}}.'
)

SUMMARISE_REQUEST = (
    "Shorten this description of an image edit so that it fits in {max_words} words. Keep the instruction "
    "first, keep every object, colour, count and direction it names, drop repetitions; do not add anything. "
    "Answer with the shortened text only.\n\n{text}"
)

REPAIR_REQUEST = (
    "Your answer could not be read: {error}. Answer again with only the JSON object in the requested format, "
    "no other text."
)

ANNOTATION_GUIDE = """\
# Refining instructions

Each row of `annotations.csv` (or `annotations.jsonl`) is one edit: open `source_image` and `target_image`,
read `model_instruction`, then fill in:

- `refined_instruction`: the correct instruction. Leave it empty when `model_instruction` is already right.
  Directions are as seen by the viewer of the image; name the object with its colour and attributes.
- `error_type` (only when you refined): the main error of `model_instruction`, one of {error_types}.
- `severity` (only when you refined): one of {severities}.
- `keep`: `yes`, or `no` to drop a pair whose images are unusable.

Do not change `id`, `source_image`, `target_image` or `model_instruction`.
"""


def _images(names: tuple[str, ...]) -> list[dict]:
    # "edit": an editor's output under evaluation (Real-Edit), labelled like a dataset's target image.
    edited = caption_prompts.EDITED_LABEL
    labels = {"source": caption_prompts.SOURCE_LABEL, "target": edited, "edit": edited}
    content: list[dict] = []
    for name in names:
        content += [{"type": "text", "text": labels[name]}, {"type": "image"}]
    return content


def _system() -> dict:
    return {"role": "system", "content": [{"type": "text", "text": caption_prompts.SYSTEM_PROMPT}]}


def judge_format(question: JudgeQuestion) -> str:
    """The answer format line: answer, score, the question's extra fields with their choices, reason."""
    extra = "".join(f'"{f.name}": one of {", ".join(json.dumps(c) for c in f.choices)}, ' for f in question.fields)
    return JUDGE_FORMAT.format(max_score=question.max_score, extra_fields=extra)


def judge_messages(question: JudgeQuestion, instruction: str) -> list[dict]:
    """The judge's turn; fill its image placeholders with the images `question.images` names, in order."""
    text = question.question.format(instruction=instruction.strip()) + " " + judge_format(question)
    return [_system(), {"role": "user", "content": [*_images(question.images), {"type": "text", "text": text}]}]


def negatives_messages(instruction: str, k: int, max_tokens: int) -> list[dict]:
    """Ask for `k` single-attribute wrong instructions; fill the placeholders with [source, target]."""
    text = NEGATIVES_REQUEST.format(instruction=instruction.strip(), k=k, max_tokens=max_tokens)
    return [_system(), {"role": "user", "content": [*_images(("source", "target")), {"type": "text", "text": text}]}]


def summarise_messages(text: str, max_words: int) -> list[dict]:
    """A text-only request: shorten a rectified description that is over CLIP's limit."""
    request = SUMMARISE_REQUEST.format(text=text.strip(), max_words=max_words)
    return [_system(), {"role": "user", "content": [{"type": "text", "text": request}]}]


def repair_messages(messages: list[dict], answer: str, error: str) -> list[dict]:
    """The one repair attempt: the conversation so far, the unreadable answer, and what was wrong with it."""
    return [
        *messages,
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        {"role": "user", "content": [{"type": "text", "text": REPAIR_REQUEST.format(error=error)}]},
    ]


def judge_schema(max_score: int, fields: tuple[JudgeField, ...] = ()) -> dict:
    """JSON schema of a judge answer (with a question's extra fields), for servers that constrain decoding."""
    extra = {f.name: {"type": "string", "enum": list(f.choices)} for f in fields}
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "enum": ["yes", "no"]},
            "score": {"type": "integer", "minimum": 0, "maximum": max_score},
            **extra,
            "reason": {"type": "string"},
        },
        "required": ["answer", "score", *extra, "reason"],
        "additionalProperties": False,
    }


NEGATIVES_SCHEMA = {
    "type": "object",
    "properties": {
        "negatives": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "attribute": {"type": "string", "enum": list(NEGATIVE_ATTRIBUTES)},
                    "instruction": {"type": "string"},
                },
                "required": ["attribute", "instruction"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["negatives"],
    "additionalProperties": False,
}


# Real-Edit (editing quality). SuperEdit's protocol (docs/method.md): three separate questions, each a yes/no and a
# 0-5 score, about an editor's output ("edit"). This project's own wording, not the release's prompts.
EDIT_FOLLOWING = JudgeQuestion(
    name="real_edit_following_v1",
    question=(
        'The edited image was made from the source image by following this instruction: "{instruction}". Does the '
        "edited image carry it out: is the requested change visible, on the right object or region, with the "
        "requested attributes (colour, material, count, position, style)? Judge only the instruction here, not "
        'image quality or unrelated changes. Answer "yes" when the instruction was carried out. Score: 5 = fully '
        "and precisely; 4 = with a small deviation; 3 = partly; 2 = attempted but mostly wrong; 1 = barely "
        "related; 0 = no visible attempt, or the opposite of what was asked."
    ),
    images=("source", "edit"),
)
EDIT_PRESERVING = JudgeQuestion(
    name="real_edit_preserving_v1",
    question=(
        'The edited image was made from the source image by following this instruction: "{instruction}". Look '
        "only at what the instruction does not ask to change: the other objects, people and their identity, the "
        "background, the layout and the fine details (for a global or style edit: the content and composition "
        "of the scene). Are they kept as in the source image? Do not judge whether the instruction was carried "
        'out. Answer "yes" when everything the instruction does not mention is preserved. Score: 5 = nothing '
        "unintended changed; 4 = tiny unintended changes; 3 = noticeable unintended changes to minor parts; "
        "2 = unintended changes to main parts; 1 = little of the source is left; 0 = a different image."
    ),
    images=("source", "edit"),
)
EDIT_QUALITY = JudgeQuestion(
    name="real_edit_quality_v1",
    question=(
        "Judge this image on its own, as a picture: is it sharp and clear, free of artefacts (distortions, smears, "
        "duplicated or malformed objects or body parts, broken textures, noise), with natural lighting, "
        'proportions and colours for its style? Answer "yes" when it looks natural and has no visible artefact. '
        "Score: 5 = flawless; 4 = a tiny flaw; 3 = visible but limited flaws; 2 = clear artefacts; 1 = mostly "
        "broken; 0 = unrecognisable."
    ),
    images=("edit",),
)
REAL_EDIT_QUESTIONS = {"following": EDIT_FOLLOWING, "preserving": EDIT_PRESERVING, "quality": EDIT_QUALITY}
