"""The arithmetic of the automatic edit metrics: pure functions of embeddings and pixels, no model.

- CLIP-I and DINO similarity: cosine of the source and edit image embeddings (how much of the photo survived);
- CLIP-T: cosine of the edit image and the text embedding (does the edit look like what was asked);
- directional CLIP similarity (InstructPix2Pix, Brooks et al. 2023): cosine of the change in image embedding
  and the change in text embedding, each embedding L2-normalised first:
  cos(n(E_img(edit)) - n(E_img(source)), n(E_txt(target caption)) - n(E_txt(source caption)));
- L1 / L2 to a target image: mean absolute / mean squared difference of RGB values in [0, 1] (as MagicBrush
  reports them), after resizing the edit to the target's size.

A cosine with a zero vector (an edit identical to its source has no direction) is NaN, not 0: the aggregates
drop it instead of counting it as "unrelated".
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm; an all-zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def cosine_similarity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise cos(first[i], second[i]); NaN where either row is all zeros."""
    first, second = np.atleast_2d(np.asarray(first, dtype=np.float64)), np.atleast_2d(np.asarray(second, np.float64))
    if first.shape != second.shape:
        raise ValueError(f"cosine_similarity needs rows of the same shape, got {first.shape} and {second.shape}")
    norms = np.linalg.norm(first, axis=-1) * np.linalg.norm(second, axis=-1)
    dots = np.einsum("ij,ij->i", first, second)
    return np.divide(dots, norms, out=np.full(dots.shape, np.nan), where=norms > 0)


def directional_similarity(
    source_images: np.ndarray, edited_images: np.ndarray, source_texts: np.ndarray, target_texts: np.ndarray
) -> np.ndarray:
    """Row-wise cosine between the image change and the text change, embeddings normalised first."""
    image_change = normalise(edited_images) - normalise(source_images)
    text_change = normalise(target_texts) - normalise(source_texts)
    return cosine_similarity(image_change, text_change)


def unit_pixels(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB values in [0, 1] as an (H, W, 3) float array, resized (bicubic) to `size` = (width, height) if given."""
    image = image.convert("RGB")
    if size is not None and image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float64) / 255.0


def pixel_l1(edited: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference of two same-shaped pixel arrays."""
    edited, target = np.asarray(edited, np.float64), np.asarray(target, np.float64)
    if edited.shape != target.shape:
        raise ValueError(f"pixel_l1 needs same-shaped images, got {edited.shape} and {target.shape}")
    return float(np.abs(edited - target).mean())


def pixel_l2(edited: np.ndarray, target: np.ndarray) -> float:
    """Mean squared difference of two same-shaped pixel arrays."""
    edited, target = np.asarray(edited, np.float64), np.asarray(target, np.float64)
    if edited.shape != target.shape:
        raise ValueError(f"pixel_l2 needs same-shaped images, got {edited.shape} and {target.shape}")
    return float(np.square(edited - target).mean())
