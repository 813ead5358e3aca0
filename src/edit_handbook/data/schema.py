"""The one canonical schema every dataset is mapped onto.

Edit pairs: `source_image`, `target_image`, `instruction`, plus optional `id`, `edit_type`,
`negative_instructions`, `rectified_instruction`. Preference rows add `chosen`, `rejected`,
`error_type` and `severity`. Images are `datasets.Image` features so they are stored once,
encoded, and decoded lazily.
"""

from __future__ import annotations

import datasets


SOURCE_IMAGE = "source_image"
TARGET_IMAGE = "target_image"
INSTRUCTION = "instruction"
ID = "id"
EDIT_TYPE = "edit_type"
NEGATIVES = "negative_instructions"
RECTIFIED = "rectified_instruction"
CHOSEN = "chosen"
REJECTED = "rejected"
ERROR_TYPE = "error_type"
SEVERITY = "severity"

IMAGE_COLUMNS = (SOURCE_IMAGE, TARGET_IMAGE)
REQUIRED_EDIT_COLUMNS = (SOURCE_IMAGE, TARGET_IMAGE, INSTRUCTION)
OPTIONAL_EDIT_COLUMNS = (ID, EDIT_TYPE, NEGATIVES, RECTIFIED)
REQUIRED_PREFERENCE_COLUMNS = (SOURCE_IMAGE, TARGET_IMAGE, CHOSEN, REJECTED, ERROR_TYPE, SEVERITY)

# The `source` that asks `load_edit_pairs` for the embedded synthetic pairs.
SYNTHETIC = "synthetic"
# Below PIL's own decompression-bomb warning (89.5M pixels): an 8192 x 8192 RGB image is 200 MB decoded.
DEFAULT_MAX_PIXELS = 8192 * 8192

# EditCaption's three recurring failure modes, plus a catch-all (docs/method.md).
ERROR_TYPES = ("orientation", "viewpoint", "attribute", "other")
SEVERITIES = ("minor", "major", "critical")

_FEATURE_TYPES: dict[str, object] = {
    SOURCE_IMAGE: datasets.Image(),
    TARGET_IMAGE: datasets.Image(),
    INSTRUCTION: datasets.Value("string"),
    ID: datasets.Value("string"),
    EDIT_TYPE: datasets.Value("string"),
    NEGATIVES: datasets.Sequence(datasets.Value("string")),
    RECTIFIED: datasets.Value("string"),
    CHOSEN: datasets.Value("string"),
    REJECTED: datasets.Value("string"),
    ERROR_TYPE: datasets.Value("string"),
    SEVERITY: datasets.Value("string"),
}


def feature_for(column: str) -> object:
    """The `datasets` feature of a canonical column (KeyError for a non-canonical one)."""
    return _FEATURE_TYPES[column]


def edit_pair_features(columns: list[str] | tuple[str, ...] | None = None, **extra: object) -> datasets.Features:
    """Features for edit pairs: the required columns, the given canonical ones, then `extra`."""
    names = list(REQUIRED_EDIT_COLUMNS) + [c for c in (columns or ()) if c not in REQUIRED_EDIT_COLUMNS]
    features = {name: _FEATURE_TYPES[name] for name in names}
    features.update(extra)
    return datasets.Features(features)


def preference_features(**extra: object) -> datasets.Features:
    """Features for preference rows: both images, chosen/rejected and their error labels."""
    features = {name: _FEATURE_TYPES[name] for name in (ID, *REQUIRED_PREFERENCE_COLUMNS)}
    features.update(extra)
    return datasets.Features(features)


def describe_feature(feature: object) -> str:
    """A short human name for a feature, for cards: "image", "string", "list[string]"."""
    if isinstance(feature, datasets.Image):
        return "image"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return f"list[{describe_feature(inner)}]"
    return type(feature).__name__
