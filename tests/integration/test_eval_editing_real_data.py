"""The editing suite on real Real-Edit photos (../shared/data/real_edit_bench), tiny editor; skipped where absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from tests.synth_servers import ScriptedBackend

from edit_handbook.evaluation.configs import EditingEvaluationArguments
from edit_handbook.evaluation.editing import evaluate_editor
from edit_handbook.evaluation.metrics.tiny import tiny_clip
from edit_handbook.superedit.model import load_editor


BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real_edit_bench"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not (BENCH / "eval_instruct.json").is_file(), reason=f"Real-Edit subset not found at {BENCH}"),
]


def test_two_real_photos_all_seven_types(tiny_ip2p_path, model_cache_dir, tmp_path):
    settings = EditingEvaluationArguments(
        real_edit_max_images=2,
        edit_num_inference_steps=2,
        edit_resolution=48,
        edit_batch_size=7,
        edit_clip_model=str(tiny_clip(cache_dir=model_cache_dir)),
    )
    backend = ScriptedBackend(lambda request: '{"answer": "yes", "score": 5, "reason": "fine"}')
    result = evaluate_editor(
        load_editor(str(tiny_ip2p_path)),
        BENCH,
        backend,
        tmp_path,
        settings=settings,
        metrics=["clip_i"],
        progress=False,
    )
    assert len(result.items) == 14 and len(result.groups["edit_type"]) == 7
    assert result.metrics["following_yes"].value == 1.0 and result.metrics["quality_score"].value == 5.0
    assert result.metrics["clip_i"].n == 14
    first = result.items[0]
    assert Image.open(first["images"]["edit"]).size == (76, 48)  # 1280 x 795 -> 77 x 48 -> the tiny VAE's even size
    assert Image.open(first["images"]["source"]).size == (1280, 795)
    assert [image.size for image in backend.requests[0].images] == [(824, 512), (824, 512)]
