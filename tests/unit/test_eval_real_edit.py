"""The Real-Edit loader on hand-written release-format folders: entries parsed, filters applied, bad input named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from edit_handbook.evaluation.real_edit import RealEditItem, load_real_edit, parse_entry


RELEASE_TABLE = {
    "2.jpeg": [
        "1. Local: Replace the headscarf with a wide-brimmed straw hat.",
        "2. Remove: Remove the basket on her back.",
        "7. Style: Transform the image into a watercolor painting style.",
    ],
    "10.jpeg": ["1. Local: Change the sign to read: OPEN.", "5. Background: Change the background to a beach."],
}


def write_bench(root: Path, table: dict, images: list[str] | None = None) -> Path:
    """A release-layout folder: `eval_instruct.json` beside `imgs/` holding the named photos."""
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    for key in table if images is None else images:
        Image.new("RGB", (12, 8), (200, 30, 30)).save(root / "imgs" / key, format="JPEG")
    (root / "eval_instruct.json").write_text(json.dumps(table))
    return root


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("1. Local: Replace the hat.", ("Local", "Replace the hat.")),
        ("  4.Texture :  Make it wooden.  ", ("Texture", "Make it wooden.")),
        ("6. global: Make it night.", ("Global", "Make it night.")),  # case of the type does not matter
        ("Style: Make it a sketch.", ("Style", "Make it a sketch.")),  # the number is optional
        ("1. Local: Change the sign to read: OPEN.", ("Local", "Change the sign to read: OPEN.")),
    ],
)
def test_parse_entry(entry, expected):
    assert parse_entry(entry, "2.jpeg") == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("Replace the hat with a crown.", "is not of the form"),
        ("1. Local:", "is not of the form"),
        (3, "is not of the form"),
        ("8. Colour: Make it blue.", "unknown edit type 'Colour'; Real-Edit's types are Local, Remove"),
    ],
)
def test_parse_entry_names_key_entry_and_fix(entry, message):
    with pytest.raises(ValueError, match="eval_instruct.json\\['2.jpeg'\\]") as error:
        parse_entry(entry, "2.jpeg")
    assert message in str(error.value) and repr(entry) in str(error.value)


def test_loads_release_layout_in_order(tmp_path):
    root = write_bench(tmp_path / "eval", RELEASE_TABLE)
    items = load_real_edit(root)
    assert [(item.key, item.edit_type) for item in items] == [
        ("2.jpeg", "Local"),
        ("2.jpeg", "Remove"),
        ("2.jpeg", "Style"),
        ("10.jpeg", "Local"),
        ("10.jpeg", "Background"),
    ]
    assert items[0] == RealEditItem(
        "2.jpeg", "Local", "Replace the headscarf with a wide-brimmed straw hat.", root / "imgs" / "2.jpeg"
    )
    assert [item.id for item in items][:2] == ["2_local", "2_remove"]
    assert items[3].instruction == "Change the sign to read: OPEN."  # the release's split(": ")[-1] would cut it
    assert items[0].target_path is None and items[0].target_caption is None
    assert load_real_edit(root / "eval_instruct.json") == items  # the JSON file itself works too


def test_filters(tmp_path):
    root = write_bench(tmp_path, RELEASE_TABLE)
    assert [item.id for item in load_real_edit(root, edit_types=["Local"])] == ["2_local", "10_local"]
    assert [item.key for item in load_real_edit(root, images=["10.jpeg"])] == ["10.jpeg", "10.jpeg"]
    assert {item.key for item in load_real_edit(root, limit=1)} == {"2.jpeg"}
    with pytest.raises(ValueError, match=r"unknown edit types \['Color'\]; known: Local, Remove"):
        load_real_edit(root, edit_types=["Color"])
    with pytest.raises(ValueError, match=r"unknown images \['99.jpeg'\]"):
        load_real_edit(root, images=["99.jpeg"])
    with pytest.raises(ValueError, match="limit must be at least 1"):
        load_real_edit(root, limit=0)


def test_only_kept_photos_must_exist(tmp_path):
    root = write_bench(tmp_path, RELEASE_TABLE, images=["2.jpeg"])
    with pytest.raises(FileNotFoundError, match=r"\['10.jpeg'\]: image .*10.jpeg is missing; put the photo there"):
        load_real_edit(root)
    assert len(load_real_edit(root, images=["2.jpeg"])) == 3


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, FileNotFoundError, "No Real-Edit instructions at"),
        ("{not json", ValueError, "is not valid JSON"),
        ("[]", ValueError, "must be a non-empty JSON object"),
        (json.dumps({"2.jpeg": "1. Local: x"}), ValueError, r"\['2.jpeg'\] must be a non-empty list of entries"),
        (json.dumps({"2.jpeg": []}), ValueError, r"\['2.jpeg'\] must be a non-empty list of entries"),
        (json.dumps({"2.jpeg": ["1. Local: a", "2. Local: b"]}), ValueError, "more than one Local entry"),
    ],
)
def test_bad_files(tmp_path, content, error, message):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "imgs" / "2.jpeg")
    if content is not None:
        (tmp_path / "eval_instruct.json").write_text(content)
    with pytest.raises(error, match=message):
        load_real_edit(tmp_path)


def test_a_bad_entry_fails_even_when_filtered_out(tmp_path):
    table = {**RELEASE_TABLE, "10.jpeg": ["1. Locl: typo in the type."]}
    root = write_bench(tmp_path, table)
    with pytest.raises(
        ValueError, match=r"\['10.jpeg'\]: entry '1. Locl: typo in the type.' has the unknown edit type"
    ):
        load_real_edit(root, images=["2.jpeg"])
