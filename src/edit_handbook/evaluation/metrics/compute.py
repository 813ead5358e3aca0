"""All automatic edit metrics of a set of edits at once, each image and text embedded once.

The editing suite and the `evaluate` modules in this folder both call `compute_edit_metrics`. Computing the
metrics together matters on Real-Edit, where seven edits share each source photo: the photo is embedded once
(images are deduplicated by object identity), and CLIP-I, CLIP-T and the directional similarity share one
set of CLIP embeddings.

Texts: CLIP-T compares the edit with the target caption where there is one, else with the instruction.
The directional similarity needs a source and a target caption; where an item has only an instruction (as in
Real-Edit), the instruction stands for the target caption and the empty prompt "" for the source caption, so
the text direction is n(E_txt(instruction)) - n(E_txt("")): the instruction's meaning minus what every CLIP
text embedding shares. It is comparable between editors on the same items, not with caption-based numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .encoders import DEFAULT_CLIP_MODEL, DEFAULT_DINO_MODEL, clip_encoder, dino_encoder
from .functions import cosine_similarity, directional_similarity, pixel_l1, pixel_l2, unit_pixels


CLIP_METRICS = ("clip_i", "clip_t", "clip_directional")
METRIC_NAMES = (*CLIP_METRICS, "dino_similarity", "l1", "l2")
EMPTY_PROMPT = ""


@dataclass(frozen=True)
class MetricModels:
    """Which models the metrics use (Hub ids or local folders), and how they run."""

    clip_model: str = DEFAULT_CLIP_MODEL
    dino_model: str = DEFAULT_DINO_MODEL
    batch_size: int = 32
    device: str | None = None


def _unique(images: Sequence[Image.Image]) -> tuple[list[Image.Image], list[int]]:
    """The distinct image objects, and each input's position among them."""
    positions: dict[int, int] = {}
    unique = []
    for image in images:
        if id(image) not in positions:
            positions[id(image)] = len(unique)
            unique.append(image)
    return unique, [positions[id(image)] for image in images]


def _embed(encode, images: Sequence[Image.Image]) -> np.ndarray:
    unique, index = _unique(images)
    return encode(unique)[index]


def _values(array: Sequence[float]) -> list[float | None]:
    return [None if value is None or math.isnan(value) else float(value) for value in array]


def check_metric_names(names: Sequence[str]) -> None:
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown edit metrics {unknown}; known: {', '.join(METRIC_NAMES)}")


def compute_edit_metrics(
    names: Sequence[str],
    sources: Sequence[Image.Image],
    edits: Sequence[Image.Image],
    *,
    instructions: Sequence[str] | None = None,
    source_captions: Sequence[str | None] | None = None,
    target_captions: Sequence[str | None] | None = None,
    targets: Sequence[Image.Image | None] | None = None,
    models: MetricModels = MetricModels(),
) -> dict[str, list[float | None]]:
    """Per-item values of each metric in `names` (None where it does not apply, e.g. L1 without a target)."""
    check_metric_names(names)
    count = len(edits)
    if len(sources) != count:
        raise ValueError(f"{len(sources)} source images for {count} edits")
    for label, values in (
        ("instructions", instructions),
        ("source_captions", source_captions),
        ("target_captions", target_captions),
        ("targets", targets),
    ):
        if values is not None and len(values) != count:
            raise ValueError(f"{len(values)} {label} for {count} edits")
    source_captions = source_captions or [None] * count
    target_captions = target_captions or [None] * count
    instructions = instructions or [None] * count
    wanted = [target or instruction for target, instruction in zip(target_captions, instructions)]
    text_metrics = [name for name in ("clip_t", "clip_directional") if name in names]
    missing = [i for i, text in enumerate(wanted) if not text]
    if text_metrics and missing:
        raise ValueError(
            f"{' and '.join(text_metrics)} need an instruction or a target caption; items {missing[:10]} have neither"
        )
    if count == 0:
        return {name: [] for name in names}
    results: dict[str, list[float | None]] = {}
    if any(name in CLIP_METRICS for name in names):
        clip = clip_encoder(models.clip_model, models.device, models.batch_size)
        edit_embeds = _embed(clip.images, edits)
        if "clip_i" in names or "clip_directional" in names:  # CLIP-T alone never looks at the sources
            source_embeds = _embed(clip.images, sources)
        if "clip_i" in names:
            results["clip_i"] = _values(cosine_similarity(source_embeds, edit_embeds))
        if text_metrics:
            with_captions = [bool(s and t) for s, t in zip(source_captions, target_captions)]
            before = [s if both else EMPTY_PROMPT for s, both in zip(source_captions, with_captions)]
            texts = sorted({*wanted, *before})
            table = dict(zip(texts, clip.texts(texts)))
            after_embeds = np.stack([table[text] for text in wanted])
            if "clip_t" in names:
                results["clip_t"] = _values(cosine_similarity(edit_embeds, after_embeds))
            if "clip_directional" in names:
                before_embeds = np.stack([table[text] for text in before])
                results["clip_directional"] = _values(
                    directional_similarity(source_embeds, edit_embeds, before_embeds, after_embeds)
                )
    if "dino_similarity" in names:
        dino = dino_encoder(models.dino_model, models.device, models.batch_size)
        results["dino_similarity"] = _values(
            cosine_similarity(_embed(dino.images, sources), _embed(dino.images, edits))
        )
    for name, distance in (("l1", pixel_l1), ("l2", pixel_l2)):
        if name in names:
            results[name] = [
                None if target is None else distance(unit_pixels(edit, target.size), unit_pixels(target))
                for edit, target in zip(edits, targets or [None] * count)
            ]
    return {name: results[name] for name in names}
