"""Checks on what users upload and type, before any model sees it.

An image is checked from its file header (format, bytes, width x height) before its pixels are decoded, so an
oversized or decompression-bomb upload costs nothing. Each refusal names the field, what is wrong and the fix;
the app shows it as a `gr.Error`. Phone photos are accepted as phones write them: an MPO file (the
multi-picture JPEG many phones save) is read as its first, primary picture, and a 16-bit greyscale PNG keeps
its tone (65535 -> 255) instead of turning white.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from edit_handbook.data.validation import to_rgb
from edit_handbook.space.settings import InputLimits


# Formats that are another one underneath: MPO is JPEG with extra pictures appended (phones save it).
_SAME_AS = {"MPO": "JPEG"}
# Control characters an instruction may not carry (NUL, escape sequences); tab and newline are spaces.
_CONTROL = {code: None for code in range(32) if chr(code) not in "\t\n"} | {0x7F: None}


class InputError(ValueError):
    """An input the Space refuses; the message is meant for the user."""


def _file_size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{-(-count // 1024)} KB"


def _megapixels(count: int) -> str:
    return f"{count / 1e6:.1f} MP"


def check_pixels(field: str, width: int, height: int, limits: InputLimits) -> None:
    if width * height > limits.max_pixels:
        side = int(limits.max_pixels**0.5)
        raise InputError(
            f"{field}: {width} x {height} pixels ({_megapixels(width * height)}) is over the "
            f"{_megapixels(limits.max_pixels)} limit; resize it to at most {side} x {side} and upload it again."
        )


def load_image(path: str | os.PathLike | None, field: str, limits: InputLimits) -> Image.Image:
    """The upload at `path` as an upright RGB image, or an `InputError` saying why not."""
    if path is None:
        raise InputError(f"{field}: no image; upload one (PNG, JPEG or WebP).")
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"{field}: expected an uploaded file, got {type(path).__name__}; upload the image again.")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{field}: the uploaded file {path.name!r} is no longer there; upload it again.")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise InputError(
            f"{field}: the file is {_file_size(size)}, over the {_file_size(limits.max_bytes)} limit; "
            "upload a smaller or more compressed image."
        )
    allowed = ", ".join(limits.formats)
    with warnings.catch_warnings():
        # PIL refuses (or warns about) images it considers decompression bombs while reading the header.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(
                f"{field}: more than {_megapixels(Image.MAX_IMAGE_PIXELS)}, which the image decoder refuses as "
                f"unsafe (the limit here is {_megapixels(limits.max_pixels)}); resize it and upload it again."
            ) from None
        except UnidentifiedImageError:
            raise InputError(f"{field}: {path.name!r} is not an image this app can read; upload {allowed}.") from None
    with image:
        if _SAME_AS.get(image.format, image.format) not in limits.formats:
            raise InputError(f"{field}: {path.name!r} is {image.format or 'an unknown format'}; upload {allowed}.")
        check_pixels(field, image.width, image.height, limits)
        try:
            # Phone photos: upright as they were taken; 16-bit and alpha converted without losing the tone.
            return to_rgb(ImageOps.exif_transpose(image))
        except (OSError, ValueError) as error:
            raise InputError(f"{field}: the file is damaged or truncated ({error}); upload it again.") from None


def check_instruction(text: str | None, field: str, limits: InputLimits) -> str:
    """The instruction without surrounding spaces or control characters; empty, overlong or non-text input is
    refused."""
    if text is not None and not isinstance(text, str):
        raise InputError(f"{field}: expected text, got {type(text).__name__}; type the instruction as words.")
    text = (text or "").translate(_CONTROL).strip()
    if not text:
        raise InputError(f"{field}: empty; type what the edit should do, e.g. 'make the sky pink'.")
    if len(text) > limits.max_instruction_chars:
        raise InputError(
            f"{field}: {len(text)} characters, over the {limits.max_instruction_chars}-character limit; shorten it."
        )
    return text
