"""Bundle the Gradio Space for upload: the app folder, a copy of this package beside `app.py`, and requirements.

`edit-handbook` is not on PyPI, so the Space cannot `pip install` it. Of the two ways around that, this one
copies `src/edit_handbook` into the bundle instead of building a wheel into it: a Space installs
`requirements.txt` in an image build step that runs before the rest of the repository is copied in, so a
requirement pointing at a wheel file inside the repository is not there yet when pip looks for it. A package
folder next to `app.py` is importable (the app's folder is the working directory and on `sys.path`), and
`requirements.txt` then names only published packages: this package's `install_requires` and its `space`
extra (gradio), read from the installed distribution's metadata so they cannot drift from `setup.py`, plus
whatever the app's own `requirements.txt` adds (its lines win on a name both list).
"""

from __future__ import annotations

import shutil
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .run_info import collect_run_info, write_run_info


DISTRIBUTION = "edit-handbook"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/edit_handbook
SPACE_EXTRAS = ("space",)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".gradio", "flagged", ".ipynb_checkpoints")


def package_requirements(extras: tuple[str, ...] = SPACE_EXTRAS) -> list[str]:
    """`install_requires` plus the given extras' requirements of the installed `edit-handbook`, markers dropped."""
    try:
        lines = requires(DISTRIBUTION) or []
    except PackageNotFoundError as error:
        raise RuntimeError(
            f"{DISTRIBUTION} is not installed, so its requirements cannot be read: `pip install -e .` first"
        ) from error
    selected = []
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is not None:
            if not any(requirement.marker.evaluate({"extra": extra}) for extra in extras):
                continue
            requirement.marker = None
        selected.append(str(requirement))
    return selected


def _is_local(line: str) -> bool:
    """A requirement that only resolves on the machine that wrote it (or names this unpublished package)."""
    if line.startswith(("-e", "--editable", ".", "/", "file:", "-r", "--requirement")):
        return True
    try:
        return canonicalize_name(Requirement(line).name) == canonicalize_name(DISTRIBUTION)
    except InvalidRequirement:
        return False


def space_requirements(app_requirements: list[str], package: list[str]) -> list[str]:
    """The app's lines (pip options first, local paths and `edit-handbook` itself dropped), then the package's
    requirements whose names the app does not already list."""
    lines = [line.split(" #")[0].strip() for line in app_requirements]
    lines = [line for line in lines if line and not line.startswith("#") and not _is_local(line)]
    options = [line for line in lines if line.startswith("-")]
    named = [line for line in lines if not line.startswith("-")]
    taken = {canonicalize_name(Requirement(line).name) for line in named}
    extra = [line for line in package if canonicalize_name(Requirement(line).name) not in taken]
    return options + named + extra


def bundle_space(space_dir: str | Path, bundle_dir: str | Path) -> Path:
    """Write the uploadable Space to `bundle_dir` (replaced): the app folder, `edit_handbook/`, requirements and
    `run_info.json`. Returns `bundle_dir`."""
    space_dir, bundle_dir = Path(space_dir), Path(bundle_dir)
    for required in ("app.py", "README.md"):
        if not (space_dir / required).is_file():
            raise FileNotFoundError(
                f"{space_dir} has no {required}: point `edit-handbook push space` at the Space folder "
                "(default spaces/edit-handbook), which holds app.py and README.md with the Space front matter"
            )
    if bundle_dir.resolve() == space_dir.resolve() or space_dir.resolve() in bundle_dir.resolve().parents:
        raise ValueError(f"the bundle folder {bundle_dir} must lie outside the Space folder {space_dir}")
    if bundle_dir.exists():
        shutil.rmtree(bundle_dir)
    shutil.copytree(space_dir, bundle_dir, ignore=_SKIP)
    shutil.rmtree(bundle_dir / PACKAGE_DIR.name, ignore_errors=True)
    shutil.copytree(PACKAGE_DIR, bundle_dir / PACKAGE_DIR.name, ignore=_SKIP)
    app_requirements = space_dir / "requirements.txt"
    lines = app_requirements.read_text().splitlines() if app_requirements.exists() else []
    requirements = space_requirements(lines, package_requirements())
    (bundle_dir / "requirements.txt").write_text(
        f"# Written by `edit-handbook push space`: the Space's own requirements, then {DISTRIBUTION}'s\n"
        f"# (its package is bundled in {PACKAGE_DIR.name}/, it is not on PyPI).\n" + "\n".join(requirements) + "\n"
    )
    write_run_info(bundle_dir, collect_run_info({"space_dir": str(space_dir)}, bundled_package=PACKAGE_DIR.name))
    return bundle_dir
