"""Prefix sharing on a CUDA device: the packed forward equals the unshared one in fp32 and under bf16 autocast,
and with Liger's layer kernels patched in (skipped without CUDA, or without liger-kernel for that case).

Run on a lent GPU with `python -m pytest tests/gpu` after `bash benchmarks/install_gpu_wheels.sh`.
"""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.prefix_sharing import SharedPrefixPreferenceCollator, prefix_sharing_hooks
from edit_handbook.editcaption.reference_pass import fused_log_probs, sequence_log_probs
from edit_handbook.models import load_vlm


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _log_probs(model, processor, rows, sharing, autocast):
    batch = SharedPrefixPreferenceCollator(processor, prefix_sharing=sharing)(copy.deepcopy(rows))
    batch = {k: v.to("cuda") for k, v in batch.items()}
    with (
        fused_log_probs(model),
        prefix_sharing_hooks(model, enabled=sharing),
        torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast),
    ):
        return sequence_log_probs(model, batch)[0].float().cpu()


@pytest.mark.parametrize(
    "liger,autocast", [(False, False), (False, True), (True, True)], ids=["fp32", "bf16", "bf16-liger"]
)
def test_shared_log_probs_match_unshared_on_cuda(tiny_small_vocab_qwen3_vl_path, liger, autocast):
    if liger and importlib.util.find_spec("liger_kernel") is None:
        pytest.skip("liger-kernel is not installed")
    model, processor = load_vlm(str(tiny_small_vocab_qwen3_vl_path), dtype=torch.float32)
    model.to("cuda")
    if liger:
        from transformers.integrations.liger import apply_liger_kernel

        apply_liger_kernel(model, {"fused_linear_cross_entropy": False})  # as models.acceleration does
    examples = to_preference_examples(preference_pairs(generate_dataset(4, image_size=64)))
    rows = [examples[i] for i in range(4)]
    unshared = _log_probs(model, processor, rows, sharing=False, autocast=autocast)
    shared = _log_probs(model, processor, rows, sharing=True, autocast=autocast)
    tolerance = 0.05 * unshared.abs().max().item() / 64 if autocast else 1e-3  # bf16: ~3 significant digits
    torch.testing.assert_close(shared, unshared, atol=tolerance, rtol=0)
