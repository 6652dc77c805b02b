"""Nothing leaves the machine: the app server, started as the README starts it, traced with strace while headless
Chromium opens the home page (which loads the default model and analyses a photo) and stays on it for 30 s.

The server runs on the repository's own ``.streamlit/config.toml`` (only the port is given), in an environment
without ``ORT_DISABLE_TELEMETRY``, so the test checks the shipped settings: loopback only, no usage statistics, no
external-IP lookup at start, and no ONNX Runtime telemetry. The browser's own requests must stay on the app's origin.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from network_trace import environment_without, leaks, require_strace, strace_command

from .conftest import CHROMIUM, free_port, running_server

pytestmark = pytest.mark.browser

WATCH_S = 30  # ONNX Runtime's telemetry resolved its host about 9 s after the model loaded
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-extension"}


@pytest.fixture
def traced_server(tmp_path: Path, checkpoints_dir: Path):
    """``streamlit run streamlit_app.py --server.port N`` under strace: (base url, trace log, server log)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `bash .ci/install-browser.sh` (or set FER_CHROMIUM)")
    require_strace()
    port, trace, log_path = free_port(), tmp_path / "trace.txt", tmp_path / "streamlit.log"
    command = strace_command(
        trace, [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    )
    env = {**environment_without("ORT_DISABLE_TELEMETRY"), "FER_CHECKPOINTS_DIR": str(checkpoints_dir)}
    with running_server(command, env, port, log_path) as base_url:
        yield base_url, trace, log_path


def _remote_requests(urls: list[str]) -> list[str]:
    local = {"127.0.0.1", "localhost", "[::1]", "::1"}
    return [url for url in urls if urlparse(url).scheme not in LOCAL_SCHEMES and urlparse(url).hostname not in local]


def test_server_and_page_visit_send_nothing_beyond_loopback(traced_server, page, tmp_path: Path):
    """A tab of the session's browser (one Playwright per test process) visits the traced server."""
    base_url, trace, server_log = traced_server
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(base_url, wait_until="domcontentloaded")
    page.wait_for_selector("[data-test-script-state='notRunning']", state="attached", timeout=120_000)
    page.wait_for_timeout(WATCH_S * 1000)
    found = leaks(trace.read_text())
    assert not found, found[:5]
    assert not _remote_requests(requested), _remote_requests(requested)[:5]
    banner = server_log.read_text()
    assert "External URL" not in banner and "Network URL" not in banner, banner[-1000:]
