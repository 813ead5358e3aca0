"""Images as a VLM processor accepts them: RGB, and no extreme aspect ratio.

Qwen-VL processors refuse an image whose sides differ by 200x or more ("absolute aspect ratio must be
smaller than 200"), so a 4000x10 strip would stop a whole batch. Such an image is padded (white, centred) to
`MAX_ASPECT_RATIO`: every pixel is kept, and the model sees the strip as it is, on a wider canvas.
(High-bit-depth images arrive here already converted: the loader and the Space use `data.validation.to_rgb`.)
"""

from __future__ import annotations

from PIL import Image


MAX_ASPECT_RATIO = 100  # half of the Qwen-VL limit, so resizing to multiples of the patch size stays under it


def model_ready(image: Image.Image, max_aspect_ratio: int = MAX_ASPECT_RATIO) -> Image.Image:
    """`image` in RGB, padded to at most `max_aspect_ratio`:1."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    width, height = image.size
    long, short = max(width, height), min(width, height)
    if long <= max_aspect_ratio * short:
        return image
    side = -(-long // max_aspect_ratio)
    size = (width, side) if width >= height else (side, height)
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(image, ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas
