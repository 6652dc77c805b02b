"""One server's capacity for photo analyses: N browser tabs upload the same photo to the Image page at once.

    python scripts/bench_photo_concurrency.py                          # 1 upload, this interpreter's install
    python scripts/bench_photo_concurrency.py --sessions 1 2 4 8       # one server's capacity (README table)
    python scripts/bench_photo_concurrency.py --sessions 1 2 --json photo.json

The server is ``streamlit run streamlit_app.py`` on a free port with the shipped default model (the server helpers
of ``bench_live_browser.py``). The photo is the project's own multi-face sample frame
(``fer_core.vision.sample_media.multi_face_frame``: four real faces) at 1280x960, as a JPEG. One upload on a tab of
its own runs first and is not counted, so no round pays for the first inference's warm-up.

Per round of N: N fresh tabs (N sessions) open the Image page and wait until it is drawn; then each tab's file
input gets the photo, one tab right after the other (the spread is printed), and per tab the time is measured from
its upload to the page showing its result: the "N faces found" caption and the per-face table drawn, the script
finished, and every image (the annotated photo) loaded. The browser records that moment itself, so polling the
tabs from here adds no delay. A tab that shows an error, finds no face or has no result within ``--timeout``
counts as failed, with the reason. For the server over the round (first upload to last result): CPU (% of one
core, all its threads), peak resident memory, and the error lines of its log.

Chromium runs on the same machine and its CPU is not the server's: say so with the figures. This is a benchmark
script (machine-dependent figures), not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_live_browser import (
    CHROMIUM,
    LOG_ERROR,
    NO_BACKGROUND_THROTTLING,
    app_server,
    cpu_seconds,
    markdown,
    missing_chromium,
    rss_mb,
)

__all__ = ["main", "parse_args"]

PHOTO_SIZE = (1280, 960)
FILE_INPUT = "[data-testid='stFileUploader'] input[type='file']"
FACES_FOUND = re.compile(r"(\d+) faces? found")
# Installed in a tab before its upload: every 50 ms, checks whether the result is on the page and, the first time
# it is (or an error or a no-face warning is), keeps the moment (Date.now(), ms) and what the page says.
WATCH_FOR_RESULT = """
() => {
  window.__ferResult = null;
  const timer = setInterval(() => {
    const main = document.querySelector("[data-testid='stMain']");
    if (!main || !document.querySelector("[data-test-script-state='notRunning']")) return;
    const errors = [...main.querySelectorAll("[data-testid='stException'], [data-testid='stAlertContentError']")];
    const text = main.innerText;
    const images = [...main.querySelectorAll("[data-testid='stImage'] img")];
    const drawn = images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0)
      && main.querySelector("[data-testid='stDataFrame']") !== null;
    let outcome = null;
    if (errors.length) outcome = {ok: false, detail: errors.map((e) => e.innerText).join(" | ")};
    else if (text.includes("No face was found")) outcome = {ok: false, detail: "no face found"};
    else if (text.includes("found, numbered in reading order") && drawn) {
      const caption = [...main.querySelectorAll("[data-testid='stCaptionContainer']")]
        .map((c) => c.innerText).find((t) => t.includes("found, numbered"));
      outcome = {ok: true, detail: caption || ""};
    }
    if (outcome) {
      window.__ferResult = {...outcome, at_ms: Date.now()};
      clearInterval(timer);
    }
  }, 50);
}
"""


@dataclass
class PageResult:
    """One tab's upload: seconds to its result (None when it failed), faces on the page, why it failed."""

    seconds: float | None
    faces: int | None = None
    failure: str | None = None


@dataclass
class RoundResult:
    """N tabs uploading at once to one server."""

    sessions: int
    pages: list[PageResult]
    upload_spread_s: float
    server_cpu_percent: float
    server_rss_mb: float
    log_errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ photo and page


def write_photo(path: Path) -> Path:
    """The multi-face sample frame at PHOTO_SIZE as a JPEG (quality 92, as a camera would save it)."""
    import cv2

    from fer_core.vision.sample_media import multi_face_frame

    cv2.imwrite(str(path), multi_face_frame(PHOTO_SIZE), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def open_image_page(context, url: str, timeout_s: float):
    """A new tab on the Image page, drawn (its script finished), with the result watcher installed."""
    page = context.new_page()
    page.goto(f"{url}/image", wait_until="domcontentloaded", timeout=timeout_s * 1000)
    page.locator(FILE_INPUT).wait_for(state="attached", timeout=timeout_s * 1000)
    page.wait_for_selector("[data-test-script-state='notRunning']", state="attached", timeout=timeout_s * 1000)
    page.evaluate(WATCH_FOR_RESULT)
    return page


def upload_all(pages: list, photo: Path) -> list[float]:
    """Give every tab's file input the photo, one right after the other; the wall-clock time of each upload."""
    inputs = [page.locator(FILE_INPUT).element_handle() for page in pages]  # found first: nothing slow between uploads
    started = []
    for file_input in inputs:
        started.append(time.time())  # wall clock, the same clock as the browser's Date.now()
        file_input.set_input_files(str(photo))
    return started


def page_outcome(page) -> dict | None:
    """What the tab's watcher recorded (None while it waits, or when the tab cannot be read)."""
    try:
        return page.evaluate("window.__ferResult")
    except Exception:
        return None


def page_result(outcome: dict | None, started: float, timeout_s: float) -> PageResult:
    """A tab's result from its watcher's record (None: no result within the timeout)."""
    if outcome is None:
        return PageResult(None, failure=f"no result in {timeout_s:.0f} s")
    if not outcome["ok"]:
        return PageResult(None, failure=outcome["detail"][:200])
    match = FACES_FOUND.search(outcome["detail"])
    return PageResult(outcome["at_ms"] / 1000 - started, faces=int(match.group(1)) if match else None)


def wait_for_results(pages: list, server_pid: int, timeout_s: float) -> tuple[list[dict | None], float]:
    """Poll the tabs until each has an outcome or the timeout passes; the outcomes and the server's peak RSS."""
    outcomes: list[dict | None] = [None] * len(pages)
    peak_rss = rss_mb(server_pid)
    deadline = time.monotonic() + timeout_s
    while any(o is None for o in outcomes) and time.monotonic() < deadline:
        time.sleep(0.25)
        peak_rss = max(peak_rss, rss_mb(server_pid))
        outcomes = [o if o is not None else page_outcome(p) for o, p in zip(outcomes, pages, strict=True)]
    return outcomes, peak_rss


def measure_round(context, url: str, server_pid: int, log_path: Path, photo: Path, sessions: int, args) -> RoundResult:
    """N fresh tabs on the Image page upload the photo at once; per tab the time to its result, and the server."""
    pages = [open_image_page(context, url, args.timeout) for _ in range(sessions)]
    log_start = log_path.stat().st_size
    cpu_before, window_start = cpu_seconds(server_pid), time.monotonic()
    started = upload_all(pages, photo)
    outcomes, peak_rss = wait_for_results(pages, server_pid, args.timeout)
    cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - window_start) * 100
    log = log_path.read_bytes()[log_start:].decode(errors="replace")
    errors = [line for line in log.splitlines() if LOG_ERROR.search(line)]
    for page in pages:
        page.close()
    results = [page_result(o, t, args.timeout) for o, t in zip(outcomes, started, strict=True)]
    return RoundResult(sessions, results, started[-1] - started[0], cpu, peak_rss, errors)


