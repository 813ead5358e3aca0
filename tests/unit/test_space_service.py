"""The Space's tab actions: rectify + negatives through the synthesis tasks, the tiny editor, missing weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.synth_servers import ScriptedBackend, request_text

from edit_handbook.data import schema
from edit_handbook.data.synthetic import generate_pairs
from edit_handbook.models import load_clip_tokenizer
from edit_handbook.space import InputError, ModelUnavailable, SpaceService, resolve_settings
from edit_handbook.space.rectify import rectify_pair
from edit_handbook.synth.backends import Reply


@pytest.fixture(scope="module")
def clip_tokenizer():
    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def row() -> dict:
    return next(generate_pairs(1, seed=3, image_size=64, edit_types=("move",)))


@pytest.fixture
def pair_files(row, tmp_path) -> tuple[Path, Path]:
    source, target = tmp_path / "source.png", tmp_path / "target.png"
    row[schema.SOURCE_IMAGE].save(source)
    row[schema.TARGET_IMAGE].save(target)
    return source, target


def _negatives_json(*items: tuple[str, str]) -> str:
    return json.dumps({"negatives": [{"attribute": a, "instruction": t} for a, t in items]})


def test_rectify_pair_asks_for_negatives_of_the_rectified_instruction_and_reports_screening(row, clip_tokenizer):
    rectified = "Move the red triangle to the right."
    writer = ScriptedBackend(
        lambda request: _negatives_json(
            ("colour", "Move the green triangle to the right."),
            ("position", "Move the red triangle to the left."),
            ("position", "move the red triangle to the right"),  # the positive again: screened out
            ("size", "Make the red triangle bigger."),  # not one of SuperEdit's four attributes
        )
    )
    result = rectify_pair(
        row[schema.SOURCE_IMAGE],
        row[schema.TARGET_IMAGE],
        "Move the red triangle to the left.",
        rectifier=ScriptedBackend(lambda request: rectified),
        negatives_writer=writer,
        clip_tokenizer=clip_tokenizer,
    )
    assert result.instruction == rectified
    assert result.negatives == [
        ("colour", "Move the green triangle to the right."),
        ("position", "Move the red triangle to the left."),
    ]
    assert f'instruction for this pair is: "{rectified}"' in request_text(writer.requests[0])
    assert len(writer.requests[0].images) == 2
    assert result.notes == [
        "Screened out (2): near-paraphrase of the positive: move the red triangle to the right; "
        "unknown attribute 'size': Make the red triangle bigger.."
    ]


def test_rectify_pair_summarises_an_answer_over_clip_length_and_says_so(row, clip_tokenizer):
    long_answer = "Move the red triangle to the right. " + "The scene keeps its flat grey background. " * 12

    def rectifier(request):
        return (
            "Move the red triangle to the right, background unchanged."
            if "Shorten" in request_text(request)
            else long_answer
        )

    result = rectify_pair(
        row[schema.SOURCE_IMAGE],
        row[schema.TARGET_IMAGE],
        "Move it.",
        rectifier=ScriptedBackend(rectifier),
        negatives_writer=ScriptedBackend(lambda request: _negatives_json(("colour", "Move the blue triangle right."))),
        clip_tokenizer=clip_tokenizer,
    )
    assert result.instruction == "Move the red triangle to the right, background unchanged."
    assert result.notes[0].startswith("The first answer was over CLIP's 77 tokens and was summarised")


def test_rectify_pair_explains_missing_answers_instead_of_hiding_them(row, clip_tokenizer):
    result = rectify_pair(
        row[schema.SOURCE_IMAGE],
        row[schema.TARGET_IMAGE],
        "Move the red triangle to the left.",
        rectifier=ScriptedBackend(lambda request: Reply(error="server down")),
        negatives_writer=ScriptedBackend(lambda request: "Move the red triangle."),  # not JSON, twice
        clip_tokenizer=clip_tokenizer,
    )
    assert result.instruction is None and result.negatives == []
    assert result.notes == [
        "Rectification failed: server down.",
        "Negatives are made from the original instruction instead.",
        "No negatives from scripted: unreadable after one repair: not JSON (Expecting value at char 0).",
    ]


def test_missing_weights_disable_only_the_tab_that_needs_them(pair_files, tiny_ip2p_path, tmp_path):
    # Edits at 64 px: the tiny editor's attention at the real 512 px takes minutes on a CPU.
    settings = replace(
        resolve_settings({}),
        captioner=str(tmp_path / "no-such-captioner"),
        editor=str(tiny_ip2p_path),
        edit_resolution=64,
    )
    service = SpaceService(settings)
    with pytest.raises(ModelUnavailable, match="The captioner `.*no-such-captioner` could not be loaded"):
        service.describe(*pair_files)
    with pytest.raises(ModelUnavailable, match="EDIT_HANDBOOK_CAPTIONER"):
        service.rectify(*pair_files, "Move the red triangle to the left.")
    edited = service.edit(pair_files[0], "make it red", steps=2, text_guidance=10, image_guidance=1.5, seed=0)
    assert edited.size == (64, 64)  # the editor tab still works


def test_edit_is_seeded_and_works_at_the_configured_resolution(pair_files, tiny_ip2p_path):
    service = SpaceService(replace(resolve_settings({}, tiny=True), editor=str(tiny_ip2p_path)))
    wide = pair_files[0].with_name("wide.png")
    Image.open(pair_files[0]).crop((0, 0, 64, 48)).save(wide)

    def edit(seed):
        return service.edit(wide, "make it red", steps=3, text_guidance=10, image_guidance=1.5, seed=seed)

    first, again, other = edit(42), edit(42), edit(7)
    assert first.size == (32, 24)  # the tiny settings edit at 32 px
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "Steps: 0 is outside 1 .. 100"),
        ("text_guidance", 31.0, "Text guidance: 31.0 is outside 0 .. 30"),
        ("image_guidance", -1.0, "Image guidance: -1.0 is outside 0 .. 30"),
        ("seed", -5, "Seed: -5 is outside 0 .. 4294967295"),
    ],
)
def test_edit_controls_out_of_range_are_refused_before_loading_anything(pair_files, field, value, message):
    service = SpaceService(replace(resolve_settings({}), editor="/no/such/editor"))
    controls = {"steps": 50, "text_guidance": 10.0, "image_guidance": 1.5, "seed": 42, field: value}
    with pytest.raises(InputError, match=message):
        service.edit(pair_files[0], "make it red", **controls)


def test_preload_loads_what_it_can_and_returns_what_failed(tiny_ip2p_path, tmp_path):
    settings = replace(resolve_settings({}), captioner=str(tmp_path / "missing"), editor=str(tiny_ip2p_path))
    service = SpaceService(settings)
    failures = service.preload()
    assert len(failures) == 1 and failures[0].startswith("The captioner `")
    assert service.editor.get() is service.editor.get()  # loaded by preload, kept
