"""Prefix-shared DPO: each pair's prompt (both images, vision tower included) runs once for both answers.

In an EditCaption preference batch the prompt with its two images is most of the tokens, and TRL's DPO forward
runs it twice, once before the chosen and once before the rejected answer. Here each pair is one packed sequence

    [prompt[:-1]] [prompt[-1], chosen] [copy of prompt[-1], rejected] [padding]
     shared         chosen block         rejected block

with a block attention mask (a token sees the shared prefix and, causally, its own block: the answers never see
each other) and the multimodal rope positions (Qwen3-VL, Qwen2.5-VL) of the unshared sequences: the prefix and
the chosen block keep theirs, the rejected block reuses the chosen block's (both follow the same prompt). The
copied last prompt token gives the rejected answer's first token its own predecessor. Every answer token then has exactly the
keys, values and positions it has in TRL's unshared sequence, so its log-prob (and gradient) is the same up to
float summation order.

TRL's loss code runs unchanged: the collator also emits an unshared "view" (`input_ids`, `attention_mask`,
`completion_mask` with 2 x pairs rows: the prompt's last token, then the answer), and hooks on the model turn the
view's call into the packed one and the packed per-token outputs back into the view's layout.

The layout functions are pure (lists and tensors in, tensors out); the model glue is at the bottom.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from trl.data_utils import apply_chat_template, is_conversational, prepare_multimodal_messages
from trl.trainer.dpo_trainer import DataCollatorForVisionPreference


logger = logging.getLogger(__name__)

PAD, PREFIX, CHOSEN, REJECTED = -1, 0, 1, 2  # block of each packed column
# Packed tensors the collator adds for the hooks (popped before the model sees them).
PACKED_IDS, PACKED_BLOCKS, PACKED_MM_TYPES, VIEW_INDEX = (
    "shared_input_ids",
    "shared_blocks",
    "shared_mm_token_type_ids",
    "shared_view_index",
)
PACKED_KEYS = (PACKED_IDS, PACKED_BLOCKS, PACKED_MM_TYPES, VIEW_INDEX)
SUPPORTED_MODEL_TYPES = ("qwen3_vl", "qwen2_5_vl")  # rope positions tested against the unshared forward
SUPPORTED_ATTENTION = ("sdpa", "eager")  # take an arbitrary 4D mask; flash / flex kernels do not


# Layout (pure functions)


@dataclass
class PackedPairs:
    """One packed row per pair and the unshared view TRL's loss reads (rows: chosen of every pair, then rejected)."""

    input_ids: torch.Tensor  # (pairs, L)
    blocks: torch.Tensor  # (pairs, L): PAD, PREFIX, CHOSEN or REJECTED
    mm_token_type_ids: torch.Tensor | None  # (pairs, L), 0 on the answers
    view_ids: torch.Tensor  # (2 * pairs, V): last prompt token, answer, padding
    view_mask: torch.Tensor  # (2 * pairs, V): 1 on the last prompt token and the answer
    view_completion_mask: torch.Tensor  # (2 * pairs, V): 1 on the answer
    view_index: torch.Tensor  # (2 * pairs, V): packed column of each view token (0 on padding)


def pack_pairs(
    prompts: list[list[int]],
    chosens: list[list[int]],
    rejecteds: list[list[int]],
    *,
    pad_token_id: int,
    prompt_mm_types: list[list[int]] | None = None,
) -> PackedPairs:
    """Packed rows [prompt[:-1] | prompt[-1] chosen | prompt[-1] rejected | pad] and their unshared view."""
    pairs = len(prompts)
    if not (pairs == len(chosens) == len(rejecteds)) or pairs == 0:
        raise ValueError(
            f"need one chosen and one rejected answer per prompt, got {pairs}/{len(chosens)}/{len(rejecteds)}"
        )
    rows, blocks, types = [], [], []
    view_rows: list[list[int]] = [[] for _ in range(2 * pairs)]
    view_index: list[list[int]] = [[] for _ in range(2 * pairs)]
    for b, (prompt, chosen, rejected) in enumerate(zip(prompts, chosens, rejecteds)):
        if not prompt:
            raise ValueError(f"pair {b} has an empty prompt: an answer needs a prompt token before it")
        lead = prompt[-1]
        row = [*prompt, *chosen, lead, *rejected]
        rows.append(row)
        blocks.append([PREFIX] * (len(prompt) - 1) + [CHOSEN] * (1 + len(chosen)) + [REJECTED] * (1 + len(rejected)))
        if prompt_mm_types is not None:
            types.append([*prompt_mm_types[b], *[0] * (len(row) - len(prompt))])
        chosen_start, rejected_start = len(prompt) - 1, len(prompt) + len(chosen)
        for view, start, answer in ((b, chosen_start, chosen), (pairs + b, rejected_start, rejected)):
            view_rows[view] = [lead, *answer]
            view_index[view] = list(range(start, start + 1 + len(answer)))
    length, view_length = max(map(len, rows)), max(map(len, view_rows))

    def padded(values: list[list[int]], size: int, fill: int) -> torch.Tensor:
        return torch.tensor([v + [fill] * (size - len(v)) for v in values], dtype=torch.long)

    view_mask = padded([[1] * len(v) for v in view_rows], view_length, 0)
    view_completion = view_mask.clone()
    view_completion[:, 0] = 0
    return PackedPairs(
        input_ids=padded(rows, length, pad_token_id),
        blocks=padded(blocks, length, PAD),
        mm_token_type_ids=padded(types, length, 0) if prompt_mm_types is not None else None,
        view_ids=padded(view_rows, view_length, pad_token_id),
        view_mask=view_mask,
        view_completion_mask=view_completion,
        view_index=padded(view_index, view_length, 0),
    )


