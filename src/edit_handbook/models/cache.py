"""Build-once disk cache for generated artefacts (tokenizers, tiny models).

Each artefact is built in a private temporary folder next to its final place and moved there with one
`os.rename`. A rename onto an existing non-empty folder fails, so when two processes build the same
artefact at once the first rename wins, the loser discards its copy, and readers never see a half-written
folder. No lock file is needed, and a crashed build leaves only a temporary folder behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


CACHE_ENV = "EDIT_HANDBOOK_CACHE"
BUILD_INFO = "edit_handbook_build.json"


def cache_root() -> Path:
    """`$EDIT_HANDBOOK_CACHE`, else `~/.cache/edit_handbook`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edit_handbook").expanduser()


def config_hash(payload: Mapping[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable config: the cache key."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cached_build(
    kind: str,
    payload: Mapping[str, Any],
    build: Callable[[Path], None],
    cache_dir: str | Path | None = None,
) -> Path:
    """Return `<cache>/<kind>/<hash(payload)>`, calling `build(folder)` to fill it only if it is missing."""
    parent = Path(cache_dir) if cache_dir is not None else cache_root()
    parent = parent / kind
    target = parent / config_hash(payload)
    if target.is_dir():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
        build(staging)
        (staging / BUILD_INFO).write_text(json.dumps(payload, sort_keys=True, indent=2, default=str))
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
