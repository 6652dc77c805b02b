"""Browser-test harness: the Streamlit app as a subprocess, and headless Chromium with a fake camera showing a face.

The browser is Debian's system Chromium (``.ci/install-browser.sh``) driven by Playwright; no browser is downloaded.
Chromium's fake capture device plays a Y4M file of a real face (``fer_core.vision.sample_media.write_y4m``), so the live
page receives webcam frames with a face in them and the server-side pipeline can be checked end to end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO_ROOT, make_tiny_model_dir

CHROMIUM = Path(os.environ.get("FER_CHROMIUM", "/usr/bin/chromium"))
SERVER_START_TIMEOUT_S = 90.0
VIEWPORT = {"width": 1280, "height": 800}
FAKE_CAMERA_FRAMES = 60  # 4 s at 15 FPS; Chromium loops the file


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(base_url: str, server: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    """Poll Streamlit's health endpoint until it answers "ok"; fail early (with the log) if the server dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"streamlit did not become healthy in {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group (streamlit may spawn helpers), SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


@contextmanager
def running_server(command: list[str], env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """Start ``command`` (a Streamlit server on ``port``, output to ``log_path``), yield its base URL once it is
    healthy, and stop it (with the helpers it spawned) afterwards."""
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, server, log_path, SERVER_START_TIMEOUT_S)
        yield base_url
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def checkpoints_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped checkpoints when a default model is configured, else a tiny random model as the default."""
    shipped = REPO_ROOT / "checkpoints"
    if (shipped / "default.json").is_file():
        return shipped
    root = tmp_path_factory.mktemp("checkpoints")
    make_tiny_model_dir(root / "tiny_cnn")
    (root / "default.json").write_text(json.dumps({"model": "tiny_cnn"}))
    return root


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the app server's stdout and stderr go (tests read it for errors the page does not show)."""
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="session")
def app_url(checkpoints_dir: Path, server_log: Path) -> Iterator[str]:
    """Base URL of ``streamlit run streamlit_app.py`` on a free port, stopped after the session."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `bash .ci/install-browser.sh` (or set FER_CHROMIUM)")
    port = free_port()
    log_path = server_log
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    env = {**os.environ, "FER_CHECKPOINTS_DIR": str(checkpoints_dir), "PYTHONUNBUFFERED": "1"}
    with running_server(command, env, port, log_path) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def fake_camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fer_core.vision.sample_media import write_y4m

    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", FAKE_CAMERA_FRAMES)


def chromium_args(fake_camera: Path) -> list[str]:
    """Headless, offline-quiet Chromium whose camera is the Y4M file and whose permission prompts say yes."""
    from fer_core.vision.sample_media import chromium_camera_args

    return [*chromium_camera_args(fake_camera), "--disable-quic", "--disable-sync"]


@pytest.fixture(scope="session")
def browser_context(fake_camera_file: Path, tmp_path_factory: pytest.TempPathFactory, app_url: str):
    """A persistent Chromium context with a fresh profile directory (Playwright's way to pass --user-data-dir)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=chromium_args(fake_camera_file),
            viewport=VIEWPORT,
            permissions=["camera"],
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context):
    """A new tab, closed after the test."""
    tab = browser_context.new_page()
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture(scope="session")
def group_photo_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A JPEG group photo of real faces in two rows (``fer_core.bench.detection.group_photo``) and its face count."""
    import cv2

    from fer_core.bench.detection import group_photo

    scene = group_photo()
    path = tmp_path_factory.mktemp("upload") / "group_photo.jpg"
    cv2.imwrite(str(path), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path, len(scene.boxes)


@pytest.fixture(scope="session")
def screenshots_dir() -> Path | None:
    """Where to save page screenshots (``FER_SCREENSHOTS_DIR``), or ``None`` when screenshots are off."""
    value = os.environ.get("FER_SCREENSHOTS_DIR")
    if not value:
        return None
    directory = Path(value)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
