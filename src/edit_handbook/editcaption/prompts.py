"""The prompt templates of the instruction writer: one place, versioned.

Training (`sft_data`), inference (`describe_edit`), the synthesis engine and the Space all build their
messages here, so a model is always asked exactly what it was trained on. Changing any text below changes
what a fine-tuned model expects: bump `PROMPT_VERSION` (it is recorded in run info and dataset cards).

Three tasks:
- `caption`: one imperative editing instruction (EditCaption, arXiv 2604.08213).
- `rectify`: SuperEdit's four-aspect description of the change (global layout, local objects, details, style;
  arXiv 2505.02370), which must fit CLIP's 77 tokens, so that an open fine-tuned VLM can replace GPT-4o as
  SuperEdit's rectifier. The original (possibly wrong) instruction is shown as a hint, as SuperEdit does.
- `describe`: one image, every object in it (a dense first stage that teaches a tiny model from scratch to see
  the synthetic scenes, as a pretrained VLM already can before EditCaption's SFT).

Both images of a pair are always given labelled and in the same order, source first, so "left"/"right" and
"before"/"after" can never be read the wrong way round.
"""

from __future__ import annotations

from dataclasses import dataclass


PROMPT_VERSION = "editcaption-prompts-v2"
SOURCE_LABEL = "Source image:"
EDITED_LABEL = "Edited image:"
# Short on purpose: every prompt token dilutes the attention a small model pays to the image tokens.
SYSTEM_PROMPT = "You write image-editing instructions. Directions are as seen by the viewer."
# CLIP's context, counting its begin and end tokens: SuperEdit's limit for rectified instructions.
CLIP_MAX_TOKENS = 77


@dataclass(frozen=True)
class TaskPrompt:
    """What the model is asked for one task, and how many new tokens an answer may need."""

    name: str
    request: str
    max_new_tokens: int
    needs_instruction: bool = False
    num_images: int = 2


TASKS: dict[str, TaskPrompt] = {
    "caption": TaskPrompt(
        name="caption",
        request="Write the instruction that turns the source image into the edited image.",
        max_new_tokens=48,
    ),
    "rectify": TaskPrompt(
        name="rectify",
        request=(
            "Claimed edit: {instruction} It may be wrong. Describe the real change: the correct instruction, then "
            "layout, objects, details and style, in under 77 CLIP tokens."
        ),
        max_new_tokens=96,
        needs_instruction=True,
    ),
    "describe": TaskPrompt(
        name="describe",
        request="List every object: size, colour, pattern, shape, row and column.",
        max_new_tokens=64,
        num_images=1,
    ),
}


def get_task(task: str) -> TaskPrompt:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return TASKS[task]


def user_request(task: str, instruction: str | None = None) -> str:
    """The task's request text; `rectify` needs the instruction being rectified."""
    prompt = get_task(task)
    if prompt.needs_instruction:
        if not instruction:
            raise ValueError(f"task {task!r} needs the original instruction to rectify (got {instruction!r})")
        return prompt.request.format(instruction=instruction.strip())
    return prompt.request


def prompt_messages(task: str, instruction: str | None = None) -> list[dict]:
    """System + user turns with two labelled image placeholders, source first; fill them with [source, edited].

    `describe` shows one unlabelled image."""
    if get_task(task).num_images == 1:
        return [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_request(task)}]},
        ]
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": SOURCE_LABEL},
                {"type": "image"},
                {"type": "text", "text": EDITED_LABEL},
                {"type": "image"},
                {"type": "text", "text": user_request(task, instruction)},
            ],
        },
    ]


def completion_messages(answer: str) -> list[dict]:
    """The assistant turn: the answer the model learns to write (and the only tokens with a loss)."""
    return [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]


def prompt_texts() -> list[str]:
    """Every fixed text the prompts use, e.g. to train a small tokenizer that covers them."""
    return [SYSTEM_PROMPT, SOURCE_LABEL, EDITED_LABEL, *(task.request for task in TASKS.values())]