def block_attention_mask(blocks: torch.Tensor) -> torch.Tensor:
    """(pairs, 1, L, L) bool, True where a query may attend: causal, prefix or own block, never padding.

    Padding sees only itself: no row is empty (an all-masked row gives NaN in attention).
    """
    length = blocks.size(1)
    causal = torch.ones(length, length, dtype=torch.bool, device=blocks.device).tril()
    query, key = blocks[:, :, None], blocks[:, None, :]
    visible = causal & (query != PAD) & (key != PAD) & ((key == PREFIX) | (key == query))
    return (visible | torch.eye(length, dtype=torch.bool, device=blocks.device))[:, None]


def shared_position_ids(chosen_view_positions: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Rope positions of the packed rows from those of [prefix, chosen block] (e.g. (3, pairs, L) for M-RoPE).

    The rejected block takes the chosen block's positions: its k-th token (0: the copied last prompt token) is at
    the last prompt token's position + k, as right after the prompt in the unshared sequence. Padding gets 0.
    """
    is_chosen, is_rejected = blocks == CHOSEN, blocks == REJECTED
    lead_column = is_chosen.int().argmax(dim=1)  # the chosen block starts with the last prompt token
    lead = chosen_view_positions.gather(-1, lead_column[:, None].expand(*chosen_view_positions.shape[:-1], 1))
    offset = is_rejected.long().cumsum(dim=1) - 1
    positions = torch.where(is_rejected, lead + offset, chosen_view_positions)
    return positions.masked_fill(blocks == PAD, 0)


def pack_labels(view_labels: torch.Tensor, view_index: torch.Tensor, length: int) -> torch.Tensor:
    """Packed labels (pairs, L): each scored view token's label at its packed column, -100 elsewhere."""
    pairs = view_labels.size(0) // 2
    labels = view_labels.new_full((pairs, length), -100)
    scored = view_labels != -100
    rows = torch.arange(2 * pairs, device=view_labels.device)[:, None].expand_as(view_index) % pairs
    labels[rows[scored], view_index[scored]] = view_labels[scored]
    return labels


def unpack_shifted(values: torch.Tensor, view_index: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """Per-token outputs of the packed rows (pairs, L - 1, ...), entry i for token i + 1, in the view's layout.

    `scored` (2 * pairs, V - 1) marks the view tokens that had a label; the others are 0 (False), as the fused LM
    head gives for unlabelled tokens (TRL sums the log-probs without masking).
    """
    pairs = values.size(0)
    rows = torch.arange(view_index.size(0), device=values.device)[:, None] % pairs
    picked = values[rows, (view_index[:, 1:] - 1).clamp(min=0)]
    mask = scored.view(*scored.shape, *[1] * (picked.dim() - 2))
    return torch.where(mask, picked, torch.zeros((), dtype=picked.dtype, device=picked.device))


def unpack_tokens(values: torch.Tensor, view_index: torch.Tensor) -> torch.Tensor:
    """Per-token outputs (pairs, L, ...) (e.g. logits) at the view's tokens: (2 * pairs, V, ...)."""
    rows = torch.arange(view_index.size(0), device=values.device)[:, None] % values.size(0)
    return values[rows, view_index]


# Collator


class SharedPrefixPreferenceCollator(DataCollatorForVisionPreference):
    """TRL's vision-preference collator, emitting each pair's prompt and images once (`prefix_sharing=True`).

    Same chat template, tokenisation and image processing as TRL's; `max_length` truncates each answer as TRL's
    truncation of [prompt, answer] would. With `prefix_sharing=False` it is TRL's collator.
    """

    def __init__(self, processor, max_length: int | None = None, *, prefix_sharing: bool = True, **kwargs):
        super().__init__(processor=processor, max_length=max_length, **kwargs)
        self.prefix_sharing = prefix_sharing

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.prefix_sharing:
            return super().torch_call(examples)
        if "image" in examples[0]:
            for example in examples:
                example["images"] = [example.pop("image")]
        images = [example["images"] for example in examples]
        if all(image_list == [] for image_list in images):
            images = None
        if is_conversational(examples[0]):
            for example in examples:
                example["prompt"] = prepare_multimodal_messages(example["prompt"], images=example["images"])
                example["chosen"] = prepare_multimodal_messages(example["chosen"])
                example["rejected"] = prepare_multimodal_messages(example["rejected"])
            examples = [apply_chat_template(example, self.processor) for example in examples]
        prompts = self.processor(
            images=images,
            text=[example["prompt"] for example in examples],
            padding=True,
            padding_side="left",
            return_tensors=self.return_tensors,
            add_special_tokens=False,
        )
        tokenizer = self.processor.tokenizer
        answers = {
            key: tokenizer([example[key] for example in examples], add_special_tokens=False)["input_ids"]
            for key in ("chosen", "rejected")
        }
        prompt_rows = [ids[mask.bool()].tolist() for ids, mask in zip(prompts["input_ids"], prompts["attention_mask"])]
        types = prompts.get("mm_token_type_ids")
        if types is not None:
            types = [t[mask.bool()].tolist() for t, mask in zip(types, prompts["attention_mask"])]
        if self.max_length is not None:
            for index, prompt in enumerate(prompt_rows):
                if len(prompt) >= self.max_length:
                    raise ValueError(
                        f"pair {index} of the batch: the prompt alone has {len(prompt)} tokens, max_length is "
                        f"{self.max_length}; raise max_length (or set it to null) or lower max_pixels"
                    )
            for key in answers:
                answers[key] = [a[: self.max_length - len(p)] for a, p in zip(answers[key], prompt_rows)]
        pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        packed = pack_pairs(
            prompt_rows, answers["chosen"], answers["rejected"], pad_token_id=pad_token_id, prompt_mm_types=types
        )
        output = {k: v for k, v in prompts.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
        output |= {
            "input_ids": packed.view_ids,
            "attention_mask": packed.view_mask,
            "completion_mask": packed.view_completion_mask,
            PACKED_IDS: packed.input_ids,
            PACKED_BLOCKS: packed.blocks,
            VIEW_INDEX: packed.view_index,
        }
        if packed.mm_token_type_ids is not None:
            output[PACKED_MM_TYPES] = packed.mm_token_type_ids
        return output


# Model glue


def _base_model(model):
    """The transformers model under PEFT (and accelerate) wrappers."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def unsupported_reasons(model, args=None) -> list[str]:
    """Why prefix sharing cannot run with `model` and training `args` (empty: it can)."""
    config = _base_model(model).config
    reasons = []
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        reasons.append(
            f"model type {config.model_type!r} (supported: {', '.join(SUPPORTED_MODEL_TYPES)}; its multimodal rope "
            "positions are what the packed rows reproduce)"
        )
    text_config = config.get_text_config()
    if getattr(text_config, "num_experts", 0) or "moe" in config.model_type:
        reasons.append("a mixture-of-experts model (its router load-balancing loss reads a 2D attention mask)")
    attention = getattr(config, "_attn_implementation", None)
    if attention not in SUPPORTED_ATTENTION:
        reasons.append(
            f"attn_implementation {attention!r} (the block mask needs {' or '.join(SUPPORTED_ATTENTION)}; flash and "
            "flex kernels take no arbitrary 4D mask)"
        )
    if args is not None:
        if getattr(args, "padding_free", False):
            reasons.append("padding_free (it packs rows its own way; set padding_free: false)")
        if getattr(args, "torch_compile", False):
            reasons.append("torch_compile (the block mask's shape changes every batch; untested)")
        if getattr(args, "use_liger_kernel", False) and (args.liger_kernel_config or {}).get(
            "fused_linear_cross_entropy"
        ):
            reasons.append("Liger's fused linear cross-entropy (it replaces the fused LM head the hooks unpack)")
    return reasons


def resolve_prefix_sharing(requested: bool | None, model, args=None) -> bool:
    """`None`: on where supported (a log line says why not); `True`: on, or a clear error naming the conflict."""
    reasons = unsupported_reasons(model, args)
    if requested is False:
        return False
    if reasons:
        message = "prefix sharing cannot run with " + "; ".join(reasons)
        if requested:
            raise ValueError(message + ". Set prefix_sharing: false (TRL's unshared forward) or change the above.")
        logger.info("%s: using TRL's unshared forward", message)
        return False
    return True


def _packed_attention_mask(blocks: torch.Tensor, config, dtype: torch.dtype) -> torch.Tensor:
    mask = block_attention_mask(blocks)
    if config._attn_implementation == "eager":  # eager adds the mask to the scores
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    return mask


def packed_model_kwargs(model, kwargs: dict) -> tuple[dict, dict]:
    """The model's kwargs for the packed rows, from a view call's kwargs; and what unpacking needs."""
    kwargs = dict(kwargs)
    ids, blocks, view_index = kwargs.pop(PACKED_IDS), kwargs.pop(PACKED_BLOCKS), kwargs.pop(VIEW_INDEX)
    mm_types = kwargs.pop(PACKED_MM_TYPES, None)
    kwargs.pop("input_ids"), kwargs.pop("attention_mask", None), kwargs.pop("mm_token_type_ids", None)
    base = _base_model(model)
    inner = getattr(base, "model", base)
    if mm_types is None:
        mm_types = torch.zeros_like(ids)
    chosen_view = ((blocks == PREFIX) | (blocks == CHOSEN)).long()
    with torch.no_grad():
        positions, _ = inner.get_rope_index(
            ids, mm_token_type_ids=mm_types, image_grid_thw=kwargs.get("image_grid_thw"), attention_mask=chosen_view
        )
    view_labels = kwargs.pop("labels", None)
    packed = {
        **kwargs,
        "input_ids": ids,
        "attention_mask": _packed_attention_mask(blocks, base.config, base.get_input_embeddings().weight.dtype),
        "position_ids": shared_position_ids(positions, blocks),
        "mm_token_type_ids": mm_types,
    }
    if view_labels is not None:
        packed["labels"] = pack_labels(view_labels, view_index, ids.size(1))
    return packed, {"view_index": view_index, "view_labels": view_labels}


_PER_TOKEN_FIELDS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def unpack_output(output, view_index: torch.Tensor, view_labels: torch.Tensor | None):
    """The packed forward's output with its per-token fields in the view's layout (TRL's fused head or logits)."""
    if getattr(output, "log_probs", None) is not None:
        scored = view_labels[:, 1:] != -100
        for name in _PER_TOKEN_FIELDS:
            value = getattr(output, name, None)
            if value is not None:
                setattr(output, name, unpack_shifted(value, view_index, scored))
        if getattr(output, "label_mask", None) is not None:
            output.label_mask = scored
    elif getattr(output, "logits", None) is not None:
        output.logits = unpack_tokens(output.logits, view_index)
    return output


class PrefixSharingHooks:
    """Forward pre-/post-hooks on the model a trainer calls: a call carrying packed keys runs packed.

    Calls without them (generation, evaluation suites) are untouched. Register on the outermost module the trainer
    calls (the PEFT model, not the base model: PEFT calls the base model's `forward` directly, skipping hooks).
    """

    def __init__(self, model):
        self._pending: dict | None = None
        self.handles = [
            model.register_forward_pre_hook(self._before, with_kwargs=True),
            model.register_forward_hook(self._after),
        ]

    def _before(self, module, args, kwargs):
        self._pending = None  # a call that raised leaves nothing behind for the next one
        if PACKED_IDS not in kwargs:
            return None
        if args:
            raise TypeError("prefix sharing: call the model with keyword arguments only (as TRL does)")
        kwargs, self._pending = packed_model_kwargs(module, kwargs)
        return args, kwargs

    def _after(self, module, args, output):
        unpack, self._pending = self._pending, None
        return None if unpack is None else unpack_output(output, **unpack)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


@contextlib.contextmanager
def prefix_sharing_hooks(model, enabled: bool = True) -> Iterator[None]:
    """The hooks on `model` for the duration (the reference pass)."""
    hooks = PrefixSharingHooks(model) if enabled else None
    try:
        yield
    finally:
        if hooks is not None:
            hooks.remove()
