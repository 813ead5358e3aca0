"""On CUDA the inductor-compiled, channels-last SuperEdit step computes the plain step's loss (skipped without CUDA).

Run on a lent GPU with `python -m pytest tests/gpu` after `bash benchmarks/install_gpu_wheels.sh`.
"""

import copy

import pytest
import torch
from diffusers import DDPMScheduler
from tests.unit.test_speed_options import encoded_batch, new_step_loss, plain_step_loss, seed_with_mixed_dropout

from edit_handbook.models.acceleration import compile_in_place
from edit_handbook.superedit.model import load_editor


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _to(batch, device):
    return type(batch)(**{k: v.to(device) for k, v in vars(batch).items()})


def test_inductor_compiled_channels_last_step_matches_the_plain_step(tiny_ip2p_path):
    unet = load_editor(str(tiny_ip2p_path)).unet.eval()
    cuda = torch.device("cuda")
    scheduler, seed = DDPMScheduler(), seed_with_mixed_dropout()
    batch = _to(encoded_batch(unet.config.cross_attention_dim), cuda)
    plain = copy.deepcopy(unet).to(cuda)
    fast = copy.deepcopy(unet).to(cuda, memory_format=torch.channels_last)
    status = compile_in_place(fast, enabled=None, device=cuda)  # auto: on for CUDA, inductor
    assert status.startswith("torch.compile: on"), status
    plain_loss = plain_step_loss(plain, scheduler, batch, seed)
    fast_loss = new_step_loss(fast, scheduler, batch, seed)
    torch.testing.assert_close(fast_loss, plain_loss, atol=1e-4, rtol=1e-3)
