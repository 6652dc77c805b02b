"""Take the README screenshots: run the browser tests with screenshots on, then store compact PNGs.

    python scripts/screenshots.py                  # -> docs/images/<page>.png
    python scripts/screenshots.py --out /tmp/shots --max-kb 200

The browser tests (tests/e2e) already visit every page and stream the fake camera on the live page, so they are
the harness: this script only switches their ``FER_SCREENSHOTS_DIR`` on and shrinks what they save (a 256-colour
palette keeps UI screenshots sharp at a fraction of the size of full-colour PNGs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

__all__ = ["compact_png", "main", "parse_args"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--max-kb", type=int, default=300, help="warn about screenshots larger than this")
    parser.add_argument("--skip-idle", action="store_true", help="leave out the live page before START")
    return parser.parse_args(argv)


def compact_png(source: Path, target: Path, colours: int = 256) -> int:
    """Save ``source`` as a palette PNG at ``target`` (optimised); returns the new size in bytes."""
    with Image.open(source) as image:
        palette = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
        palette.save(target, optimize=True)
    return target.stat().st_size


def take_screenshots(directory: Path) -> None:
    """Run the browser tests with screenshots saved into ``directory``; fail loudly if they fail."""
    env = {**os.environ, "FER_SCREENSHOTS_DIR": str(directory)}
    tests = "page_loads or live_page or group_photo or video_page or dashboard_view"  # the screenshot-taking tests
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", tests, "tests/e2e"]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        take_screenshots(Path(raw))
        for source in sorted(Path(raw).glob("*.png")):
            if args.skip_idle and source.stem == "live_idle":
                continue
            size = compact_png(source, args.out / source.name)
            note = f"  (over {args.max_kb} KB)" if size > args.max_kb * 1024 else ""
            print(f"{args.out / source.name}: {size / 1024:.0f} KB{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
