"""Real-Edit settings: the paper's defaults, CLI parsing, and the image sizes the editor and the judge get."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from trl import TrlParser

from edit_handbook.evaluation.configs import EditingEvaluationArguments
from edit_handbook.evaluation.editing import edit_input, judge_view, photo_chunks
from edit_handbook.evaluation.real_edit import RealEditItem


def test_defaults_are_the_real_edit_protocol():
    args = EditingEvaluationArguments()
    assert (args.edit_scheduler, args.edit_num_inference_steps, args.edit_seed) == ("euler_ancestral", 50, 42)
    assert (args.edit_guidance_scale, args.edit_image_guidance_scale, args.edit_judge_resolution) == (10.0, 1.5, 512)
    assert args.edit_resolution is None  # the release edits each photo at its own size


def test_parse_from_the_command_line():
    (args,) = TrlParser((EditingEvaluationArguments,)).parse_args_and_config(
        ["--real_edit_types", "Local", "Style", "--edit_metrics", "clip_i", "l1", "--edit_resolution", "512"]
    )
    assert args.real_edit_types == ["Local", "Style"] and args.edit_metrics == ["clip_i", "l1"]
    assert args.edit_resolution == 512


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"real_edit_types": ["Colour"]}, r"real_edit_types: unknown \['Colour'\]; choose from Local"),
        ({"edit_metrics": ["fid"]}, r"edit_metrics: unknown \['fid'\]; choose from clip_i"),
        ({"edit_num_inference_steps": 0}, "edit_num_inference_steps must be at least 1, got 0"),
    ],
)
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        EditingEvaluationArguments(**overrides)


def test_edit_input_resizes_the_shorter_side():
    photo = Image.new("RGBA", (1280, 853))
    assert edit_input(photo, None).size == (1280, 853) and edit_input(photo, None).mode == "RGB"
    assert edit_input(photo, 512).size == (768, 512)
    assert edit_input(Image.new("RGB", (300, 600)), 512).size == (512, 1024)


def test_judge_view_uses_the_source_aspect_at_the_judge_height():
    source, edit = Image.new("RGB", (1280, 853)), Image.new("RGB", (1280, 848))  # the editor rounds to 8 px
    assert judge_view(source, source, 512).size == (768, 512)
    assert judge_view(edit, source, 512).size == (768, 512)  # same frame as the source it is compared with


def test_chunks_cut_between_photos():
    items = [RealEditItem(key, "Local", "x", Path(key)) for key in ["1", "1", "1", "2", "2", "3"]]
    assert photo_chunks(items, size=2) == [[0, 1, 2], [3, 4], [5]]
    assert photo_chunks(items, size=64) == [[0, 1, 2, 3, 4, 5]]
