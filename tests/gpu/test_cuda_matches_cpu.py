"""On a CUDA device the tiny models compute what they compute on CPU (skipped without CUDA).

Run on a lent GPU with `python -m pytest tests/gpu` after `bash benchmarks/install_gpu_wheels.sh`.
"""

import pytest
import torch
from PIL import Image

from edit_handbook.data.synthetic import make_pair
from edit_handbook.models import load_instruct_pix2pix, load_vlm


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _two_image_inputs(processor):
    row = make_pair(0, image_size=64)
    content = [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Describe the edit."}]
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    return processor(text=[text], images=[[row["source_image"], row["target_image"]]], return_tensors="pt")


def test_tiny_qwen3_vl_logits_match_cpu(tiny_qwen3_vl_path):
    model, processor = load_vlm(str(tiny_qwen3_vl_path), dtype=torch.float32)
    inputs = _two_image_inputs(processor)
    with torch.no_grad():
        cpu = model(**inputs).logits
        gpu = model.to("cuda")(**{k: v.to("cuda") for k, v in inputs.items()}).logits.cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_tiny_instruct_pix2pix_edit_matches_cpu(tiny_ip2p_path):
    pipe = load_instruct_pix2pix(str(tiny_ip2p_path), dtype=torch.float32)
    image = Image.new("RGB", (32, 32), (200, 40, 40))
    kwargs = {"prompt": "make it blue", "image": image, "num_inference_steps": 3, "output_type": "np"}
    cpu = pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(0)).images
    gpu = pipe.to("cuda")(**kwargs, generator=torch.Generator("cpu").manual_seed(0)).images
    assert abs(gpu - cpu).max() < 2e-3
