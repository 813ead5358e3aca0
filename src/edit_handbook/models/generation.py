"""The one batched-generation loop for image-text-to-text models: bucketing, prefetch and ZeRO-3 lock-step.

`describe_edit` (the captioner's instructions) and the local synthesis backend both generate through
`generate_batched`:
- Bucketing: prompts are grouped by (image count, answer budget) and sorted by size inside a group before they
  are cut into batches, so a batch pads little; answers come back in the caller's order.
- Left padding: generation appends on the right, so every row's prompt must end at the same column.
- Prefetch: the next batch is preprocessed (chat template, image processor) on a thread while the current one
  generates.
- ZeRO-3: each forward pass gathers parameter shards from every rank, so all ranks must run the same number of
  forward passes. `generate(synced_gpus=True)` keeps ranks stepping until the longest answer is done, and ranks
  with fewer batches than the busiest one run throw-away batches to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby

import torch
import torch.distributed as dist
from PIL import Image
from transformers import PreTrainedModel, ProcessorMixin
from transformers.integrations import is_deepspeed_zero3_enabled

from edit_handbook.models.images import model_ready


@dataclass
class Prompt:
    """Chat `messages` whose `{"type": "image"}` placeholders are filled by `images`, in order."""

    messages: list[dict]
    images: list[Image.Image] = field(default_factory=list)
    max_new_tokens: int = 64


def _rgb(image) -> Image.Image:
    return model_ready(image)  # RGB, padded out of aspect ratios the processor refuses


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _max_over_ranks(value: int, device: torch.device) -> int:
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def plan_batches(prompts: Sequence[Prompt], batch_size: int) -> list[list[int]]:
    """Indices grouped by (image count, answer budget), sorted by prompt size in a group, cut into batches."""

    def group(i: int) -> tuple[int, int]:
        return len(prompts[i].images), prompts[i].max_new_tokens

    def size(i: int) -> int:
        text = sum(len(part.get("text", "")) for m in prompts[i].messages for part in m["content"])
        return text + sum(image.width * image.height for image in prompts[i].images) // 256

    order = sorted(range(len(prompts)), key=lambda i: (*group(i), size(i)))
    members = [list(indices) for _, indices in groupby(order, key=group)]
    return [indices[s : s + batch_size] for indices in members for s in range(0, len(indices), batch_size)]


def processor_inputs(processor: ProcessorMixin, prompts: Sequence[Prompt], batch: Sequence[int]):
    """Left-padded model inputs of the prompts at `batch`."""
    texts = [
        processor.apply_chat_template(prompts[i].messages, add_generation_prompt=True, tokenize=False) for i in batch
    ]
    images = [[_rgb(image) for image in prompts[i].images] for i in batch]
    kwargs = {"images": images} if any(images) else {}
    return processor(text=texts, padding=True, padding_side="left", return_tensors="pt", **kwargs)


def generate_answers(
    model: PreTrainedModel, tokenizer, inputs, *, max_new_tokens: int, **generate_kwargs
) -> list[str]:
    """One `generate` call on prepared inputs; the new tokens of each row, decoded and stripped."""
    inputs = inputs.to(next(model.parameters()).device)
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **generate_kwargs
    )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def generate_batched(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[Prompt],
    *,
    batch_size: int = 8,
    prefetch: bool = True,
    do_sample: bool = False,
    synced_gpus: bool | None = None,
    on_batch_error: Callable[[list[int], Exception], None] | None = None,
    **generate_kwargs,
) -> list[str | None]:
    """One answer per prompt, in order (generated in buckets, see the module docstring).

    `synced_gpus` defaults to True under ZeRO-3 with several processes. With `on_batch_error`, a batch that fails
    (a bad image, an out-of-memory error) is reported there and its answers stay None; without it, it raises.
    """
    if synced_gpus is None:
        synced_gpus = is_deepspeed_zero3_enabled() and _distributed()
    device = next(model.parameters()).device
    batches = plan_batches(prompts, batch_size)
    num_batches = len(batches)
    if synced_gpus and _distributed():
        if not prompts:
            raise ValueError("under ZeRO-3 every rank must generate at least one answer (it runs throw-away batches)")
        num_batches = _max_over_ranks(num_batches, device)
    tokenizer = getattr(processor, "tokenizer", processor)
    answers: list[str | None] = [None] * len(prompts)
    if num_batches == 0:
        return answers

    def batch_at(index: int) -> list[int]:
        return batches[index] if index < len(batches) else batches[0]  # a throw-away batch keeps ZeRO-3 in step

    was_training = model.training
    model.eval()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool, torch.no_grad():

            def prepare(index: int):
                return pool.submit(processor_inputs, processor, prompts, batch_at(index))

            upcoming = prepare(0)
            for index in range(num_batches):
                current, has_next = upcoming, index + 1 < num_batches
                if prefetch and has_next:  # preprocess the next batch while this one generates
                    upcoming = prepare(index + 1)
                batch = batch_at(index)
                try:
                    texts = generate_answers(
                        model,
                        tokenizer,
                        current.result(),
                        max_new_tokens=prompts[batch[0]].max_new_tokens,
                        do_sample=do_sample,
                        synced_gpus=synced_gpus,
                        **generate_kwargs,
                    )
                    if index < len(batches):  # not a throw-away batch
                        for i, text in zip(batch, texts):
                            answers[i] = text
                except Exception as error:
                    if on_batch_error is None:
                        raise
                    on_batch_error(batch, error)
                if not prefetch and has_next:
                    upcoming = prepare(index + 1)
    finally:
        model.train(was_training)
    return answers
