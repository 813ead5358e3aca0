"""Prompt templates of the synthesis engine's own tasks: judge, negatives, summarise; versioned.

The `caption` and `rectify` requests are the instruction writer's (`editcaption.prompts`), so a fine-tuned
captioner is asked exactly what it was trained on; they are not repeated here. Every synthesized row records
`prompt_version()`, which names both modules' versions: changing any text below means bumping
`SYNTH_PROMPT_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edit_handbook.editcaption import prompts as caption_prompts


SYNTH_PROMPT_VERSION = "synth-prompts-v1"
NEGATIVE_ATTRIBUTES = ("quantity", "position", "object", "colour")


def prompt_version() -> str:
    """The version written into every row and card: the captioner's prompts plus this module's."""
    return f"{caption_prompts.PROMPT_VERSION}+{SYNTH_PROMPT_VERSION}"


@dataclass(frozen=True)
class JudgeQuestion:
    """One question a VLM judge answers about an edit: a yes/no verdict and a 0..`max_score` score.

    `images` names what the judge sees, in order ("source", "target"); `{instruction}` in `question` is
    filled with the instruction under judgement. The evaluation suite adds its own questions (Real-Edit's
    following / preserving / quality) as more `JudgeQuestion`s for the same judge.
    """

    name: str
    question: str
    images: tuple[str, ...] = ("source", "target")
    max_score: int = 5


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

JUDGE_FORMAT = (
    "Answer with one JSON object and nothing else: "
    '{{"answer": "yes" or "no", "score": an integer from 0 to {max_score}, "reason": "one short sentence"}}.'
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
    labels = {"source": caption_prompts.SOURCE_LABEL, "target": caption_prompts.EDITED_LABEL}
    content: list[dict] = []
    for name in names:
        content += [{"type": "text", "text": labels[name]}, {"type": "image"}]
    return content


def _system() -> dict:
    return {"role": "system", "content": [{"type": "text", "text": caption_prompts.SYSTEM_PROMPT}]}


def judge_messages(question: JudgeQuestion, instruction: str) -> list[dict]:
    """The judge's turn; fill its image placeholders with the images `question.images` names, in order."""
    text = (
        question.question.format(instruction=instruction.strip())
        + " "
        + JUDGE_FORMAT.format(max_score=question.max_score)
    )
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


def judge_schema(max_score: int) -> dict:
    """JSON schema of a judge answer, for servers that constrain decoding to it."""
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "enum": ["yes", "no"]},
            "score": {"type": "integer", "minimum": 0, "maximum": max_score},
            "reason": {"type": "string"},
        },
        "required": ["answer", "score", "reason"],
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
