"""Every page runs on the shipped ONNX default with torch, torchvision, timm and transformers impossible to import.

This is the light install's promise (``requirements-app.txt``: ONNX Runtime, no torch) checked in the full
environment too: a child interpreter puts a finder first on ``sys.meta_path`` that refuses those packages, then runs
each page with Streamlit's AppTest and reports, per page, the exceptions and error boxes it showed and which module
asked for a refused package. A subprocess, because this test process has imported torch long before (other tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = ("home", "live", "image", "video", "compare", "robustness", "subgroups")
CHILD_TIMEOUT_S = 600

CHILD = r"""
import importlib.abc, json, sys, traceback

REFUSED = {"torch", "torchvision", "timm", "transformers"}
WEBRTC_SESSION = "streamlit_webrtc/session_info.py"
attempts = []


class RefuseTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in REFUSED:
            return None
        callers = [f.f_globals.get("__name__", "?") for f in _frames()]
        attempts.append({"package": name, "from": next((c for c in callers if c.startswith("fer_")), callers[0])})
        raise ImportError(f"{name} is refused in this test (light install)")


def _frames():
    frame = sys._getframe(2)
    while frame is not None:
        if not frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
            yield frame
        frame = frame.f_back


sys.meta_path.insert(0, RefuseTorch())
from streamlit.testing.v1 import AppTest

report = {}
for page in sys.argv[1:]:
    attempts.clear()
    try:
        app = AppTest.from_file(f"pages/{page}.py", default_timeout=240).run()
        # AppTest has no session manager, so streamlit-webrtc stops there (tests/e2e runs it in a browser):
        # that one exception is set aside; the page's imports and everything before the component did run.
        exceptions = [e for e in app.exception if not any(WEBRTC_SESSION in line for line in e.stack_trace)]
        problems = [e.message for e in exceptions] + [str(e.value) for e in app.error]
    except Exception:
        problems = [traceback.format_exc()]
    loaded = sorted(m for m in REFUSED if m in sys.modules)
    report[page] = {"problems": problems, "attempts": list(attempts), "loaded": loaded}
print("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def report() -> dict:
    """Each page's problems and refused imports, from one child interpreter (Streamlit imported once)."""
    if not (REPO_ROOT / "checkpoints" / "default.json").is_file():
        pytest.skip("no shipped default model (checkpoints/default.json)")
    env = {**os.environ, "FER_CHECKPOINTS_DIR": str(REPO_ROOT / "checkpoints"), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *PAGES],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT")]
    assert done.returncode == 0 and lines, f"child exited with {done.returncode}:\n{done.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("REPORT"))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_torch(report: dict, page: str):
    outcome = report[page]
    assert outcome["loaded"] == [], f"{page}: refused packages were imported anyway"
    assert outcome["attempts"] == [], f"{page}: tried to import {outcome['attempts']}"
    assert outcome["problems"] == [], f"{page} showed errors without torch: {outcome['problems']}"
