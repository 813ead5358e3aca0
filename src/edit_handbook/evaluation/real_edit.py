"""The Real-Edit benchmark as SuperEdit released it: `eval_instruct.json` beside an `imgs/` folder.

The release (bytedance/SuperEdit, `eval/`) maps each photo to seven numbered instructions, one per edit type:

    {"2.jpeg": ["1. Local: Replace the headscarf with ...", "2. Remove: ...", ..., "7. Style: ..."], ...}

80 photos x 7 types = 560 edits. Some photos of the full release write the type followed by the word "Edit"
("1. Local Edit: ..."). The release reads an entry by splitting on ": "; this loader parses
`<n>. <Type>[ Edit]: <instruction>` (any spacing, any case of the label) with a pattern instead, so an entry
it cannot read is never turned into a wrong edit type: it fails alone, with a message naming the photo, the
entry and the fix, and every other entry is still evaluated (`read_real_edit` returns those failures). The
filters (`images`, `limit`, `edit_types`) decide before parsing: what they leave out is never parsed.
The photos have no edited targets: it is an editor benchmark.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


INSTRUCTIONS_FILE = "eval_instruct.json"
IMAGES_FOLDER = "imgs"
EDIT_TYPES = ("Local", "Remove", "Add", "Texture", "Background", "Global", "Style")
ENTRY_FORMAT = '"<n>. <Type>[ Edit]: <instruction>", e.g. "1. Local: Replace the hat with a crown."'
_ENTRY = re.compile(
    r"^\s*(?:\d+\s*\.\s*)?(?P<type>[A-Za-z]+?)(?:\s*edit)?\s*:\s*(?P<instruction>\S.*?)\s*$", re.DOTALL | re.IGNORECASE
)
# The type label alone, read before the whole entry: enough for `edit_types` to leave an entry out unparsed.
_LABEL = re.compile(r"^\s*(?:\d+\s*\.\s*)?(?P<type>[A-Za-z]+?)(?:\s*edit)?\s*:", re.IGNORECASE)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealEditItem:
    """One edit to make: `instruction` of type `edit_type` applied to the photo at `image_path`.

    `target_path` and the two captions are absent in Real-Edit; benchmarks that have them (hand-built item
    lists) get L1/L2 to the target and a caption-based directional CLIP similarity.
    """

    key: str
    edit_type: str
    instruction: str
    image_path: Path
    target_path: Path | None = None
    source_caption: str | None = None
    target_caption: str | None = None

    @property
    def id(self) -> str:
        """`<photo stem>_<type>`, e.g. `2_local`: the name of the edit's file."""
        return f"{Path(self.key).stem}_{self.edit_type.lower()}"


def parse_entry(entry: object, key: str) -> tuple[str, str]:
    """(edit type, instruction) of one release entry; ValueError naming the key, the entry and the fix."""
    match = _ENTRY.match(entry) if isinstance(entry, str) else None
    if match is None:
        raise ValueError(f"{INSTRUCTIONS_FILE}[{key!r}]: entry {entry!r} is not of the form {ENTRY_FORMAT}.")
    canonical = {name.lower(): name for name in EDIT_TYPES}
    edit_type = canonical.get(match["type"].lower())
    if edit_type is None:
        raise ValueError(
            f"{INSTRUCTIONS_FILE}[{key!r}]: entry {entry!r} has the unknown edit type {match['type']!r}; "
            f"Real-Edit's types are {', '.join(EDIT_TYPES)}: correct the label."
        )
    return edit_type, match["instruction"]


def _instructions_file(root: str | Path) -> Path:
    path = Path(root)
    path = path / INSTRUCTIONS_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(
            f"No Real-Edit instructions at {path}: pass the folder holding {INSTRUCTIONS_FILE} and {IMAGES_FOLDER}/ "
            "(bytedance/SuperEdit's `eval/` folder), or the JSON file itself."
        )
    return path


def _check_names(kind: str, wanted: Sequence[str], known: Sequence[str]) -> None:
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; known: {', '.join(known)}")


