"""Refresh docs/images/space.png, the README's picture of the Space, from the real-browser test.

Runs the Rectify test of tests/browser/test_space.py (headless Chromium, the app with --tiny), which saves a
full-page screenshot where $EDIT_HANDBOOK_SPACE_SCREENSHOT points, then stores it as a 128-colour PNG to keep
the repository small (about 100 KB instead of several hundred).

    .venv/bin/python scripts/space_screenshot.py [--output docs/images/space.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image


ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/browser/test_space.py::test_rectify_tab_shows_the_rectified_instruction_and_its_negatives"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "space.png")
    parser.add_argument("--colours", type=int, default=128, help="palette size of the stored PNG")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "space.png"
        env = {**os.environ, "EDIT_HANDBOOK_SPACE_SCREENSHOT": str(raw), "HF_HUB_OFFLINE": "1"}
        # CI=1: a missing browser must fail here, not skip and leave the old picture in place unnoticed.
        env["CI"] = env.get("CI") or "1"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"], cwd=ROOT, env=env
        )
        if done.returncode != 0 or not raw.is_file():
            print(f"the browser test failed (exit {done.returncode}); {args.output} left unchanged", file=sys.stderr)
            return done.returncode or 1
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(raw) as image:
            image.convert("RGB").quantize(colors=args.colours).save(args.output, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
