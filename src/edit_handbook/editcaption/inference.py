"""`describe_edit`: ask an instruction writer what changed between source and edited images, in batches.

Uses the same prompt templates as training (`prompts`), left padding (generation appends on the right, so
every row's prompt must end at the same column) and greedy decoding unless told otherwise. Evaluation,
synthesis and the Space call this one function.

Under DeepSpeed ZeRO-3 each forward pass gathers parameter shards from every rank, so all ranks must run
the same number of forward passes: `generate(synced_gpus=True)` keeps ranks stepping until the longest
answer is done, and ranks with fewer batches than the busiest one run throw-away batches to keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin
from transformers.integrations import is_deepspeed_zero3_enabled

from edit_handbook.editcaption.prompts import get_task, prompt_messages


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _max_over_ranks(value: int, device: torch.device) -> int:
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def _as_rgb(image) -> Image.Image:
    return image if isinstance(image, Image.Image) and image.mode == "RGB" else image.convert("RGB")


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
    if synced_gpus is None:
        synced_gpus = is_deepspeed_zero3_enabled() and _distributed()
    device = next(model.parameters()).device
    num_batches = -(-len(sources) // batch_size)
    if synced_gpus and _distributed():
        if not sources:
            raise ValueError("under ZeRO-3 every rank must describe at least one pair (it runs throw-away batches)")
        num_batches = _max_over_ranks(num_batches, device)

    tokenizer = getattr(processor, "tokenizer", processor)
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        for batch_index in range(num_batches):
            start = batch_index * batch_size
            real = start < len(sources)
            rows = (
                range(start, min(start + batch_size, len(sources))) if real else range(min(batch_size, len(sources)))
            )
            texts = [
                processor.apply_chat_template(
                    prompt_messages(task, instructions[i] if instructions is not None else None),
                    add_generation_prompt=True,
                    tokenize=False,
                )
                for i in rows
            ]
            images = [[_as_rgb(sources[i]), _as_rgb(targets[i])] for i in rows]
            inputs = processor(text=texts, images=images, padding=True, padding_side="left", return_tensors="pt")
            inputs = inputs.to(device)
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens or prompt.max_new_tokens,
                do_sample=do_sample,
                synced_gpus=synced_gpus,
                pad_token_id=tokenizer.pad_token_id,
                **generate_kwargs,
            )
            if real:
                new_tokens = output[:, inputs["input_ids"].shape[1] :]
                answers += [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        model.train(was_training)
    return answers
