"""A judge backend that remembers: each reply is stored on disk, so asking again costs no model call.

`CachedBackend(backend, folder)` has the backend interface (`generate(requests)`, `describe()`), so the judge,
the synthesis tasks and every evaluation suite use it unchanged. The key of a request is a SHA-256 of

- the backend's identity: its `describe()` without the operational settings that do not change an answer
  (concurrency, timeouts, retry counters, batch size, how the API key is found), plus an optional `namespace`;
- the chat messages, the images' pixels (mode, size and bytes, so a re-encoded file with the same pixels
  still hits), `max_new_tokens` and the JSON schema.

A changed prompt, image, answer budget or model misses. A model retrained in place under the same name does
not: give such runs a `namespace` (e.g. the checkpoint's hash) or a fresh folder. Only successful replies
are stored: a timeout or a server error is asked again next time. Files are written atomically, so a run
killed mid-write leaves no half entry, and parallel runs sharing a folder at worst compute a reply twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from edit_handbook.data.writer import write_file_atomically
from edit_handbook.synth.backends import Backend, Reply, Request


# describe() keys that say how a backend runs, not what it answers.
OPERATIONAL_KEYS = frozenset({"concurrency", "timeout_s", "max_retries", "retries", "batch_size", "api_key", "cache"})


def _image_digest(image: Image.Image) -> str:
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def backend_identity(backend: Backend) -> dict[str, Any]:
    """What in a backend's description decides its answers."""
    return {key: value for key, value in backend.describe().items() if key not in OPERATIONAL_KEYS}


def request_key(identity: dict[str, Any], request: Request, namespace: str = "") -> str:
    """The cache key of one request to a backend of this identity."""
    payload = {
        "backend": identity,
        "namespace": namespace,
        "messages": request.messages,
        "images": [_image_digest(image) for image in request.images],
        "max_new_tokens": request.max_new_tokens,
        "json_schema": request.json_schema,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class CachedBackend:
    """`backend` behind an on-disk reply cache in `folder`; counts hits, misses and backend calls."""

    def __init__(self, backend: Backend, folder: str | Path, *, namespace: str = "") -> None:
        self.backend = backend
        self.folder = Path(folder)
        self.namespace = namespace
        self.identity = backend_identity(backend)
        self.hits = self.misses = self.backend_calls = 0

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    def describe(self) -> dict[str, Any]:
        return {
            **self.backend.describe(),
            "cache": {"folder": str(self.folder), "hits": self.hits, "misses": self.misses},
        }

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def _read(self, key: str) -> Reply | None:
        try:
            stored = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Reply(text=stored["text"]) if isinstance(stored.get("text"), str) else None

    def _write(self, key: str, reply: Reply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, lambda file: file.write(json.dumps({"text": reply.text}).encode("utf-8")))

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        keys = [request_key(self.identity, request, self.namespace) for request in requests]
        replies = [self._read(key) for key in keys]
        missing = [i for i, reply in enumerate(replies) if reply is None]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            self.backend_calls += 1
            for i, reply in zip(missing, self.backend.generate([requests[i] for i in missing]), strict=True):
                replies[i] = reply
                if reply.ok:
                    self._write(keys[i], reply)
        return replies
