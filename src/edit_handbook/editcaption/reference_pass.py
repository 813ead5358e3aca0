"""The reference pass: each pair's reference log-probs and hardness, computed once, stored, resumable.

TRL refuses `precompute_ref_log_probs` for image data, so DPO on a VLM keeps a second model in memory and
runs it on every step. This pass runs the frozen reference (the SFT checkpoint) once over the preference
pairs, in batches, writing through the foundation's `ShardedWriter` keyed by row id: a killed run resumes
where it stopped and every row is stored once. Training then reads the stored columns and holds no
reference model at all.

- Log-probs come from TRL's own fused LM head, the code path the DPO loss uses, so at step 0 the policy's
  log-probs equal the stored ones (the trainer checks this). With prefix sharing each pair's prompt runs once.
- Under DeepSpeed ZeRO-3 every forward gathers parameters from all ranks, so every rank runs the same number
  of batches (`pending_for_rank(pad=True)`; padded repeats are skipped by the writer).
- The folder's fingerprint covers model, data, processor settings and dtype: a stale store is refused.

Stored per row: summed and length-normalised log-probs of chosen and rejected; `attach_reference` adds the
gap `r_i` and its percentile rank, the hardness, over the set (`hae.percentile_rank`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import PartialState
from transformers import PreTrainedModel, ProcessorMixin
from trl.trainer.utils import add_fused_lm_head

from edit_handbook.data import schema
from edit_handbook.data.writer import ShardedWriter, load_shards
from edit_handbook.distributed import is_zero3_partitioned, zero3_inference_engine
from edit_handbook.editcaption import hae
from edit_handbook.editcaption.prefix_sharing import (
    SharedPrefixPreferenceCollator,
    prefix_sharing_hooks,
    resolve_prefix_sharing,
)
from edit_handbook.editcaption.prompts import PROMPT_VERSION


logger = logging.getLogger(__name__)

REF_CHOSEN, REF_REJECTED = "ref_chosen_logps", "ref_rejected_logps"  # TRL's names: its loss reads these
REF_CHOSEN_NORM, REF_REJECTED_NORM = "ref_chosen_logps_norm", "ref_rejected_logps_norm"
REF_GAP, REF_HARDNESS = "ref_gap", "ref_hardness"
REFERENCE_COLUMNS = (REF_CHOSEN, REF_REJECTED, REF_CHOSEN_NORM, REF_REJECTED_NORM, REF_GAP, REF_HARDNESS)
ROW_FEATURES = datasets.Features(
    {
        schema.ID: datasets.Value("string"),
        REF_CHOSEN: datasets.Value("float64"),
        REF_REJECTED: datasets.Value("float64"),
        "ref_chosen_tokens": datasets.Value("int32"),
        "ref_rejected_tokens": datasets.Value("int32"),
    }
)
FINGERPRINT_FILE = "reference.json"
_EDGE_BYTES = 1 << 20


def _file_digest(path: Path) -> str:
    """Name, size and the first and last MiB: cheap for 100 GB of weights, and any re-save changes it."""
    digest = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode())
    with open(path, "rb") as file:
        digest.update(file.read(_EDGE_BYTES))
        file.seek(max(0, path.stat().st_size - _EDGE_BYTES))
        digest.update(file.read(_EDGE_BYTES))
    return digest.hexdigest()


def model_fingerprint(name_or_path: str | Path) -> str:
    """A local checkpoint folder by its config and weight files; a Hub id by its name (pin `model_revision`)."""
    folder = Path(name_or_path)
    if not folder.is_dir():
        return f"hub:{name_or_path}"
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") or p.name == "config.json")
    if not files:
        raise FileNotFoundError(f"{folder} has no config.json or weight files: not a model checkpoint")
    return hashlib.sha256("".join(_file_digest(p) for p in files).encode()).hexdigest()


def data_fingerprint(examples: datasets.Dataset) -> str:
    """Every row's id, chosen and rejected text and labels, in order (images are identified by the row id)."""
    digest = hashlib.sha256(PROMPT_VERSION.encode())
    for column in (schema.ID, "chosen", "rejected", schema.ERROR_TYPE, schema.SEVERITY):
        digest.update(json.dumps(list(examples[column]), sort_keys=True).encode())
    return digest.hexdigest()