# ------------------------------------------------------------------------------------------------ report


def spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(min, median, max) of ``values``; None when there are none (every tab failed)."""
    if not values:
        return None
    return min(values), statistics.median(values), max(values)


def failures(pages: Sequence[PageResult]) -> str:
    """The failed tabs as "count (reason; reason)", each reason once; "-" when every tab succeeded."""
    reasons = [p.failure for p in pages if p.failure is not None]
    if not reasons:
        return "-"
    return f"{len(reasons)} ({'; '.join(dict.fromkeys(reasons))})"


def summary_rows(rounds: Sequence[RoundResult]) -> list[dict]:
    """One row per N: successes, upload-to-result seconds (min / median / max), faces found, the server's load."""
    rows = []
    for result in rounds:
        done = [p for p in result.pages if p.seconds is not None]
        rows.append(
            {
                "sessions": result.sessions,
                "succeeded": len(done),
                "seconds": spread([p.seconds for p in done]),
                "faces": sorted({p.faces for p in done if p.faces is not None}),
                "failed": failures(result.pages),
                "upload_spread_s": result.upload_spread_s,
                "server_cpu_percent": result.server_cpu_percent,
                "server_rss_mb": result.server_rss_mb,
                "log_errors": len(result.log_errors),
            }
        )
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows as the README's markdown table."""

    def cells(row: dict) -> list[str]:
        return [
            str(row["sessions"]),
            f"{row['succeeded']}/{row['sessions']}",
            " / ".join(f"{s:.1f}" for s in row["seconds"]) if row["seconds"] else "-",
            ", ".join(map(str, row["faces"])) or "-",
            str(row["failed"]),
            f"{row['server_cpu_percent']:.0f}",
            f"{row['server_rss_mb']:.0f}",
            str(row["log_errors"]),
        ]

    header = [
        "uploads at once", "succeeded", "upload to result s (min / median / max)", "faces found", "failed (why)",
        "server CPU %", "server RSS MB (peak)", "log errors",
    ]  # fmt: skip
    return markdown(header, map(cells, rows), "rrrrlrrr")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1], help="tabs uploading at once, per round")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a round waits for every result")
    parser.add_argument("--server-python", default=sys.executable, help="interpreter of the app server (its install)")
    parser.add_argument("--json", type=Path, help="write every tab's figures here")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.sessions):
        parser.error("--sessions: every round needs at least one tab")
    return args


# ------------------------------------------------------------------------------------------------ run


def run_rounds(args, work: Path) -> list[RoundResult]:
    """The server, Chromium, the uncounted warm-up upload, then one round per ``--sessions`` value."""
    from playwright.sync_api import sync_playwright

    photo = write_photo(work / "group.jpg")
    log_path = work / "server.log"
    rounds = []
    with app_server(args.server_python, log_path) as (url, pid), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", *NO_BACKGROUND_THROTTLING]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        warmup = measure_round(context, url, pid, log_path, photo, 1, args)
        print(f"warm-up upload (not counted): {failures(warmup.pages)} failed", flush=True)
        for sessions in args.sessions:
            rounds.append(measure_round(context, url, pid, log_path, photo, sessions, args))
            print(markdown_table(summary_rows(rounds[-1:])).splitlines()[-1], flush=True)
        browser.close()
    return rounds


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if missing_chromium():
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        rounds = run_rounds(args, Path(tmp))
    rows = summary_rows(rounds)
    width, height = PHOTO_SIZE
    print(f"\nserver: {args.server_python}; photo {width}x{height} JPEG; uploads started within (s): ", end="")
    print(", ".join(f"{r['upload_spread_s']:.2f}" for r in rows))
    print(markdown_table(rows))
    for result in rounds:
        for line in result.log_errors[:5]:
            print(f"log error ({result.sessions} at once): {line}")
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
        payload["rounds"] = [asdict(r) for r in rounds]
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
