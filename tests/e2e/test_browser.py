"""End to end in headless Chromium: every page loads without an error, the live page analyses camera frames
(starting, live and stopped states), the image page finds every face of an uploaded group photo, and the video
page's annotated clip is one Chromium decodes.

The live test presses START in the streamlit-webrtc component (an iframe), lets Chromium's fake camera stream a
real face, and reads the "Frames processed" metric rendered by the page outside the iframe: it can only rise if
frames travelled browser -> server over WebRTC and through the server-side pipeline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

# url path (as st.navigation derives it from each page file name; "" is the default page) -> screenshot name; None
# where a test of its own takes the page's README picture with a result on it, not the empty page
PAGES = {
    "": "home",
    "live": "live_idle",
    "image": None,
    "video": None,
    "compare": "compare",
    "robustness": "robustness",
    "subgroups": "subgroups",
    "errors": "errors",
}
# Streamlit serves st.image pixels as media files fetched after the page is drawn
IMAGES_LOADED = (
    "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')].every(i => i.complete && i.naturalWidth > 0)"
)
ERROR_SELECTORS = ("[data-testid='stException']", "[data-testid='stAlertContentError']")
WEBRTC_IFRAME = "iframe[title*='streamlit_webrtc']"
PAGE_LOAD_TIMEOUT_S = 60.0
FIRST_FRAMES_TIMEOUT_S = 60.0


def wait_until_idle(page, timeout_s: float = PAGE_LOAD_TIMEOUT_S) -> None:
    """Wait until the page's script has run to the end and drawn something in the main area."""
    timeout_ms = timeout_s * 1000
    page.locator("[data-testid='stMainBlockContainer'] > div").first.wait_for(timeout=timeout_ms)
    page.wait_for_selector("[data-test-script-state='notRunning']", state="attached", timeout=timeout_ms)


def open_page(page, base_url: str, path: str) -> None:
    page.goto(f"{base_url}/{path}", wait_until="domcontentloaded")
    wait_until_idle(page)


def page_errors(page) -> list[str]:
    """Texts of every exception box and st.error on the page (empty when all is well)."""
    texts = []
    for selector in ERROR_SELECTORS:
        texts.extend(page.locator(selector).all_inner_texts())
    return texts


def metric_value(page, label: str) -> float | None:
    """The number shown by the st.metric labelled ``label``, or ``None`` while it is not rendered."""
    metric = page.locator("[data-testid='stMetric']", has_text=label).locator("[data-testid='stMetricValue']")
    try:
        text = metric.first.inner_text(timeout=1000)
    except Exception:  # the fragment replaces its elements every second; try again on the next poll
        return None
    match = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return float(match.group()) if match else None


def poll_metric(page, label: str, accept: Callable[[float], bool], timeout_s: float) -> float:
    """Read the metric every half second until ``accept(value)``; fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = metric_value(page, label)
        if value is not None and accept(value):
            return value
        page.wait_for_timeout(500)
    raise AssertionError(f"metric {label!r} never satisfied the check within {timeout_s:.0f} s (last: {value})")


# Streamlit draws a grey skeleton where an element is still to come and marks elements of the previous run stale
# while it reruns; a picture taken then shows placeholders instead of the page.
PAGE_SETTLED = (
    '() => !document.querySelector(\'[data-testid="stSkeleton"], [data-stale="true"]\')'
    " && document.querySelector('[data-test-script-state=\"notRunning\"]') !== null"
)


def save_screenshot(page, directory: Path | None, name: str | None) -> None:
    """Save the page as ``name``.png in ``directory`` (screenshots on), once no placeholder is left on it."""
    if directory is not None and name is not None:
        page.wait_for_function(PAGE_SETTLED, timeout=PAGE_LOAD_TIMEOUT_S * 1000)
        page.screenshot(path=str(directory / f"{name}.png"))


def navigation_paths(page) -> set[str]:
    """URL paths of the sidebar's navigation links ("" for the default page)."""
    links = page.locator("[data-testid='stSidebarNavLink']")
    links.first.wait_for()
    return {urlparse(links.nth(i).get_attribute("href") or "").path.strip("/") for i in range(links.count())}


