"""LiveProcessor: per-frame annotation, statistics, timeline, snapshots, live settings, thread safety."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading

import cv2
import numpy as np
import pytest

from fer_core.apps import live
from fer_core.apps.live import LiveProcessor, hud_lines, main_face, rtc_configuration, stream_state
from fer_core.labels import FER2013, FERPLUS
from fer_core.vision.detect import create_detector
from fer_core.vision.pipeline import PipelineSettings, frames_table
from fer_core.vision.sample_media import moving_face_frames

FRAME_SIZE = (640, 480)


class PeakedClassifier:
    """Puts ``peak`` probability on class ``winner`` and spreads the rest evenly."""

    def __init__(self, labels=FER2013.names, winner: int = 3, peak: float = 0.7) -> None:
        self.labels = tuple(labels)
        self.winner, self.peak = winner, peak

    def predict(self, crops):
        n = len(self.labels)
        probs = np.full((len(crops), n), (1.0 - self.peak) / (n - 1), np.float32)
        probs[:, self.winner] = self.peak
        return probs


class FixedDetector:
    """Reports the same boxes on every frame."""

    def __init__(self, boxes) -> None:
        self.boxes = np.asarray(boxes, np.int32).reshape(-1, 4)

    def detect(self, frame):
        return self.boxes.copy(), np.full(len(self.boxes), 0.9, np.float32)


class StepClock:
    """A clock that advances by ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.step, self.now = step, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


TWO_FACES = [(40, 40, 200, 220), (300, 100, 420, 240)]


def _frame(value: int = 90) -> np.ndarray:
    return np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), value, np.uint8)


def _processor(boxes=TWO_FACES, clock=None, **kwargs) -> LiveProcessor:
    options = {"clock": clock} if clock else {}
    return LiveProcessor(PeakedClassifier(), FixedDetector(boxes), **options, **kwargs)


@pytest.mark.parametrize("boxes", [[], TWO_FACES[:1], TWO_FACES])
def test_process_annotates_a_copy_and_counts_faces(boxes):
    processor = _processor(boxes)
    frame = _frame()
    for _ in range(3):
        out = processor.process(frame)
    stats = processor.stats()
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.all(frame == 90), "the input frame must not be drawn on"
    assert not np.array_equal(out, frame), "the HUD is drawn even without faces"
    assert stats.frames_processed == 3
    assert stats.faces_in_last_frame == len(boxes) == stats.max_faces_seen
    assert stats.last_labels == ("happy",) * len(boxes)


@pytest.mark.parametrize("step", [1 / 30, 1 / 12, 0.5])
def test_fps_follows_frame_arrival_times(step):
    processor = _processor(clock=StepClock(step))
    assert processor.stats().fps == 0.0
    for _ in range(10):
        processor.process(_frame())
    # One clock read per frame in process() plus the stats() read: frames arrive exactly ``step`` apart.
    assert processor.stats().fps == pytest.approx(1.0 / step, rel=1e-6)


def test_latency_has_every_stage_and_total_covers_them():
    processor = _processor()
    assert processor.stats().latency_ms == {}
    for _ in range(4):
        processor.process(_frame())
    latency = processor.stats().latency_ms
    assert set(latency) == {*live.LIVE_STAGES, "total"}
    assert all(v >= 0.0 for v in latency.values())
    assert latency["total"] >= sum(latency[stage] for stage in live.LIVE_STAGES) * 0.999


def test_seconds_since_last_frame_tracks_the_clock():
    processor = _processor(clock=StepClock(0.25))
    assert processor.stats().seconds_since_last_frame is None
    processor.process(_frame())
    assert processor.stats().seconds_since_last_frame == pytest.approx(0.25)


def test_main_face_is_the_largest_classified_face():
    processor = _processor()
    processor.process(_frame())
    (point,) = processor.timeline()[-1].faces
    result_boxes = {face.track_id: face.box for face in processor._last_result.faces}
    assert result_boxes[point.track_id] == TWO_FACES[0]
    assert main_face(processor._last_result).box == TWO_FACES[0]
    assert point.label == "happy" and len(point.probabilities) == len(FER2013.names)
    assert sum(point.probabilities) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("window_s, expected", [(None, 20), (1.0, 5), (0.0, 1), (100.0, 20)])
