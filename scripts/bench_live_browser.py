"""Measure the live page as a viewer gets it: the running app, headless Chromium tabs with a fake camera, N at once.

    python scripts/bench_live_browser.py                          # 1 stream, 30 s, this interpreter's install
    python scripts/bench_live_browser.py --sessions 1 2 4 8       # one server's capacity (README table)
    python scripts/bench_live_browser.py --load 2                 # with 2 busy processes beside it
    python scripts/bench_live_browser.py --server-python .venv-light/bin/python   # the light install's server

The server is ``streamlit run streamlit_app.py`` on a free port (the interpreter given), the shipped default model.
Each tab opens the Live page and presses START; Chromium's fake camera plays the moving-face clip
(``fer_core.vision.sample_media``) at ``--camera-fps``. Per stream it reports:

- time to first frame: START pressed -> the page's "Frames processed" above 0 (read every 0.25 s);
- delivered FPS: analysed, annotated frames per second over the window (the counter's rise / the window); the
  remaining frames of the camera are dropped upstream (the server analyses the newest frame, never a queue);
- the server's per-frame breakdown (convert, detect, classify, track, annotate, total; the page's latency caption);
- from the browser's WebRTC statistics: frames the camera sent, frames decoded back, the jitter buffer delay and
  the round-trip time; latency = server total + jitter buffer + round trip (an estimate of camera-to-screen time
  that leaves out the browser's own encode and render).

And for the server over the window: CPU (% of one core, all its threads), peak resident memory, and the error
lines of its log. Chromium runs on the same machine and its CPU is not the server's: say so with the figures.
This is a benchmark script (a machine-dependent measurement), not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
__all__ = ["main", "parse_args"]

CHROMIUM = Path(os.environ.get("FER_CHROMIUM", "/usr/bin/chromium"))
WEBRTC_IFRAME = "iframe[title*='streamlit_webrtc']"
START_BUTTON = re.compile(r"^start$", re.IGNORECASE)
STOP_BUTTON = re.compile(r"^stop$", re.IGNORECASE)
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|Task exception was never retrieved")
# Chromium flags that keep tabs in the background working at full speed (timers, rendering), so N tabs are N users.
NO_BACKGROUND_THROTTLING = (
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
)
# Collects every RTCPeerConnection a frame creates (the streamlit-webrtc iframe), so getStats() can be read.
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__ferPeers) return;
  window.__ferPeers = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__ferPeers.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""
READ_RTC_STATS = """
async () => {
  const out = {sent: 0, decoded: 0, dropped: 0, jitter_s: 0, emitted: 0, rtt_s: null};
  for (const pc of window.__ferPeers || []) {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.sent += s.framesSent || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.decoded += s.framesDecoded || 0;
        out.dropped += s.framesDropped || 0;
        out.jitter_s += s.jitterBufferDelay || 0;
        out.emitted += s.jitterBufferEmittedCount || 0;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined)
        out.rtt_s = s.currentRoundTripTime;
    });
  }
  return out;
}
"""


@dataclass
class StreamResult:
    """One tab's stream over the measuring window."""

    first_frame_s: float | None
    delivered_fps: float = 0.0
    camera_fps_sent: float = 0.0
    decoded_fps: float = 0.0
    frames_dropped_by_browser: int = 0
    jitter_buffer_ms: float | None = None
    rtt_ms: float | None = None
    server_ms: dict[str, float] = field(default_factory=dict)

    @property
    def latency_ms(self) -> float | None:
        if self.jitter_buffer_ms is None or "total" not in self.server_ms:
            return None
        return self.server_ms["total"] + self.jitter_buffer_ms + (self.rtt_ms or 0.0)


@dataclass
class RoundResult:
    """N concurrent streams on one server."""

    sessions: int
    streams: list[StreamResult]
    server_cpu_percent: float
    server_rss_mb: float
    log_errors: int