def test_deep_link_on_a_fresh_server_shows_the_app_navigation(page, app_url):
    """Runs first, on a server no one has visited: a bookmarked page must get the app's own navigation.

    Streamlit decides per process, on the first script run, whether a ``pages/`` folder means the legacy
    auto-discovered navigation; if that first run is a deep link, ``st.navigation`` is never reached.
    """
    open_page(page, app_url, "live")
    assert navigation_paths(page) == set(PAGES)


@pytest.mark.parametrize("path", list(PAGES))
def test_page_loads_without_errors(page, app_url, screenshots_dir, path):
    open_page(page, app_url, path)
    assert page.url.rstrip("/") == f"{app_url}/{path}".rstrip("/"), "the page redirected elsewhere"
    assert page_errors(page) == []
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()
    assert navigation_paths(page) == set(PAGES)
    save_screenshot(page, screenshots_dir, PAGES[path])


def wait_for_text(page, text: str | re.Pattern[str], timeout_s: float) -> None:
    """Wait until ``text`` is visible in the page's main area (the fragments redraw it every second)."""
    page.locator("[data-testid='stMain']").get_by_text(text).first.wait_for(state="visible", timeout=timeout_s * 1000)


# After START the panel says "Starting" until the first frame, then "live". On a busy machine the first frame can
# arrive before the page's next run, which then goes straight to "live": either state shows that START was taken.
STARTING_OR_LIVE = re.compile(r"Starting: the browser asks for the camera|Stream: live")


def test_live_page_goes_through_starting_live_and_stopped(page, app_url, screenshots_dir, server_log):
    """START shows a "starting" state until the first frame, then live numbers; STOP shows "stopped" and 0 FPS."""
    open_page(page, app_url, "live")
    wait_for_text(page, "Press START", 20.0)
    webrtc = page.frame_locator(WEBRTC_IFRAME)
    webrtc.get_by_role("button", name=re.compile(r"^start$", re.IGNORECASE)).click()
    wait_for_text(page, STARTING_OR_LIVE, 20.0)
    first = poll_metric(page, "Frames processed", lambda v: v > 0, FIRST_FRAMES_TIMEOUT_S)
    later = poll_metric(page, "Frames processed", lambda v: v > first, 20.0)
    assert later > first
    wait_for_text(page, "Stream: live", 10.0)
    assert poll_metric(page, "FPS", lambda v: v > 0, 10.0) > 0
    faces = poll_metric(page, "Most faces in a frame", lambda v: v > 0, 20.0)
    assert faces >= 1, "the fake camera shows a real face; the detector should find it"
    assert page_errors(page) == []
    save_screenshot(page, screenshots_dir, "live")
    webrtc.get_by_role("button", name=re.compile(r"^stop$", re.IGNORECASE)).click()
    wait_for_text(page, "Stopped. Press START", 20.0)
    assert poll_metric(page, "FPS", lambda v: v == 0, 10.0) == 0, "a stopped stream has no frame rate"
    # Start again (fresh numbers) and stop again: neither teardown may leave an error in the server log. The
    # panel still shows the first stream's frame count until the page has seen the new START, so the new stream
    # is known to be live by its state line, not by that count.
    webrtc.get_by_role("button", name=re.compile(r"^start$", re.IGNORECASE)).click()
    wait_for_text(page, "Stream: live", FIRST_FRAMES_TIMEOUT_S)
    webrtc.get_by_role("button", name=re.compile(r"^stop$", re.IGNORECASE)).click()
    wait_for_text(page, "Stopped. Press START", 20.0)
    page.wait_for_timeout(3000)  # give the server time to tear the connection down
    log = server_log.read_text(errors="replace")
    assert "Task exception was never retrieved" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_image_page_finds_every_face_of_an_uploaded_group_photo(page, app_url, screenshots_dir, group_photo_file):
    path, count = group_photo_file
    open_page(page, app_url, "image")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(path))
    wait_for_text(page, f"{count} faces found, numbered in reading order", PAGE_LOAD_TIMEOUT_S)
    wait_until_idle(page)
    assert page_errors(page) == []
    assert "No face was found" not in page.locator("[data-testid='stMain']").inner_text()
    save_screenshot(page, screenshots_dir, "image")
    page.get_by_text("What drove the answer?").first.click()
    wait_for_text(page, "faces in one batch", PAGE_LOAD_TIMEOUT_S)
    wait_until_idle(page)
    assert page_errors(page) == []
    toggle = page.get_by_text("What drove the answer?").first
    page.evaluate("(el) => el.scrollIntoView({block: 'start'})", toggle.element_handle())
    page.wait_for_function(IMAGES_LOADED, timeout=PAGE_LOAD_TIMEOUT_S * 1000)
    save_screenshot(page, screenshots_dir, "saliency")