def test_timeline_window_keeps_the_last_seconds(window_s, expected):
    processor = _processor(clock=StepClock(0.25))  # binary-exact steps: no rounding at the window edge
    for _ in range(20):
        processor.process(_frame())
    points = processor.timeline(window_s)
    assert len(points) == expected
    assert [p.timestamp for p in points] == sorted(p.timestamp for p in points)


@pytest.mark.parametrize(("frames", "max_points", "expected"), [(20, 5, 5), (20, 20, 20), (7, 10, 7), (900, 120, 120)])
def test_timeline_thins_evenly_and_keeps_the_newest(frames, max_points, expected):
    processor = _processor(clock=StepClock(0.25))
    for _ in range(frames):
        processor.process(_frame())
    everything = processor.timeline()
    points = processor.timeline(max_points=max_points)
    assert len(points) == expected
    assert points[-1] is everything[-1] or points[-1].timestamp == everything[-1].timestamp
    stamps = [p.timestamp for p in points]
    assert stamps == sorted(set(stamps)), "oldest first, no point twice"
    gaps = np.diff(stamps)
    assert gaps.max() - gaps.min() <= 0.25 + 1e-9 if len(gaps) else True, "evenly spread (within one frame)"


def test_timeline_is_bounded_and_keeps_the_newest(monkeypatch):
    monkeypatch.setattr(live, "TIMELINE_MAX_POINTS", 4)
    processor = _processor(boxes=TWO_FACES[:1], clock=StepClock(1.0))
    for _ in range(10):
        processor.process(_frame())
    times = [point.timestamp for point in processor.timeline()]
    assert len(times) == 4
    assert times == sorted(times) and times[-1] == max(times)
    assert processor.stats().frames_processed == 10


def test_no_face_adds_no_timeline_point():
    processor = _processor(boxes=[])
    processor.process(_frame())
    assert processor.timeline() == []


@pytest.mark.parametrize(
    "changes, attribute, expected",
    [
        ({"confidence_threshold": 0.9}, "confidence_threshold", 0.9),
        ({"smoothing": 0.0}, "smoothing", 0.0),
        ({"crop_margin": 0.3}, "crop_margin", 0.3),
    ],
)
def test_update_settings_applies_between_frames(changes, attribute, expected):
    processor = _processor()
    processor.process(_frame())
    settings = processor.update_settings(**changes)
    assert getattr(settings, attribute) == expected == getattr(processor.settings, attribute)
    processor.process(_frame())
    assert processor.stats().frames_processed == 2


def test_confidence_threshold_turns_labels_uncertain_live():
    processor = _processor()
    processor.process(_frame())
    assert processor.stats().last_labels == ("happy", "happy")
    processor.update_settings(confidence_threshold=0.95)
    processor.process(_frame())
    assert processor.stats().last_labels == ("uncertain", "uncertain")
    table = frames_table(processor.timeline(), processor.labels)
    assert table["shown_as"].iloc[-1] == "uncertain" and table["label"].iloc[-1] == "happy"


def test_show_bars_changes_the_drawing():
    processor = _processor(show_hud=False)
    with_bars = processor.process(_frame())
    processor.update_settings(show_bars=False)
    assert processor.show_bars is False
    without_bars = processor.process(_frame())
    assert np.count_nonzero(with_bars != 90) > np.count_nonzero(without_bars != 90)


@pytest.mark.parametrize("changes", [{"smoothing": 1.0}, {"confidence_threshold": -0.1}, {"crop_margin": 2.0}])
def test_invalid_settings_are_refused_and_old_ones_kept(changes):
    processor = _processor()
    before = processor.settings
    with pytest.raises(ValueError):
        processor.update_settings(**changes)
    assert processor.settings == before


def test_unknown_setting_is_refused():
    with pytest.raises(TypeError):
        _processor().update_settings(frames_per_second=10)


def test_set_models_is_a_no_op_for_the_same_objects():
    classifier, detector = PeakedClassifier(), FixedDetector(TWO_FACES)
    processor = LiveProcessor(classifier, detector, PipelineSettings(smoothing=0.2))
    assert processor.set_models(classifier, detector) is False


