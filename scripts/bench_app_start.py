"""Cold start of the app and the server's memory with one session, for an install (its interpreter).

    python scripts/bench_app_start.py --server-python .venv-light/bin/python --page compare
    python scripts/bench_app_start.py --server-python .venv/bin/python --page compare ""

Per page, a fresh server each time: seconds from ``streamlit run`` to its health endpoint answering, and to the page
drawn in headless Chromium (the script finished and its main area holds content; ``""`` is Home, which loads the
default model and analyses the sample photo); then the server's resident memory with that one session open.
A benchmark script (machine-dependent figures), not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench_live_browser import CHROMIUM, app_server, rss_mb

__all__ = ["main"]


def page_drawn(page, url: str, timeout_s: float = 300.0) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.locator("[data-testid='stMainBlockContainer'] > div").first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_selector("[data-test-script-state='notRunning']", state="attached", timeout=timeout_s * 1000)


def measure(python: str, path: str, browser) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        with app_server(python, Path(tmp) / "server.log") as (url, pid):
            healthy = time.monotonic() - started
            page = browser.new_page()
            page_drawn(page, f"{url}/{path}")
            drawn = time.monotonic() - started
            time.sleep(2.0)  # let the session settle (caches filled, figures sent)
            memory = rss_mb(pid)
            page.close()
    return {"page": path or "home", "healthy_s": healthy, "first_page_s": drawn, "server_rss_mb": memory}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="*", default=["compare"], help='URL paths ("" is Home)')
    parser.add_argument("--server-python", default=sys.executable)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        rows = [measure(args.server_python, path, browser) for path in args.pages]
        browser.close()
    print(f"server: {args.server_python}")
    print("| page | server healthy (s) | first page drawn (s) | server RSS, one session (MB) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['page']} | {row['healthy_s']:.1f} | {row['first_page_s']:.1f} | {row['server_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