# (url path, heading to scroll to or tab to click, screenshot name): the dashboard views the README shows
DASHBOARD_VIEWS = [
    ("compare", "Compare two models", "compare_pair"),
    ("compare", "Calibration", "calibration"),
    ("robustness", "tab:Corruptions", "corruptions"),
    ("subgroups", "The gap across models", "subgroup_gaps"),
]


@pytest.mark.parametrize(("path", "target", "name"), DASHBOARD_VIEWS, ids=[v[2] for v in DASHBOARD_VIEWS])
def test_dashboard_view_renders(page, app_url, screenshots_dir, path, target, name):
    open_page(page, app_url, path)
    if target.startswith("tab:"):
        page.get_by_role("tab", name=target.removeprefix("tab:")).click()
        wait_until_idle(page)
        page.wait_for_timeout(1500)  # plotly draws after the tab switch
    else:
        heading = page.locator("[data-testid='stHeading']", has_text=target).first
        heading.scroll_into_view_if_needed()
        page.evaluate("(el) => el.scrollIntoView({block: 'start'})", heading.element_handle())
        page.wait_for_function(IMAGES_LOADED, timeout=PAGE_LOAD_TIMEOUT_S * 1000)
        page.wait_for_timeout(1500)
    assert page_errors(page) == []
    save_screenshot(page, screenshots_dir, name)


# The <video> element's readyState once it holds decoded frames (HAVE_CURRENT_DATA or more), or its error code
VIDEO_DECODED = "(el) => el.error ? -el.error.code : el.readyState"


def test_video_page_annotates_the_sample_clip_and_the_browser_plays_it(page, app_url, screenshots_dir):
    """The processed clip must be something Chromium decodes (H.264), and its timeline chart must be drawn."""
    open_page(page, app_url, "video")
    page.locator("[data-testid='stCheckbox']", has_text="Use a sample clip").locator("label").click()
    page.get_by_role("button", name="Process video").click()
    wait_for_text(page, re.compile(r"Processed [\d,]+ frames in"), PAGE_LOAD_TIMEOUT_S)
    wait_until_idle(page)
    assert page_errors(page) == []
    video = page.locator("[data-testid='stVideo']").first
    video.wait_for(timeout=PAGE_LOAD_TIMEOUT_S * 1000)
    deadline = time.monotonic() + PAGE_LOAD_TIMEOUT_S
    state = video.evaluate(VIDEO_DECODED)
    while 0 <= state < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        state = video.evaluate(VIDEO_DECODED)
    assert state >= 2, f"Chromium could not decode the annotated video (readyState or -error code: {state})"
    assert video.evaluate("(el) => el.duration") > 0
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 1, "no emotion timeline was drawn"
    timeline = page.locator("[data-testid='stPlotlyChart']").first
    page.evaluate("(el) => el.scrollIntoView({block: 'end'})", timeline.element_handle())
    page.wait_for_timeout(1500)  # plotly draws after scrolling into view
    save_screenshot(page, screenshots_dir, "video")