# ------------------------------------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def app_server(python: str, log_path: Path) -> Iterator[tuple[str, int]]:
    """``streamlit run`` on a free loopback port; yields (base URL, pid); stopped (process group) on exit."""
    port = free_port()
    command = [python, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    command += ["--browser.gatherUsageStats", "false"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, log_path)
        yield url, server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def wait_healthy(url: str, server: subprocess.Popen, log_path: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"no healthy server in {timeout_s:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def cpu_seconds_of(stat_file: Path) -> float:
    fields = stat_file.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` processes spinning on a core each: a second load on the machine."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


# ------------------------------------------------------------------------------------------------ page


def metric(page, label: str) -> float | None:
    """The number of the st.metric labelled ``label`` (None while the fragment redraws it)."""
    locator = page.locator("[data-testid='stMetric']").filter(has_text=label)
    try:
        text = locator.first.locator("[data-testid='stMetricValue']").inner_text(timeout=500)
    except Exception:
        return None
    match = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return float(match.group()) if match else None


def fresh_count(page, timeout_s: float = 20.0) -> tuple[float, float]:
    """("Frames processed", when it was drawn): waits for the panel's next redraw, so a panel that lags behind (a
    busy server redraws it late) does not bias the count at either end of the window."""
    first = metric(page, "Frames processed")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = metric(page, "Frames processed")
        if value is not None and value != first:
            return value, time.monotonic()
        time.sleep(0.05)
    return first or 0.0, time.monotonic()


def server_breakdown(page) -> dict[str, float]:
    """The page's "Latency per frame" caption as {stage: ms}."""
    try:
        text = (
            page.locator("[data-testid='stCaptionContainer']")
            .filter(has_text="Latency per frame")
            .first.inner_text(timeout=1000)
        )
    except Exception:
        return {}
    return {name: float(value) for name, value in re.findall(r"([a-z]+) (\d+(?:\.\d+)?)", text.split("):", 1)[-1])}


def webrtc_frame(page):
    """The streamlit-webrtc iframe's Frame (where the peer connection lives)."""
    handle = page.wait_for_selector(WEBRTC_IFRAME, timeout=120_000)
    return handle.content_frame()


def rtc_stats(page) -> dict:
    try:
        return webrtc_frame(page).evaluate(READ_RTC_STATS)
    except Exception:
        return {}


def open_live_page(context, url: str):
    page = context.new_page()
    page.goto(f"{url}/live", wait_until="domcontentloaded", timeout=180_000)
    page.locator("[data-testid='stMain']").get_by_text("Press START").first.wait_for(timeout=180_000)
    return page


def press(page, name: re.Pattern) -> None:
    page.frame_locator(WEBRTC_IFRAME).get_by_role("button", name=name).click(timeout=60_000)


def wait_first_frames(pages: list, pressed_at: list[float], timeout_s: float) -> list[float | None]:
    """Seconds from each START to its first processed frame (None: not within ``timeout_s``)."""
    first: list[float | None] = [None] * len(pages)
    deadline = time.monotonic() + timeout_s
    while any(value is None for value in first) and time.monotonic() < deadline:
        for i, page in enumerate(pages):
            if first[i] is None and (metric(page, "Frames processed") or 0) > 0:
                first[i] = time.monotonic() - pressed_at[i]
        time.sleep(0.25)
    return first


def measure_round(context, url: str, server_pid: int, log_path: Path, sessions: int, args) -> RoundResult:
    pages = [open_live_page(context, url) for _ in range(sessions)]
    pressed_at = []
    for page in pages:
        press(page, START_BUTTON)
        pressed_at.append(time.monotonic())
    first = wait_first_frames(pages, pressed_at, args.first_frame_timeout)
    time.sleep(args.warmup)
    log_start = log_path.stat().st_size
    before = [(*fresh_count(page), rtc_stats(page)) for page in pages]
    cpu_before, started = cpu_seconds(server_pid), time.monotonic()
    peak_rss = rss_mb(server_pid)
    while time.monotonic() - started < args.seconds:
        time.sleep(1.0)
        peak_rss = max(peak_rss, rss_mb(server_pid))
    cpu = (cpu_seconds(server_pid) - cpu_before) / (time.monotonic() - started) * 100
    streams = []
    for page, (frames_before, at_before, stats_before), first_s in zip(pages, before, first, strict=True):
        frames_after, at_after = fresh_count(page)
        stats_after = rtc_stats(page)
        window = at_after - at_before
        streams.append(stream_result(first_s, frames_after - frames_before, stats_before, stats_after, window, page))
    errors = [line for line in log_path.read_text(errors="replace")[log_start:].splitlines() if LOG_ERROR.search(line)]
    for page in pages:
        with contextlib.suppress(Exception):
            press(page, STOP_BUTTON)
        page.close()
    return RoundResult(sessions, streams, cpu, peak_rss, len(errors))


def stream_result(first_s, frames: float, before: dict, after: dict, window: float, page) -> StreamResult:
    def rate(key: str) -> float:
        return max(0.0, after.get(key, 0) - before.get(key, 0)) / window

    emitted = after.get("emitted", 0) - before.get("emitted", 0)
    jitter = (after.get("jitter_s", 0) - before.get("jitter_s", 0)) / emitted * 1e3 if emitted > 0 else None
    rtt = after.get("rtt_s")
    return StreamResult(
        first_frame_s=first_s,
        delivered_fps=frames / window,
        camera_fps_sent=rate("sent"),
        decoded_fps=rate("decoded"),
        frames_dropped_by_browser=int(after.get("dropped", 0) - before.get("dropped", 0)),
        jitter_buffer_ms=jitter,
        rtt_ms=None if rtt is None else rtt * 1e3,
        server_ms=server_breakdown(page),
    )


# ------------------------------------------------------------------------------------------------ report


def summary_rows(rounds: Sequence[RoundResult]) -> list[dict]:
    """One row per N: the worst and mean stream, the server's CPU and memory, log errors."""
    rows = []
    for result in rounds:
        fps = [s.delivered_fps for s in result.streams]
        first = [s.first_frame_s for s in result.streams if s.first_frame_s is not None]
        latency = [s.latency_ms for s in result.streams if s.latency_ms is not None]
        totals = [s.server_ms.get("total") for s in result.streams if s.server_ms.get("total") is not None]
        rows.append(
            {
                "streams": result.sessions,
                "fps_min": min(fps),
                "fps_mean": sum(fps) / len(fps),
                "camera_fps": sum(s.camera_fps_sent for s in result.streams) / len(result.streams),
                "first_frame_s_max": max(first) if first else None,
                "no_first_frame": len(result.streams) - len(first),
                "server_ms_per_frame": sum(totals) / len(totals) if totals else None,
                "latency_ms": sum(latency) / len(latency) if latency else None,
                "server_cpu_percent": result.server_cpu_percent,
                "server_rss_mb": result.server_rss_mb,
                "log_errors": result.log_errors,
            }
        )
    return rows


def markdown(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> str:
    """A markdown table: the header, the alignment row (``r`` right, ``l`` left, one letter per column), a line per
    row of cells."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return "\n".join(["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(cells) + " |" for cells in rows)])


def missing_chromium() -> bool:
    """True, with how to install it printed, when the Chromium the browser benchmarks drive is absent."""
    if CHROMIUM.is_file():
        return False
    print(f"no Chromium at {CHROMIUM}: run `bash .ci/install-browser.sh` (or set FER_CHROMIUM)", file=sys.stderr)
    return True


def markdown_table(rows: Sequence[dict]) -> str:
    def cell(value, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    def cells(row: dict) -> list[str]:
        first = cell(row["first_frame_s_max"])
        if row["no_first_frame"]:
            first += f" ({row['no_first_frame']} never)"
        return [
            str(row["streams"]),
            f"{cell(row['fps_min'])} / {cell(row['fps_mean'])}",
            cell(row["camera_fps"]),
            first,
            cell(row["server_ms_per_frame"]),
            cell(row["latency_ms"], 0),
            cell(row["server_cpu_percent"], 0),
            cell(row["server_rss_mb"], 0),
            str(row["log_errors"]),
        ]

    header = [
        "streams", "delivered FPS per stream (min / mean)", "camera FPS sent", "first frame (s, slowest)",
        "server ms/frame", "latency ms (est.)", "server CPU %", "server RSS MB", "log errors",
    ]  # fmt: skip
    return markdown(header, map(cells, rows), "r" * len(header))


def chromium_args(camera: Path) -> list[str]:
    """Headless Chromium with the fake camera, kept from throttling the streams of tabs in the background."""
    from fer_core.vision.sample_media import chromium_camera_args

    return [*chromium_camera_args(camera), *NO_BACKGROUND_THROTTLING]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1], help="concurrent streams per round")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window per round")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after the first frames before measuring")
    parser.add_argument("--first-frame-timeout", type=float, default=90.0)
    parser.add_argument("--camera-fps", type=int, default=15)
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the benchmark (a second load)")
    parser.add_argument("--server-python", default=sys.executable, help="interpreter of the app server (its install)")
    parser.add_argument("--json", type=Path, help="write every stream's figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    from fer_core.vision.sample_media import write_y4m

    if missing_chromium():
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        camera = write_y4m(work / "face.y4m", args.camera_fps * 4, fps=args.camera_fps)
        rounds = []
        server = app_server(args.server_python, work / "server.log")
        with server as (url, pid), busy_processes(args.load), sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(work / "profile"),
                executable_path=str(CHROMIUM),
                headless=True,
                args=chromium_args(camera),
                viewport={"width": 1280, "height": 800},
                permissions=["camera"],
            )
            context.add_init_script(RECORD_PEER_CONNECTIONS)
            for sessions in args.sessions:
                rounds.append(measure_round(context, url, pid, work / "server.log", sessions, args))
                print(markdown_table(summary_rows(rounds[-1:])).splitlines()[-1], flush=True)
            context.close()
    rows = summary_rows(rounds)
    print(f"\nserver: {args.server_python}; camera {args.camera_fps} FPS 640x480; busy processes: {args.load}")
    print(markdown_table(rows))
    if args.json:
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
        payload["streams"] = [[asdict(s) for s in r.streams] for r in rounds]
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