def test_set_models_switches_label_set_and_keeps_settings():
    processor = _processor(settings=PipelineSettings(confidence_threshold=0.5))
    processor.process(_frame())
    assert processor.timeline()
    ferplus = PeakedClassifier(FERPLUS.names, winner=0)
    assert processor.set_models(ferplus, FixedDetector(TWO_FACES)) is True
    assert processor.labels == FERPLUS.names
    assert processor.settings.confidence_threshold == 0.5
    assert processor.timeline() == [], "points of the old label set are dropped"
    processor.process(_frame())
    assert processor.stats().last_labels == ("neutral", "neutral")
    assert len(processor.timeline()[-1].faces[0].probabilities) == len(FERPLUS.names)


def test_snapshot_png_is_the_last_annotated_frame():
    processor = _processor()
    assert processor.snapshot_png() is None and processor.last_frame() is None
    out = processor.process(_frame())
    decoded = cv2.imdecode(np.frombuffer(processor.snapshot_png(), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decoded, out)


def test_reset_forgets_the_session():
    processor = _processor()
    for _ in range(3):
        processor.process(_frame())
    processor.reset()
    stats = processor.stats()
    assert (stats.frames_processed, stats.max_faces_seen, stats.fps) == (0, 0, 0.0)
    assert processor.timeline() == [] and processor.snapshot_png() is None


def test_hud_lines_show_fps_and_stages():
    processor = _processor()
    processor.process(_frame())
    lines = hud_lines(processor.stats())
    assert "FPS" in lines[0] and "2 face(s)" in lines[0]
    assert all(stage in lines[1] for stage in ("det", "cla", "tra"))
    assert lines[2].startswith("total")


def test_ui_thread_reads_and_changes_settings_while_frames_flow():
    processor = _processor()
    errors: list[BaseException] = []
    n_frames = 60

    def callback_thread() -> None:
        try:
            for _ in range(n_frames):
                processor.process(_frame())
        except BaseException as err:  # re-raised in the main thread below
            errors.append(err)

    worker = threading.Thread(target=callback_thread)
    worker.start()
    thresholds = itertools.cycle(np.linspace(0.1, 0.9, 9))
    while worker.is_alive():
        threshold = float(next(thresholds))
        processor.update_settings(confidence_threshold=threshold, show_bars=threshold > 0.5)
        stats = processor.stats()
        assert stats.faces_in_last_frame in (0, 2)
        processor.timeline(1.0)
        processor.snapshot_png()
    worker.join()
    assert not errors, errors
    assert processor.stats().frames_processed == n_frames


def test_real_detector_finds_the_moving_face():
    processor = LiveProcessor(PeakedClassifier(), create_detector("haar"))
    faces_per_frame = []
    for frame in moving_face_frames(5):
        processor.process(frame)
        faces_per_frame.append(processor.stats().faces_in_last_frame)
    assert max(faces_per_frame) >= 1
    assert processor.stats().max_faces_seen >= 1


STUN = {"urls": ["stun:stun.example.org:3478"]}
TURN = {"urls": "turn:turn.example.org", "username": "u", "credential": "p"}


@pytest.mark.parametrize(
    "value, servers",
    [
        (None, []),
        ("", []),
        ("  ", []),
        ("[]", []),
        (json.dumps([STUN]), [STUN]),
        (json.dumps([STUN, TURN]), [STUN, TURN]),
    ],
)
def test_rtc_configuration_has_no_ice_servers_unless_configured(value, servers):
    assert rtc_configuration(value) == {"iceServers": servers}


@pytest.mark.parametrize("value", ["stun:x", "{", '{"urls": "stun:x"}', '[{"username": "u"}]', '["stun:x"]'])
def test_rtc_configuration_rejects_malformed_values(value):
    with pytest.raises(ValueError, match="FER_ICE_SERVERS"):
        rtc_configuration(value)


class SettableClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_fps_is_refreshed_once_a_second_and_falls_to_zero_when_frames_stop():
    clock = SettableClock()
    processor = _processor(clock=clock)
    for _ in range(16):  # half a second at 30 FPS: the first figure is published with the second frame
        processor.process(_frame())
        clock.now += 1 / 30
    shown = processor.stats().fps
    assert shown == pytest.approx(30.0, rel=0.05)
    for _ in range(5):  # a burst at 100 FPS within the same second: the shown figure holds still
        clock.now += 0.01
        processor.process(_frame())
    assert processor.stats().fps == shown
    clock.now += 1.0
    processor.process(_frame())
    assert processor.stats().fps != shown, "a second later the figure is refreshed"
    clock.now += 2.0
    assert processor.stats().fps == pytest.approx(0.5), "a 2 s wait: at most one frame in 2 s, not still 30 FPS"
    clock.now += live.STALE_AFTER_S
    assert processor.stats().fps == 0.0, "no frame for a long while: the stream is stopped"


@pytest.mark.parametrize("interval_s", [1.5, 3.0, 6.0])
def test_a_slow_stream_shows_its_true_low_rate_not_zero(interval_s):
    """On an overloaded server frames may come seconds apart: the panel must not read "0" while they still arrive."""
    clock = SettableClock()
    processor = _processor(clock=clock)
    for _ in range(5):
        processor.process(_frame())
        clock.now += interval_s / 2
        assert (
            processor.stats().fps == pytest.approx(1 / interval_s, rel=1e-6) or processor.stats().frames_processed < 2
        )
        clock.now += interval_s / 2
    shown = processor.stats().fps
    assert shown == pytest.approx(1 / interval_s, rel=1e-6)
    assert float(live.format_fps(shown)) > 0


@pytest.mark.parametrize(("fps", "text"), [(0.0, "0"), (0.004, "0.00"), (0.33, "0.33"), (3.62, "3.6"), (29.97, "30.0")])
def test_format_fps_keeps_low_rates_readable(fps, text):
    assert live.format_fps(fps) == text


class FakeVideoFrame:
    """The part of PyAV's ``VideoFrame`` the callback uses: a BGR picture kept as the array it was built from."""

    def __init__(self, array: np.ndarray, fmt: str) -> None:
        self.array, self.format = array, fmt
        self.height = array.shape[0] * 2 // 3 if fmt == "yuv420p" else array.shape[0]
        self.width = array.shape[1]

    @classmethod
    def from_ndarray(cls, array: np.ndarray, format: str) -> FakeVideoFrame:
        return cls(array, format)

    def to_ndarray(self, format: str) -> np.ndarray:
        if format == self.format:
            return self.array
        code = cv2.COLOR_YUV2BGR_I420 if self.format == "yuv420p" else cv2.COLOR_BGR2YUV_I420
        return cv2.cvtColor(self.array, code)


@pytest.mark.parametrize("size", [(640, 480), (321, 241)])
def test_process_video_frame_returns_the_annotated_picture_and_times_the_conversions(size):
    width, height = size
    processor = _processor(TWO_FACES[:1])
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    picture = processor.process_video_frame(FakeVideoFrame.from_ndarray(image, "bgr24"))
    assert isinstance(picture, FakeVideoFrame)
    assert (picture.width, picture.height) == size
    assert picture.format == ("yuv420p" if width % 2 == 0 else "bgr24"), "even sizes go to the encoder as I420"
    annotated = processor.last_frame()
    assert np.abs(picture.to_ndarray("bgr24").astype(int) - annotated.astype(int)).mean() < 3
    assert processor.stats().latency_ms["convert"] > 0.0


def test_hud_and_panel_show_the_same_fps():
    clock = SettableClock()
    processor = _processor(clock=clock)
    for _ in range(40):
        processor.process(_frame())
        clock.now += 1 / 25
    with processor._lock:
        stats = processor._record_locked(processor._last_result, clock.now, processor._timings[-1])
    hud_fps = float(hud_lines(stats)[0].split()[0])
    assert hud_fps == pytest.approx(processor.stats().fps, abs=0.05)


SECRET = "s3cret-turn-password"


@pytest.mark.parametrize(
    ("servers", "problem"),
    [
        ([{"urls": 3478, "credential": SECRET}], 'entry 1 has no "urls" string or list of strings'),
        ([{"urls": ["stun:x", 5], "credential": SECRET}], 'entry 1 has no "urls" string or list of strings'),
        ([STUN, {"urls": [], "credential": SECRET}], 'entry 2 has no "urls"'),
        ([{"urls": "turn:x", "username": "u", "credential": 42}], 'entry 1 has a "credential" that is not a string'),
        ({"urls": "turn:x", "credential": SECRET}, "is a JSON dict, not a list"),
        ([SECRET], "entry 1 is a str, not an object"),
    ],
)
def test_malformed_ice_servers_say_what_is_wrong_without_the_value(servers, problem):
    with pytest.raises(ValueError, match="FER_ICE_SERVERS") as raised:
        rtc_configuration(json.dumps(servers))
    message = str(raised.value)
    assert problem in message
    assert SECRET not in message and "turn:x" not in message


def test_invalid_json_ice_servers_do_not_echo_the_value():
    with pytest.raises(ValueError, match="not valid JSON") as raised:
        rtc_configuration('[{"urls": "turn:x", "credential": "' + SECRET + '"')
    assert SECRET not in str(raised.value)


class InvalidStateError(Exception):
    """Stands in for aiortc.exceptions.InvalidStateError (matched by name and message)."""


def test_closed_transport_errors_are_quiet_and_other_errors_still_reported():
    loop = asyncio.new_event_loop()
    seen = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context["exception"]))
    try:
        live.quiet_closed_transport_errors(loop)
        live.quiet_closed_transport_errors(loop)  # installs once
        closed = InvalidStateError("RTCIceTransport is closed")
        other = RuntimeError("a real bug")
        loop.call_exception_handler({"message": "Task exception was never retrieved", "exception": closed})
        loop.call_exception_handler({"message": "Task exception was never retrieved", "exception": other})
    finally:
        loop.close()
    assert seen == [other]


