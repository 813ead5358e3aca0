"""`run_info`: what produced an artifact (code version, library versions, config, data).

Every artifact the project writes (datasets, checkpoints, caches, reports) carries one, so a
number in a model card can always be traced back to the exact run that made it. Credentials a user put into
a URL or a command-line flag are redacted before anything is recorded (`edit_handbook.redaction`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from edit_handbook.redaction import redact_argv, redact_value


TRACKED_PACKAGES = (
    "edit-handbook",
    "torch",
    "torchvision",
    "transformers",
    "trl",
    "peft",
    "diffusers",
    "datasets",
    "accelerate",
    "deepspeed",
)


def git_sha(path: Path | None = None) -> str:
    """The commit of the source tree this package runs from ("+dirty" if modified), or "unknown"."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        sha = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return _jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (model ids, data fingerprints, configs)."""
    blob = json.dumps(_jsonable(parts), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def collect_run_info(config: Any = None, *, data_fingerprint: str | None = None, **extra: Any) -> dict[str, Any]:
    """The record stored next to every artifact (as `run_info.json` and in its card)."""
    return redact_value(
        {
            "git_sha": git_sha(),
            "packages": package_versions(),
            "python": platform.python_version(),
            "command": " ".join(redact_argv(sys.argv)),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": _jsonable(config),
            "data_fingerprint": data_fingerprint,
            **_jsonable(extra),
        }
    )


def write_run_info(folder: str | Path, run_info: dict[str, Any]) -> Path:
    path = Path(folder) / "run_info.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(redact_value(run_info), indent=2, sort_keys=True) + "\n")
    return path
