"""Edit-metric arithmetic against hand values, and which texts and images `compute_edit_metrics` embeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from edit_handbook.evaluation.metrics import compute, functions
from edit_handbook.evaluation.metrics.compute import MetricModels, compute_edit_metrics


def test_cosine_similarity_hand_values():
    got = functions.cosine_similarity([[1, 0], [3, 4], [2, 0], [0, 0]], [[1, 1], [3, 4], [-5, 0], [1, 2]])
    assert got[:3] == pytest.approx([1 / math.sqrt(2), 1.0, -1.0])
    assert math.isnan(got[3])  # a zero vector has no direction: NaN, not 0
    with pytest.raises(ValueError, match="same shape"):
        functions.cosine_similarity([[1, 0]], [[1, 0, 0]])


def test_normalise_keeps_zero_rows():
    assert functions.normalise([[3, 4], [0, 0]]).tolist() == [[0.6, 0.8], [0.0, 0.0]]


def test_directional_similarity_hand_values():
    src_img, src_txt = np.array([[1.0, 0.0]] * 4), np.array([[1.0, 0.0]] * 4)
    edit = np.array([[0, 2], [1, 1], [0, 1], [5, 0]], dtype=float)
    target = np.array([[0, 3], [0, 1], [1, 0], [0, 1]], dtype=float)
    got = functions.directional_similarity(src_img, edit, src_txt, target)
    # 1: both move from x to y (norms do not matter). 2: image moves half-way, cos(22.5 deg).
    # 3: the text does not move: NaN. 4: the image does not move: NaN.
    assert got[:2] == pytest.approx([1.0, math.cos(math.pi / 8)])
    assert math.isnan(got[2]) and math.isnan(got[3])
    opposite = functions.directional_similarity([[0.0, 1.0]], [[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]])
    assert opposite == pytest.approx([-1.0])


def test_pixel_distances_hand_values():
    edited, target = np.array([[0.2, 0.4], [1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.5]])
    assert functions.pixel_l1(edited, target) == pytest.approx((0.2 + 0.4 + 0 + 0.5) / 4)
    assert functions.pixel_l2(edited, target) == pytest.approx((0.04 + 0.16 + 0 + 0.25) / 4)
    with pytest.raises(ValueError, match="same-shaped"):
        functions.pixel_l1(np.zeros((2, 2)), np.zeros((2, 3)))


def test_unit_pixels_scale_and_resize():
    image = Image.new("RGB", (4, 2), (255, 0, 51))
    pixels = functions.unit_pixels(image)
    assert pixels.shape == (2, 4, 3) and pixels[0, 0] == pytest.approx([1.0, 0.0, 0.2])
    assert functions.unit_pixels(image.convert("L"), (8, 6)).shape == (6, 8, 3)


class FakeClip:
    """Image embedding = mean RGB; text embedding from a table; counts what it embeds."""

    TEXTS = {"": [1.0, 1.0, 1.0], "make it red": [1.0, 0.0, 0.0], "a red photo": [2.0, 0.0, 0.0], "a photo": [1, 1, 1]}

    def __init__(self):
        self.images_seen, self.texts_seen = 0, []

    def images(self, images):
        self.images_seen += len(images)
        return np.array([np.asarray(image, dtype=float).reshape(-1, 3).mean(0) for image in images])

    def texts(self, texts):
        self.texts_seen += list(texts)
        return np.array([self.TEXTS[text] for text in texts])


@pytest.fixture
def fake_clip(monkeypatch):
    fake = FakeClip()
    monkeypatch.setattr(compute, "clip_encoder", lambda *args: fake)
    return fake


def test_clip_metrics_with_instruction_or_captions(fake_clip):
    grey, red, blue = (Image.new("RGB", (4, 4), colour) for colour in ((100, 100, 100), (200, 0, 0), (0, 0, 90)))
    got = compute_edit_metrics(
        ["clip_i", "clip_t", "clip_directional"],
        [grey, grey, grey],
        [red, blue, red],
        instructions=["make it red", "make it red", "make it red"],
        source_captions=[None, None, "a photo"],
        target_captions=[None, None, "a red photo"],
        models=MetricModels(clip_model="fake"),
    )
    assert got["clip_i"] == pytest.approx([1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)])
    assert got["clip_t"] == pytest.approx([1.0, 0.0, 1.0])  # the caption "a red photo" outranks the instruction
    # Without captions the direction is n(E("make it red")) - n(E("")); with them n(E(target)) - n(E(source)).
    # Both are (1 - 1/sqrt3, -1/sqrt3, -1/sqrt3); red moves the image the same way: cos = 1.
    assert got["clip_directional"][0] == pytest.approx(1.0) and got["clip_directional"][2] == pytest.approx(1.0)
    n = 1 / math.sqrt(3)
    text, image = np.array([1 - n, -n, -n]), np.array([-n, -n, 1 - n])
    assert got["clip_directional"][1] == pytest.approx(text @ image / np.linalg.norm(text) / np.linalg.norm(image))
    assert fake_clip.images_seen == 3  # grey once (same object), red once, blue once
    assert sorted(fake_clip.texts_seen) == ["", "a photo", "a red photo", "make it red"]


def test_clip_t_alone_never_embeds_sources(fake_clip):
    red = Image.new("RGB", (2, 2), (200, 0, 0))
    sources = [Image.new("RGB", (2, 2)) for _ in range(2)]
    got = compute_edit_metrics(["clip_t"], sources, [red, red], instructions=["make it red"] * 2)
    assert got == {"clip_t": pytest.approx([1.0, 1.0])} and fake_clip.images_seen == 1


def test_identical_edit_has_no_direction(fake_clip):
    grey = Image.new("RGB", (2, 2), (9, 9, 9))
    (value,) = compute_edit_metrics(["clip_directional"], [grey], [grey], instructions=["make it red"])[
        "clip_directional"
    ]
    assert value is None


def test_pixel_metrics_where_a_target_exists():
    black, white = Image.new("RGB", (2, 2)), Image.new("RGB", (4, 4), (255, 255, 255))
    got = compute_edit_metrics(["l1", "l2"], [black, black], [black, black], targets=[white, None])
    assert got == {"l1": [1.0, None], "l2": [1.0, None]}


def test_bad_requests_are_named():
    image = Image.new("RGB", (2, 2))
    with pytest.raises(ValueError, match=r"unknown edit metrics \['fid'\]"):
        compute_edit_metrics(["fid"], [image], [image])
    with pytest.raises(ValueError, match="1 source images for 2 edits"):
        compute_edit_metrics(["l1"], [image], [image, image])
    with pytest.raises(ValueError, match="2 instructions for 1 edits"):
        compute_edit_metrics(["clip_t"], [image], [image], instructions=["a", "b"])


def test_clip_t_needs_a_text(fake_clip):
    image = Image.new("RGB", (2, 2))
    with pytest.raises(ValueError, match=r"clip_t need an instruction or a target caption; items \[1\]"):
        compute_edit_metrics(["clip_t"], [image, image], [image, image], instructions=["make it red", ""])


def test_no_items_no_model_load(monkeypatch):
    monkeypatch.setattr(compute, "clip_encoder", lambda *args: pytest.fail("no model is needed for zero items"))
    assert compute_edit_metrics(["clip_i", "clip_t", "l1"], [], [], instructions=[]) == {
        "clip_i": [],
        "clip_t": [],
        "l1": [],
    }