# Every field changed away from its default; the sidebar's settings object reaches a running session whole.
CHANGED_SETTINGS = {
    "crop_margin": 0.3,
    "smoothing": 0.2,
    "confidence_threshold": 0.9,
    "min_face_px": 150,
    "iou_threshold": 0.5,
    "max_missed": 1,
    "max_faces": 1,
}


@pytest.mark.parametrize(("field", "value"), CHANGED_SETTINGS.items())
def test_every_pipeline_setting_reaches_a_running_session(field: str, value) -> None:
    processor = _processor()
    processor.process(_frame())
    chosen = PipelineSettings(**{field: value})
    assert processor.apply_settings(chosen, show_bars=False) == chosen == processor.settings
    pipeline = processor._pipeline
    assert (pipeline._tracker.iou_threshold, pipeline._tracker.max_missed) == (chosen.iou_threshold, chosen.max_missed)
    assert pipeline._smoother.smoothing == chosen.smoothing and processor.show_bars is False


def test_max_faces_and_min_face_px_take_effect_on_the_next_frame() -> None:
    processor = _processor()
    processor.process(_frame())
    assert processor.stats().faces_in_last_frame == 2
    processor.apply_settings(PipelineSettings(max_faces=1))
    processor.process(_frame())
    assert processor.stats().faces_in_last_frame == 1
    processor.apply_settings(PipelineSettings(min_face_px=150))
    processor.process(_frame())
    assert processor.stats().last_labels == ("happy", "too small")


class CountingLock:
    """A lock that counts its acquisitions."""

    def __init__(self) -> None:
        self.inner, self.count = threading.Lock(), 0

    def __enter__(self):
        self.count += 1
        return self.inner.__enter__()

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)


def test_a_frame_takes_the_processor_lock_once() -> None:
    processor = _processor()
    processor._lock = CountingLock()
    processor.process(_frame())
    assert processor._lock.count == 1


def test_stop_before_the_first_frame_reads_as_stopped_not_as_never_started() -> None:
    assert stream_state(playing=False, frames=0, started_before=False) == "idle"
    assert stream_state(playing=True, frames=0, started_before=True) == "starting"
    assert stream_state(playing=True, frames=3, started_before=True) == "live"
    assert stream_state(playing=False, frames=3, started_before=True) == "stopped"
    assert stream_state(playing=False, frames=0, started_before=True) == "stopped"  # STOP while connecting
