"""The Space's logic without a browser: settings from the environment, input limits, sizes, lazy loading."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from edit_handbook.space import gpu_task, write_examples
from edit_handbook.space.inputs import InputError, check_instruction, load_image
from edit_handbook.space.models import LazyModel, ModelUnavailable, size_multiple, working_size
from edit_handbook.space.settings import (
    DEFAULT_CAPTIONER,
    DEFAULT_EDITOR,
    TINY_CAPTIONER,
    TINY_EDITOR,
    InputLimits,
    resolve_settings,
)


LIMITS = InputLimits()


# --- settings -------------------------------------------------------------------------------------------------


def test_defaults_are_hub_ids_and_the_real_edit_inference_settings():
    settings = resolve_settings({})
    assert (settings.captioner, settings.editor, settings.tiny) == (DEFAULT_CAPTIONER, DEFAULT_EDITOR, False)
    assert settings.negatives_url is None and settings.edit_resolution == 512
    defaults = settings.edit_defaults
    assert (defaults.steps, defaults.text_guidance, defaults.image_guidance, defaults.seed) == (50, 10.0, 1.5, 42)


def test_model_ids_come_from_the_environment_and_blank_values_mean_unset():
    env = {"EDIT_HANDBOOK_CAPTIONER": " me/captioner ", "EDIT_HANDBOOK_EDITOR": "   "}
    settings = resolve_settings(env)
    assert settings.captioner == "me/captioner"
    assert settings.editor == DEFAULT_EDITOR


@pytest.mark.parametrize(
    ("flag", "env"), [(True, {}), (False, {"EDIT_HANDBOOK_TINY": "1"}), (False, {"EDIT_HANDBOOK_TINY": "True"})]
)
def test_tiny_runs_both_models_on_the_local_fixtures_whatever_the_ids_say(flag, env):
    settings = resolve_settings({**env, "EDIT_HANDBOOK_CAPTIONER": "me/captioner"}, tiny=flag)
    assert (settings.captioner, settings.editor, settings.tiny) == (TINY_CAPTIONER, TINY_EDITOR, True)
    assert settings.edit_resolution == 32


def test_tiny_flag_off_values_do_not_switch_it_on():
    assert not resolve_settings({"EDIT_HANDBOOK_TINY": "0"}).tiny
    assert not resolve_settings({"EDIT_HANDBOOK_TINY": "no"}).tiny


def test_a_negatives_server_needs_a_model_name():
    with pytest.raises(ValueError, match="EDIT_HANDBOOK_NEGATIVES_MODEL"):
        resolve_settings({"EDIT_HANDBOOK_NEGATIVES_URL": "http://localhost:8000/v1"})
    settings = resolve_settings(
        {"EDIT_HANDBOOK_NEGATIVES_URL": "http://h/v1", "EDIT_HANDBOOK_NEGATIVES_MODEL": "gpt-4o"}
    )
    assert (settings.negatives_url, settings.negatives_model) == ("http://h/v1", "gpt-4o")


# --- input limits -----------------------------------------------------------------------------------------------


def _save(path: Path, size=(32, 24), **save_kwargs) -> Path:
    Image.new("RGB", size, (200, 40, 40)).save(path, **save_kwargs)
    return path


def test_an_image_over_the_pixel_limit_is_refused_with_its_size_and_the_fix(tmp_path):
    path = _save(tmp_path / "big.png", size=(5000, 4000))
    with pytest.raises(InputError) as caught:
        load_image(path, "Source image", LIMITS)
    assert str(caught.value) == (
        "Source image: 5000 x 4000 pixels (20.0 MP) is over the 16.8 MP limit; "
        "resize it to at most 4096 x 4096 and upload it again."
    )


def test_a_file_over_the_byte_limit_is_refused_before_it_is_decoded(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(noise).save(path)  # ~12 KB: noise does not compress
    with pytest.raises(InputError, match=r"Edited image: the file is 1[23] KB, over the 2 KB limit"):
        load_image(path, "Edited image", InputLimits(max_bytes=2048))


def test_other_formats_and_non_images_are_refused_by_name(tmp_path):
    gif = _save(tmp_path / "a.gif")
    with pytest.raises(InputError, match=r"Source image: 'a.gif' is GIF; upload PNG, JPEG, WEBP, BMP\."):
        load_image(gif, "Source image", LIMITS)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match="'notes.png' is not an image this app can read"):
        load_image(text, "Source image", LIMITS)
    with pytest.raises(InputError, match="Source image: no image; upload one"):
        load_image(None, "Source image", LIMITS)


def test_a_truncated_file_is_reported_as_damaged(tmp_path):
    path = _save(tmp_path / "whole.png", size=(64, 64))
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InputError, match="Source image: the file is damaged or truncated"):
        load_image(cut, "Source image", LIMITS)


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _save(tmp_path / "bomb.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL warns above this and refuses above twice this
    with pytest.raises(InputError, match="refuses as unsafe"):
        load_image(path, "Source image", LIMITS)


def test_accepted_images_come_back_rgb_and_upright(tmp_path):
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (30, 20), (1, 2, 3, 4)).save(rgba)
    assert load_image(rgba, "Source image", LIMITS).mode == "RGB"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; the picture must be rotated 90 degrees to display
    photo = _save(tmp_path / "photo.jpg", size=(40, 20), exif=exif.tobytes())
    assert load_image(photo, "Source image", LIMITS).size == (20, 40)


def test_instructions_are_stripped_and_bounded():
    assert check_instruction("  make it red \n", "Instruction", LIMITS) == "make it red"
    with pytest.raises(InputError, match="Instruction: empty"):
        check_instruction("   ", "Instruction", LIMITS)
    with pytest.raises(InputError, match="Instruction: 501 characters, over the 500-character limit"):
        check_instruction("x" * 501, "Instruction", LIMITS)


# --- editor sizes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "resolution", "multiple", "expected"),
    [
        ((256, 192), 64, 4, (64, 48)),
        ((1000, 750), 512, 64, (512, 384)),
        ((512, 512), 512, 64, (512, 512)),
        ((100, 3000), 512, 64, (64, 512)),  # 17 px would round to 0: never below one multiple
        ((300, 200), 512, 64, (512, 320)),  # small images are scaled up to the model's resolution (341 -> 320)
    ],
)
def test_working_size_scales_the_longer_side_and_rounds_to_the_multiple(size, resolution, multiple, expected):
    assert working_size(size, resolution, multiple) == expected


def test_size_multiple_is_vae_times_unet_downsampling():
    sd15 = SimpleNamespace(
        vae_scale_factor=8, unet=SimpleNamespace(config=SimpleNamespace(block_out_channels=[1] * 4))
    )
    tiny = SimpleNamespace(
        vae_scale_factor=2, unet=SimpleNamespace(config=SimpleNamespace(block_out_channels=[1] * 2))
    )
    assert (size_multiple(sd15), size_multiple(tiny)) == (64, 4)


# --- lazy loading and the no-weights message --------------------------------------------------------------------


def test_a_model_that_cannot_load_says_which_why_and_what_to_do_and_is_retried():
    calls = []

    def loader():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        return "model"

    lazy = LazyModel("captioner", "me/captioner", "EDIT_HANDBOOK_CAPTIONER", loader)
    with pytest.raises(ModelUnavailable) as caught:
        lazy.get()
    message = str(caught.value)
    assert message.startswith("The captioner `me/captioner` could not be loaded, so this tab cannot run (OSError: ")
    assert "The other tabs still work" in message
    assert "EDIT_HANDBOOK_CAPTIONER" in message and "--tiny" in message
    assert lazy.get() == "model" and lazy.get() == "model"
    assert len(calls) == 2  # retried after the failure, then loaded once


def test_long_load_errors_are_cut_short():
    lazy = LazyModel("editor", "x", "EDIT_HANDBOOK_EDITOR", lambda: (_ for _ in ()).throw(ValueError("e" * 5000)))
    with pytest.raises(ModelUnavailable) as caught:
        lazy.get()
    assert len(str(caught.value)) < 700 and "e ..." in str(caught.value)


# --- ZeroGPU and examples ---------------------------------------------------------------------------------------


def test_gpu_task_is_a_no_op_without_the_spaces_package(monkeypatch):
    # From the repository root `import spaces` finds the `spaces/` folder (no `GPU`): that too means "no ZeroGPU".
    monkeypatch.setitem(sys.modules, "spaces", types.ModuleType("spaces"))

    def handler():
        return 1

    assert gpu_task()(handler) is handler


def test_gpu_task_uses_spaces_gpu_when_present(monkeypatch):
    fake = types.ModuleType("spaces")
    fake.GPU = lambda duration: lambda function: ("on gpu", duration, function)
    monkeypatch.setitem(sys.modules, "spaces", fake)

    def handler():
        return 1

    assert gpu_task(duration=30)(handler) == ("on gpu", 30, handler)


def test_examples_are_synthetic_pairs_written_as_pngs(tmp_path):
    examples = write_examples(tmp_path, 2, image_size=96)
    assert len(examples) == 2
    for example in examples:
        for path in (example.source, example.target):
            with Image.open(path) as image:
                assert (image.format, image.size) == ("PNG", (96, 96))
        assert example.instruction and example.noisy_instruction != example.instruction
