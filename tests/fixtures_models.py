"""Session-scoped tiny-model fixtures (register with `pytest_plugins = ["tests.fixtures_models"]`).

The cache lives in a fresh temporary folder per test session, so tests always exercise the builders; set
`EDIT_HANDBOOK_CACHE` to reuse one cache across sessions instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edit_handbook.models import tiny_instruct_pix2pix, tiny_qwen3_vl
from edit_handbook.models.cache import CACHE_ENV


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tokenizers and tiny models are cached for this session."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else tmp_path_factory.mktemp("edit_handbook_cache")


@pytest.fixture(scope="session")
def tiny_qwen3_vl_path(model_cache_dir: Path) -> Path:
    """A tiny dense Qwen3-VL checkpoint with the real tokenizer and a full processor."""
    return tiny_qwen3_vl(cache_dir=model_cache_dir)


@pytest.fixture(scope="session")
def tiny_ip2p_path(model_cache_dir: Path) -> Path:
    """A tiny InstructPix2Pix pipeline folder with the real CLIP tokenizer."""
    return tiny_instruct_pix2pix(cache_dir=model_cache_dir)
