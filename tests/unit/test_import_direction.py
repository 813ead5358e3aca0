"""Imports point one way: the demo, the fixtures, the CLI and the entry scripts on top, the methods below,
`data` and `models` at the bottom.

Each method package is imported, every one of its modules, in a fresh process, and `sys.modules` is checked
afterwards: that also catches imports made through `importlib` or inside functions run at import time, which
reading the import statements would miss. To keep the test short, one interpreter loads the third-party
libraries once (by importing everything, then forgetting every `edit_handbook` module) and forks one child per
package: each child starts with no `edit_handbook` module loaded, so what it ends with is what its package pulls in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


SRC = Path(__file__).resolve().parents[2] / "src"
METHOD_PACKAGES = ("data", "models", "editcaption", "superedit", "synth", "evaluation")
ENTRY_SCRIPTS = (
    *("sft", "dpo", "synthesize", "train_superedit", "tutorial_editor", "evaluate", "generate", "validate"),
    *("replicate", "replicate_superedit"),
)
TOP_LAYER = ("demo", "fixtures", "cli", "space", *ENTRY_SCRIPTS)

_PROBE = """
import importlib, json, os, pkgutil, sys, traceback

def import_all(name):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)

packages = sys.argv[1:]
for name in packages:  # loads every third-party library the packages use, once
    import_all(name)
for name in [name for name in sys.modules if name == "edit_handbook" or name.startswith("edit_handbook.")]:
    del sys.modules[name]

results = {}
for name in packages:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            import_all(name)
            answer = {"loaded": sorted(m for m in sys.modules if m.startswith("edit_handbook"))}
        except BaseException:
            answer = {"error": traceback.format_exc()}
        with os.fdopen(write, "w") as pipe:
            pipe.write(json.dumps(answer))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        results[name] = json.loads(pipe.read())
    os.waitpid(pid, 0)
print(json.dumps(results))
"""


def forbidden(loaded: list[str]) -> list[str]:
    """The top-layer modules among `loaded` (a module or anything inside it)."""
    top = [f"edit_handbook.{name}" for name in TOP_LAYER]
    return [name for name in loaded if any(name == t or name.startswith(t + ".") for t in top)]


def test_forbidden_matches_modules_and_their_submodules_only():
    loaded = ["edit_handbook.demo.stages", "edit_handbook.dpo", "edit_handbook.editcaption.dpo_setup"]
    assert forbidden(loaded) == ["edit_handbook.demo.stages", "edit_handbook.dpo"]


@pytest.fixture(scope="module")
def loaded_by_package() -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    packages = [f"edit_handbook.{name}" for name in METHOD_PACKAGES]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *packages], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    errors = {name: result["error"] for name, result in results.items() if "error" in result}
    assert not errors, errors
    return {name.removeprefix("edit_handbook."): result["loaded"] for name, result in results.items()}


@pytest.mark.parametrize("package", METHOD_PACKAGES)
def test_method_package_never_imports_the_top_layer(loaded_by_package, package):
    loaded = loaded_by_package[package]
    assert f"edit_handbook.{package}" in loaded
    assert forbidden(loaded) == [], f"edit_handbook.{package} imports the top layer: {forbidden(loaded)}"


@pytest.mark.parametrize("package", ("data", "models"))
def test_the_bottom_layer_imports_no_other_package_of_the_project(loaded_by_package, package):
    packages = {".".join(name.split(".")[:2]) for name in loaded_by_package[package]}
    assert packages == {"edit_handbook", f"edit_handbook.{package}"}