@dataclass(frozen=True)
class RealEditBench:
    """The edits that load, and one message per entry (or photo) that could not, naming it and the fix."""

    items: list[RealEditItem]
    failures: list[str]


def _label_type(entry: object) -> str | None:
    """The canonical type an entry's label names, or None when there is no readable label."""
    match = _LABEL.match(entry) if isinstance(entry, str) else None
    if match is None:
        return None
    return {name.lower(): name for name in EDIT_TYPES}.get(match["type"].lower())


def _photo_items(
    key: str, entries: object, image_dir: Path, edit_types: Sequence[str] | None
) -> tuple[list[RealEditItem], list[str]]:
    """One photo's kept edits and its failures: a bad entry fails alone, a bad photo fails its own edits."""
    if not isinstance(entries, list) or not entries:
        return [], [f"{INSTRUCTIONS_FILE}[{key!r}] must be a non-empty list of entries like {ENTRY_FORMAT}."]
    image_path = image_dir / key
    if not image_path.is_file():
        return [], [
            f"{INSTRUCTIONS_FILE}[{key!r}]: image {image_path} is missing; put the photo there or drop the key "
            "from the file (or leave it out with `images=` / `limit=`)."
        ]
    parsed, failures = [], []
    for entry in entries:
        label = _label_type(entry)
        if edit_types is not None and label is not None and label not in edit_types:
            continue  # filtered out: not parsed further
        try:
            parsed.append(parse_entry(entry, key))
        except ValueError as error:
            failures.append(str(error))
    seen = [edit_type for edit_type, _ in parsed]
    repeated = sorted({t for t in seen if seen.count(t) > 1})
    if repeated:
        failures.append(
            f"{INSTRUCTIONS_FILE}[{key!r}] has more than one {'/'.join(repeated)} entry; each photo takes one "
            "instruction per edit type (its edits are named by photo and type): keep one of them."
        )
        parsed = [(t, instruction) for t, instruction in parsed if t not in repeated]
    items = [
        RealEditItem(key=key, edit_type=edit_type, instruction=instruction, image_path=image_path)
        for edit_type, instruction in parsed
        if edit_types is None or edit_type in edit_types
    ]
    return items, failures


def read_real_edit(
    root: str | Path,
    *,
    edit_types: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    limit: int | None = None,
) -> RealEditBench:
    """The benchmark's edits in release order (photo by photo, each photo's types in its entry order), and
    the entries that failed.

    `edit_types` keeps some types (e.g. ["Local", "Style"]), `images` some photos by key ("2.jpeg"), `limit`
    the first N photos. Only the kept photos are parsed and must exist; an entry that cannot be read, a
    repeated type or a missing photo fails alone (listed in `failures`) while the rest load. The file itself
    (missing, not JSON, not an object) and unknown filter values still raise.
    """
    path = _instructions_file(root)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error}); re-download {INSTRUCTIONS_FILE}.") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}).") from None
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{path} must be a non-empty JSON object mapping image names to lists of entries.")
    if edit_types is not None:
        _check_names("edit types", edit_types, EDIT_TYPES)
    if images is not None:
        _check_names("images", images, list(table))
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 photo, got {limit}")
    kept_keys = [key for key in table if images is None or key in images][:limit]
    items: list[RealEditItem] = []
    failures: list[str] = []
    for key in kept_keys:
        photo_items, photo_failures = _photo_items(key, table[key], path.parent / IMAGES_FOLDER, edit_types)
        items += photo_items
        failures += photo_failures
    return RealEditBench(items, failures)


def load_real_edit(
    root: str | Path,
    *,
    edit_types: Sequence[str] | None = None,
    images: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[RealEditItem]:
    """`read_real_edit`'s edits, each failure logged as a warning; ValueError listing the failures when no
    edit at all loads."""
    bench = read_real_edit(root, edit_types=edit_types, images=images, limit=limit)
    for failure in bench.failures:
        logger.warning("Real-Edit: skipped: %s", failure)
    if not bench.items and bench.failures:
        raise ValueError("no Real-Edit edit could be loaded:\n" + "\n".join(bench.failures))
    return bench.items
