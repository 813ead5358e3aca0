"""No horizontal flips anywhere: a flip turns "left" into "right" and makes the instruction wrong."""

import re
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
FLIP = re.compile(
    r"RandomHorizontalFlip|\bhflip\b|FLIP_LEFT_RIGHT|ImageOps\.mirror|random_flip|torch\.flip\(|\.flip\("
)
SOURCES = sorted(
    p for folder in ("src", "spaces", "recipes") for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".yaml"}
)


def test_the_scan_sees_the_sources():
    assert any(p.name == "train_superedit.py" or p.parent.name == "synthetic" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_flip_augmentation(path):
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if FLIP.search(line)
    ]
    assert not hits, "horizontal flips break left/right instructions:\n" + "\n".join(hits)
