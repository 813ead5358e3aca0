"""Training data of the captioner that sees: dense scene descriptions, mixed rectify hints, the blind control."""

import io
import json

import pytest

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.data.synthetic.language import scene_description
from edit_handbook.data.synthetic.scene import Camera, Scene, Shape
from edit_handbook.editcaption.callbacks import checker_scores
from edit_handbook.editcaption.sft_data import shuffle_images, to_sft_examples


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(8, seed=0, image_size=32, edit_types=("move", "pan", "recolour", "mirror"))


def _png(image) -> bytes:
    if isinstance(image, dict):
        return image["bytes"]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_scene_description_lists_objects_left_to_right_with_thirds_and_drops_objects_out_of_frame():
    scene = Scene(
        objects=(
            Shape("arrow", "red", "large", "striped", x=0.8, y=0.2, heading="up"),
            Shape("circle", "blue", "small", "plain", x=0.2, y=0.5),
            Shape("star", "green", x=0.5, y=0.9),
        )
    )
    assert scene_description(scene) == (
        "small blue plain circle middle left; small green plain star bottom centre; "
        "large red striped arrow pointing up top right."
    )
    zoomed = Scene(objects=scene.objects, camera=Camera(x=0.5, y=0.5, zoom=2.5))  # x 0.2 -> -0.25: out of frame
    assert "blue" not in scene_description(zoomed)


def test_describe_task_gives_one_single_image_example_per_image(pairs):
    examples = to_sft_examples(pairs, tasks=("describe",))
    assert len(examples) == 2 * len(pairs)
    for k, example in enumerate(examples):
        row, column = pairs[k // 2], ("source", "target")[k % 2]
        assert len(example["images"]) == 1
        assert _png(example["images"][0]) == _png(row[f"{column}_image"])
        placeholders = sum(part["type"] == "image" for m in example["prompt"] for part in m["content"])
        assert placeholders == 1
        assert example["completion"][0]["content"][0]["text"] == row[f"{column}_description"]


def test_rectify_hints_are_half_correct_half_flawed(pairs):
    examples = to_sft_examples(pairs, tasks=("rectify",))
    hints = [example["prompt"][1]["content"][-1]["text"] for example in examples]
    correct = [row["instruction"] in hint for row, hint in zip(pairs, hints)]
    flawed = [any(f in hint for f in row["flawed_instructions"]) for row, hint in zip(pairs, hints)]
    assert correct == [True, False] * (len(pairs) // 2)
    assert flawed == [False, True] * (len(pairs) // 2)
    for example, row in zip(examples, pairs):  # the answer is always the truth, whatever the hint
        assert example["completion"][0]["content"][0]["text"] == row["rectified_instruction"]


def test_blind_control_moves_images_never_texts(pairs):
    blind = shuffle_images(pairs, seed=0)
    for column in ("instruction", "edit_spec", "source_description", "target_description", "rectified_instruction"):
        assert blind[column] == pairs[column]
    for column in ("source_image", "target_image"):
        own = [_png(image) for image in pairs[column]]
        shown = [_png(image) for image in blind[column]]
        assert sorted(shown) == sorted(own)  # a permutation of the same images
        assert all(a != b for a, b in zip(shown, own))  # no row keeps its own images
    first = [_png(image) for image in pairs["source_image"]].index(_png(blind[0]["source_image"]))
    assert _png(blind[0]["target_image"]) == _png(pairs[first]["target_image"])  # a pair's two images stay together


def test_checker_scores_count_empty_answers_as_wrong_and_split_by_failure_mode(pairs):
    specs = pairs["edit_spec"]
    outputs = list(pairs["instruction"])
    outputs[0] = ""  # a failed answer is wrong, not skipped
    scores = checker_scores(outputs, specs)
    assert scores["checker_accuracy"] == (len(pairs) - 1) / len(pairs)
    first = json.loads(specs[0])["type"]
    assert scores[f"checker_accuracy/{first}"] == 1 / 2
    assert scores["checker_accuracy/viewpoint"] == 1.0
