"""The Real-Edit loader on hand-written release-format folders: entries parsed, filters applied, bad input named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from edit_handbook.evaluation.real_edit import ENTRY_FORMAT, RealEditItem, load_real_edit, parse_entry, read_real_edit


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
        # The full release's other form: the type followed by the word "Edit", any spacing and case.
        ("1. Local Edit: Replace the hat.", ("Local", "Replace the hat.")),
        ("3.ADD  edit :Add a cat.", ("Add", "Add a cat.")),
        ("5. BackgroundEdit: Make it a beach.", ("Background", "Make it a beach.")),
        ("7. style EDIT: Make it a sketch.", ("Style", "Make it a sketch.")),
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
    bench = read_real_edit(root)  # the missing photo fails alone; the other photo's edits load
    assert [item.key for item in bench.items] == ["2.jpeg"] * 3
    assert len(bench.failures) == 1
    assert re.search(r"\['10.jpeg'\]: image .*10.jpeg is missing; put the photo there", bench.failures[0])
    assert read_real_edit(root, images=["2.jpeg"]).failures == []


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, FileNotFoundError, "No Real-Edit instructions at"),
        ("{not json", ValueError, "is not valid JSON"),
        ("[]", ValueError, "must be a non-empty JSON object"),
        # A file whose only photo fails loads nothing: the error lists why.
        (json.dumps({"2.jpeg": "1. Local: x"}), ValueError, r"\['2.jpeg'\] must be a non-empty list of entries"),
        (json.dumps({"2.jpeg": []}), ValueError, r"\['2.jpeg'\] must be a non-empty list of entries"),
        (json.dumps({"2.jpeg": ["1. Local: a", "2. Local: b"]}), ValueError, "more than one Local entry"),
        (b'{"2.jpeg": ["1. Local: caf\xe9"]}', ValueError, "is not UTF-8 text"),
    ],
)
def test_bad_files(tmp_path, content, error, message):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "imgs" / "2.jpeg")
    if isinstance(content, bytes):
        (tmp_path / "eval_instruct.json").write_bytes(content)
    elif content is not None:
        (tmp_path / "eval_instruct.json").write_text(content)
    with pytest.raises(error, match=message):
        load_real_edit(tmp_path)


def test_a_bad_entry_fails_alone_and_filtered_entries_are_not_parsed(tmp_path):
    table = {
        "2.jpeg": ["1. Local Edit: Replace the hat.", "2. Locl: typo in the type.", "3. Add: Add a cat.", "nonsense"],
        "10.jpeg": ["1. Local: Change the sign.", "2. Remove: Remove the dog.", "2. Remove: Remove the cat."],
        "11.jpeg": ["1. Local: ok."],
    }
    root = write_bench(tmp_path, table)
    bench = read_real_edit(root)
    assert [item.id for item in bench.items] == ["2_local", "2_add", "10_local", "11_local"]
    assert len(bench.failures) == 3
    assert "['2.jpeg']: entry '2. Locl: typo in the type.' has the unknown edit type 'Locl'" in bench.failures[0]
    assert "['2.jpeg']: entry 'nonsense' is not of the form" in bench.failures[1]
    assert "['10.jpeg'] has more than one Remove entry" in bench.failures[2]
    # load_real_edit keeps the edits that load (the failures go to the log)
    assert [item.id for item in load_real_edit(root)] == [item.id for item in bench.items]
    # Filters do not parse what they leave out: another photo, a later photo, another type.
    assert read_real_edit(root, images=["11.jpeg"]).failures == []
    assert read_real_edit(root, images=["10.jpeg", "11.jpeg"], edit_types=["Local"]).failures == []
    # An entry whose label is unreadable or unknown might be an Add: it is still reported.
    failures = read_real_edit(root, limit=1, edit_types=["Add"]).failures
    assert len(failures) == 2 and "'2. Locl" in failures[0] and "'nonsense'" in failures[1]
    assert ENTRY_FORMAT in failures[1]
