"""Each evaluated pair's images, saved once as small PNGs beside the results, so a report can show any item.

Items name their images by paths relative to the suite's output folder; `SuiteResult.meta["image_root"]` holds
that folder, so a report written elsewhere (`edit-handbook evaluate report`) still finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import datasets

from edit_handbook.data import schema


IMAGES_FOLDER = "images"
THUMBNAIL_SIDE = 256


def item_ids(dataset: datasets.Dataset) -> list[str]:
    """The dataset's `id` column, else `row-<index>`; ids must be unique (paired comparisons match on them)."""
    if schema.ID in dataset.column_names:
        ids = [str(value) if value is not None else f"row-{i}" for i, value in enumerate(dataset[schema.ID])]
    else:
        ids = [f"row-{i}" for i in range(len(dataset))]
    repeated = sorted({value for value in ids if ids.count(value) > 1})
    if repeated:
        raise ValueError(f"ids {repeated[:5]} repeat in column 'id'; evaluation matches items by id")
    return ids


def save_pair_images(
    dataset: datasets.Dataset, folder: str | Path, ids: list[str], side: int = THUMBNAIL_SIDE
) -> list[dict[str, str]]:
    """Write `<folder>/images/<id>_{source,target}.png` (longest side at most `side`); paths relative to folder."""
    folder = Path(folder)
    (folder / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)
    images = []
    columns = dataset.select_columns(list(schema.IMAGE_COLUMNS))
    for row_id, row in zip(ids, columns):
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", row_id)
        paths = {}
        for name, column in (("source", schema.SOURCE_IMAGE), ("target", schema.TARGET_IMAGE)):
            image = row[column].convert("RGB")
            image.thumbnail((side, side))
            paths[name] = f"{IMAGES_FOLDER}/{stem}_{name}.png"
            image.save(folder / paths[name])
        images.append(paths)
    return images