def reference_fingerprint(
    model_fp: str, examples: datasets.Dataset, processor: ProcessorMixin, dtype, max_length: int | None = None
) -> str:
    image_processor = getattr(processor, "image_processor", None)
    settings = {
        "max_length": max_length,
        "model": model_fp,
        "data": data_fingerprint(examples),
        "min_pixels": getattr(image_processor, "min_pixels", None),
        "max_pixels": getattr(image_processor, "max_pixels", None),
        "dtype": str(dtype),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


@contextlib.contextmanager
def fused_log_probs(model: PreTrainedModel) -> Iterator[PreTrainedModel]:
    """TRL's fused LM head on `model` for the duration; the model's own forward is restored afterwards."""
    own_forward = model.__dict__.get("forward")
    add_fused_lm_head(model)
    try:
        yield model
    finally:
        if own_forward is None:
            del model.forward
        else:
            model.forward = own_forward


def sequence_log_probs(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed completion log-probs and completion lengths of a collated preference batch ([chosen; rejected]).

    `model` must carry TRL's fused LM head (`fused_log_probs`); the reduction is the one TRL's DPO loss uses.
    """
    completion_mask = batch["completion_mask"]
    inputs = {k: v for k, v in batch.items() if k != "completion_mask"}
    labels = batch["input_ids"].masked_fill(completion_mask == 0, -100)
    with torch.no_grad():
        per_token = model(**inputs, labels=labels, use_cache=False, fused_lm_head=True).log_probs
    shift_mask = completion_mask[:, 1:]
    return per_token[:, -shift_mask.size(1) :].sum(dim=1), shift_mask.sum(dim=1)


@contextlib.contextmanager
def _forward_model(model: PreTrainedModel, batch_size: int) -> Iterator[torch.nn.Module]:
    """The model ready for inference here: a DeepSpeed engine under ZeRO-3 (gathers shards), else on-device.

    The engine is destroyed afterwards, which takes its hooks off `model`: the DPO trainer wraps it next.
    """
    if not is_zero3_partitioned(model):
        yield model.to(PartialState().device)
        return
    engine = zero3_inference_engine(model, batch_size)
    try:
        yield engine
    finally:
        engine.destroy()


def run_reference_pass(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    examples: datasets.Dataset,
    output_dir: str | Path,
    *,
    fingerprint: str,
    batch_size: int = 8,
    shard_size: int = 256,
    overwrite: bool = False,
    max_length: int | None = None,
    prefix_sharing: bool | None = None,
) -> datasets.Dataset:
    """Reference log-probs of every example, one row per id in `examples` order; resumes `output_dir`.

    `max_length` must be the trainer's (`DPOConfig.max_length`): both collate with TRL's vision collator, which
    truncates the joined sequence to it, so the stored log-probs cover exactly the tokens training sees.
    `prefix_sharing` (None: where supported) runs each pair's prompt once (`prefix_sharing.py`).
    """
    ids = list(examples[schema.ID])
    position = {row_id: index for index, row_id in enumerate(ids)}
    sharing = resolve_prefix_sharing(prefix_sharing, model)
    collator = SharedPrefixPreferenceCollator(processor, max_length, prefix_sharing=sharing)
    was_training = model.training
    model.eval()
    with (
        fused_log_probs(model),
        prefix_sharing_hooks(model, enabled=sharing),
        ShardedWriter(
            output_dir,
            ROW_FEATURES,
            fingerprint=fingerprint,
            shard_size=shard_size,
            overwrite=overwrite,
            overwrite_flag="--reference_overwrite true",
        ) as writer,
        _forward_model(model, batch_size) as forward_model,
    ):
        device = PartialState().device
        own = writer.pending_for_rank(ids, pad=True)
        logger.info(
            "reference pass: %d of %d rows done, %d to compute on this rank", writer.num_done, len(ids), len(own)
        )
        for start in range(0, len(own), batch_size):
            chunk = own[start : start + batch_size]
            batch = collator([examples[position[row_id]] for row_id in chunk])
            sums, lengths = sequence_log_probs(forward_model, {k: v.to(device) for k, v in batch.items()})
            chosen, rejected = sums.double().cpu().chunk(2)
            chosen_len, rejected_len = lengths.cpu().chunk(2)
            for k, row_id in enumerate(chunk):
                writer.write(
                    {
                        schema.ID: row_id,
                        REF_CHOSEN: float(chosen[k]),
                        REF_REJECTED: float(rejected[k]),
                        "ref_chosen_tokens": int(chosen_len[k]),
                        "ref_rejected_tokens": int(rejected_len[k]),
                    }
                )
    model.train(was_training)
    PartialState().wait_for_everyone()
    rows = load_shards(output_dir, order=ids)
    if PartialState().is_main_process:
        Path(output_dir, FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint, "rows": len(ids)}))
    return rows


def attach_reference(examples: datasets.Dataset, rows: datasets.Dataset) -> datasets.Dataset:
    """`examples` plus the reference columns; hardness is the gap's percentile rank over these examples."""
    if list(rows[schema.ID]) != list(examples[schema.ID]):
        raise ValueError("reference rows and examples differ in ids or order; rerun the reference pass on this data")
    chosen, rejected = np.asarray(list(rows[REF_CHOSEN])), np.asarray(list(rows[REF_REJECTED]))
    chosen_norm = chosen / np.maximum(np.asarray(list(rows["ref_chosen_tokens"])), 1)
    rejected_norm = rejected / np.maximum(np.asarray(list(rows["ref_rejected_tokens"])), 1)
    gap = hae.reference_gap(chosen_norm, rejected_norm)
    columns = {
        REF_CHOSEN: chosen,
        REF_REJECTED: rejected,
        REF_CHOSEN_NORM: chosen_norm,
        REF_REJECTED_NORM: rejected_norm,
        REF_GAP: gap,
        REF_HARDNESS: hae.percentile_rank(gap),
    }
    out = examples.remove_columns([c for c in REFERENCE_COLUMNS if c in examples.column_names])
    for name, values in columns.items():
        out = out.add_column(name, values.tolist(), feature=datasets.Value("float64"))
    return out
