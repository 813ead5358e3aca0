"""`describe_edit`: ask an instruction writer what changed between source and edited images, in batches.

Uses the same prompt templates as training (`prompts`) and greedy decoding unless told otherwise; the batching
(bucketing, left padding, prefetch, ZeRO-3 lock-step) is `models.generation.generate_batched`, which the local
synthesis backend uses too. Evaluation, synthesis and the Space call this one function.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin

from edit_handbook.editcaption.prompts import get_task, prompt_messages
from edit_handbook.models.generation import Prompt, generate_batched


def describe_edit(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    sources: Sequence[Image.Image],
    targets: Sequence[Image.Image],
    task: str = "caption",
    *,
    instructions: Sequence[str] | None = None,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    do_sample: bool = False,
    synced_gpus: bool | None = None,
    **generate_kwargs,
) -> list[str]:
    """One answer per (source, target) pair, in order.

    `instructions` are the original instructions `rectify` corrects (one per pair). `max_new_tokens`
    defaults to the task's budget. `synced_gpus` defaults to True under ZeRO-3 with several processes.
    """
    prompt = get_task(task)
    if len(sources) != len(targets):
        raise ValueError(
            f"got {len(sources)} source images but {len(targets)} edited images; pass one of each per pair"
        )
    if instructions is not None and len(instructions) != len(sources):
        raise ValueError(f"got {len(instructions)} instructions for {len(sources)} pairs; pass one per pair")
    if prompt.needs_instruction and instructions is None:
        raise ValueError(f"task {task!r} rectifies existing instructions: pass `instructions`, one per pair")
    prompts = [
        Prompt(
            prompt_messages(task, instructions[i] if instructions is not None else None),
            [sources[i], targets[i]],
            max_new_tokens or prompt.max_new_tokens,
        )
        for i in range(len(sources))
    ]
    return generate_batched(
        model,
        processor,
        prompts,
        batch_size=batch_size,
        do_sample=do_sample,
        synced_gpus=synced_gpus,
        **generate_kwargs,
    )
