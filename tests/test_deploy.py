"""The hosted-demo recipe: the Dockerfile installs the light requirements and starts ``deploy/start.sh``, and that
start command brings up a healthy server (run here with this interpreter's environment: in CI, a fresh light venv).
There is no Docker engine in CI, so the image itself is not built; its two commands are.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0


def dockerfile_instructions() -> dict[str, list[str]]:
    """Instruction -> its arguments, one entry per occurrence (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def test_the_image_installs_the_light_requirements_and_starts_the_recipe():
    steps = dockerfile_instructions()
    assert "pip install --no-cache-dir -r requirements-app.txt" in steps["RUN"]
    assert steps["CMD"] == ['["sh", "deploy/start.sh"]']
    assert steps["HEALTHCHECK"][0].endswith('CMD ["python", "deploy/healthcheck.py"]')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(port: int) -> int:
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=REPO, env=env, timeout=30).returncode


@pytest.mark.slow
def test_the_start_command_serves_the_app(tmp_path: Path):
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PORT": str(port),
        "FER_HOST": "127.0.0.1",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    assert health(port) == 1, "nothing listens yet: the health check must say so"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["sh", "deploy/start.sh"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while health(port) != 0:
            assert server.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not healthy in {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text()
