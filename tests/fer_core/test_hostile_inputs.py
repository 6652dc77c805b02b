"""Hostile and broken inputs at every entry point: model directories, images, videos, datasets, stored runs.

Each table lists what a careless or malicious file can look like and what must happen instead of a traceback, a
network call, code execution or a runaway allocation: a clear error naming the file and the reason (or, for the
dashboard and the image page, that file skipped and the rest still shown).
"""

from __future__ import annotations

import builtins
import io
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import edit_json, hub_vit_dir, make_tiny_model_dir
from safetensors.torch import load_file, save_file

from fer_core.apps.cli import main as cli_main
from fer_core.serving.classifier import ModelLoadError, load_model

# ------------------------------------------------------------------------------------------------- helpers


@contextmanager
def peak_rss_growth() -> dict:
    """Measures how far the resident set size rose above its starting value inside the block (Linux /proc)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # restart the kernel's peak-RSS count (VmHWM) from the current size
    except OSError:
        pytest.skip("needs a writable /proc/self/clear_refs to measure peak memory")

    def kib(field: str) -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field))

    start = kib("VmRSS:")
    measured: dict = {}
    yield measured
    measured["mb"] = (kib("VmHWM:") - start) / 1024


# ------------------------------------------------------------------------------------------- model directories


def _remote_code(directory: Path) -> None:
    """``auto_map`` pointing at a configuration module that leaves a marker file when it is imported."""
    marker = directory / "REMOTE_CODE_RAN"
    (directory / "configuration_x.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import ViTConfig\n\nclass XConfig(ViTConfig):\n    model_type = 'vit'\n"
    )
    edit_json(directory / "config.json", lambda c: c.update(auto_map={"AutoConfig": "configuration_x.XConfig"}))


def _set(file: str, *keys: str, value) -> Callable[[Path], None]:
    """A mutation setting ``file``'s ``keys[0]...keys[-1]`` to ``value``."""

    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return lambda directory: edit_json(directory / file, change)


def _drop(file: str, *keys: str) -> Callable[[Path], None]:
    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]

    return lambda directory: edit_json(directory / file, change)


def _nan_weights(directory: Path) -> None:
    state = load_file(str(directory / "model.safetensors"))
    state["head.weight"][0, 0] = float("nan")
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _write(file: str, data: bytes) -> Callable[[Path], None]:
    return lambda directory: (directory / file).write_bytes(data)


def _hf_card(directory: Path) -> None:
    """A card beside a hub directory that names an architecture this catalogue does not have."""
    card = {"id": "x", "architecture": "resnet_hub", "arch_args": {}, "labels": ["a", "b", "c"]}
    card["input"] = {"size": 32, "channels": 3}
    (directory / "card.json").write_text(json.dumps(card))


MODEL_CASES = [
    # Security: code execution and allocation decided by the config before anything is validated.
    pytest.param("hub", _remote_code, "auto_map", id="hub-auto_map-remote-code"),
    pytest.param("timm", _set("config.json", "model_args", "widths", value=[12000]), "larger than", id="widths-12000"),
    pytest.param("timm", _set("config.json", "model_args", "widths", value=[10**7]), "larger than", id="widths-1e7"),
    pytest.param("timm", _set("config.json", "num_classes", value=10**9), "num_classes", id="num_classes-1e9"),
    pytest.param("hub", _set("config.json", "num_hidden_layers", value=10**5), "larger than", id="hf-layers-1e5"),
    pytest.param("hub", _set("config.json", "hidden_size", value=64), "do not match", id="hf-wrong-width"),
    # Loader errors that used to escape as KeyError / ValueError / TypeError.
    pytest.param("timm", _drop("card.json", "input", "size"), "input", id="input-size-missing"),
    pytest.param("timm", _set("card.json", "input", "size", value="big"), "input", id="input-size-text"),
    pytest.param("timm", _set("card.json", "input", "channels", value=2), "channels", id="input-channels-2"),
    pytest.param("timm", _set("card.json", "labels", value="angry"), "labels", id="labels-a-string"),
    pytest.param("timm", _set("config.json", "architecture", value="nope"), "known: ", id="timm-unknown-arch"),
    pytest.param("hub", _hf_card, "unknown architecture 'resnet_hub'", id="hf-card-unknown-arch"),
    pytest.param("hub", _set("preprocessor_config.json", "size", value="big"), "size", id="preproc-size-text"),
    pytest.param("hub", _set("preprocessor_config.json", "size", value={"w": 3}), "size", id="preproc-size-dict"),
    pytest.param("timm", _set("config.json", "model_args", value=[8, 16]), "model_args", id="model_args-list"),
    pytest.param("timm", _set("config.json", "model_args", "foo", value=1), "foo", id="model_args-unknown-key"),
    pytest.param("timm", _set("config.json", "model_args", "pretrained", value=True), "pretrained", id="pretrained"),
    pytest.param("timm", _write("config.json", b'{"architecture": "cnn\xff"}'), "UTF-8", id="config-not-utf8"),
    pytest.param("timm", _write("card.json", b'{"id": "\xe9"}'), "UTF-8", id="card-not-utf8"),
    # Models that would load but could never predict.
    pytest.param("timm", _set("card.json", "labels", value=["a", "b", "c"]), "3 labels", id="labels-vs-outputs"),
    pytest.param("timm", _set("card.json", "input", "channels", value=3), "channels", id="channels-vs-weights"),
    pytest.param("timm", _nan_weights, "NaN", id="nan-weights"),
    pytest.param("hub", _write("preprocessor_config.json", b""), "preprocessor_config.json", id="preproc-empty"),
    pytest.param("hub-bare", lambda d: None, "preprocessor_config.json", id="hf-without-preprocessor"),
]


def model_dir_of(kind: str, directory: Path) -> Path:
    if kind == "timm":
        return make_tiny_model_dir(directory)
    return hub_vit_dir(directory, preprocessor={} if kind == "hub-bare" else None)


@pytest.mark.parametrize(("kind", "mutate", "message"), MODEL_CASES)
def test_hostile_model_directory_is_refused_with_path_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, mutate, message: str
) -> None:
    directory = model_dir_of(kind, tmp_path / "model")
    mutate(directory)
    monkeypatch.setattr(builtins, "input", lambda *args: "y")  # a user answering yes to any prompt
    started = time.perf_counter()
    with peak_rss_growth() as growth, pytest.raises(ModelLoadError, match=message) as caught:
        load_model(directory, backend="torch")
    assert str(directory) in str(caught.value)
    assert time.perf_counter() - started < 20
    assert growth["mb"] < 400, f"refusing the directory cost {growth['mb']:.0f} MB"
    assert not (directory / "REMOTE_CODE_RAN").exists()


@pytest.mark.parametrize(("kind", "mutate", "message"), MODEL_CASES)
def test_cli_predict_reports_a_hostile_model_directory_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, kind: str, mutate, message: str
) -> None:
    directory = model_dir_of(kind, tmp_path / "model")
    mutate(directory)
    image = tmp_path / "face.png"
    image.write_bytes(_png(np.full((64, 64, 3), 128, np.uint8)))
    monkeypatch.setattr(builtins, "input", lambda *args: "y")
    assert cli_main(["predict", "--model", str(directory), str(image)]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.splitlines()[-1].startswith("error: ") and message in error
    assert not (directory / "REMOTE_CODE_RAN").exists()


def test_model_picker_lists_every_model_even_beside_an_unreadable_card(tmp_path: Path) -> None:
    from fer_core.store.model_dir import Checkpoints

    make_tiny_model_dir(tmp_path / "good")
    make_tiny_model_dir(tmp_path / "broken")
    (tmp_path / "broken" / "card.json").write_bytes(b'{"id": "\xe9"}')
    assert Checkpoints.at(tmp_path).choices() == ["broken", "good"]
    with pytest.raises(ModelLoadError, match="UTF-8"):
        load_model("broken", root=tmp_path)


def test_onnx_model_whose_outputs_do_not_match_its_labels_is_refused(tiny_model_dir: Path) -> None:
    from fer_core.serving.export import export_onnx

    export_onnx(tiny_model_dir)
    _set("card.json", "labels", value=["a", "b", "c"])(tiny_model_dir)
    with pytest.raises(ModelLoadError, match="3 labels"):
        load_model(tiny_model_dir, backend="onnx")


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ network


def test_every_onnx_session_is_made_with_telemetry_disabled(tiny_model_dir: Path, monkeypatch) -> None:
    import onnxruntime as ort

    from fer_core.serving.export import export_onnx

    calls: list[str] = []
    original_session = ort.InferenceSession
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append("telemetry off"))
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: calls.append("session") or original_session(*a, **k))
    export_onnx(tiny_model_dir)
    load_model(tiny_model_dir, backend="onnx")
    assert calls.count("session") >= 2
    assert all(calls[i - 1] == "telemetry off" for i, call in enumerate(calls) if call == "session")


NETWORK_PROBE = """
import sys, time
import numpy as np
from fer_core.apps.cli import main
from fer_core.serving.classifier import load_model
load_model("default", backend="onnx").predict([np.zeros((64, 64, 3), np.uint8)])
code = main(["predict", sys.argv[1]])
time.sleep(float(sys.argv[2]))  # ONNX Runtime's telemetry resolves its host about 9 s after the import
sys.exit(code)
"""
# Long enough to see the telemetry queries (the first leaves about 9 s after import) whatever the CPU's speed:
# the wait starts after the model has run, so a slow start only makes the window longer.
NETWORK_LINGER_S = 20


@contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any Python-level attempt to resolve a name or open a connection fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield


def test_default_model_loads_and_predicts_without_python_network_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from fer_core.store.model_dir import CHECKPOINTS_DIR

    if not (CHECKPOINTS_DIR / "default.json").is_file():
        pytest.skip("no shipped default model")
    with no_network(monkeypatch):
        for backend in ("onnx", "torch"):
            load_model("default", backend=backend).predict([np.zeros((64, 64, 3), np.uint8)])


def test_importing_fer_core_switches_onnx_runtime_telemetry_off_before_onnx_runtime_loads() -> None:
    """The switch works only when set before ONNX Runtime's first import; a user's own value is kept."""
    import subprocess
    import sys

    from conftest import REPO_ROOT
    from network_trace import environment_without

    probe = "import os, sys, fer_core; print('onnxruntime' in sys.modules, os.environ['ORT_DISABLE_TELEMETRY'])"
    env = environment_without("ORT_DISABLE_TELEMETRY")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["False", "1"], result.stderr[-2000:]


def test_library_and_predict_send_nothing_beyond_loopback(tmp_path: Path) -> None:
    """strace sees native code too: neither the ONNX session nor ``predict`` may query DNS or connect anywhere,
    within 20 s of running the model, in a process whose environment does not switch telemetry off itself."""
    import subprocess
    import sys

    import cv2
    from conftest import REPO_ROOT
    from network_trace import environment_without, leaks, require_strace, strace_command

    from fer_core.store.model_dir import CHECKPOINTS_DIR
    from fer_core.vision.sample_media import sample_face_image

    if not (CHECKPOINTS_DIR / "default.json").is_file():
        pytest.skip("needs the shipped default model")
    require_strace()
    photo, log = tmp_path / "face.jpg", tmp_path / "trace.txt"
    cv2.imwrite(str(photo), sample_face_image())
    command = strace_command(log, [sys.executable, "-c", NETWORK_PROBE, str(photo), str(NETWORK_LINGER_S)])
    env = environment_without("ORT_DISABLE_TELEMETRY")
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"label"' in result.stdout  # predict ran and found the face
    assert not leaks(log.read_text()), leaks(log.read_text())[:5]


# ------------------------------------------------------------------------------------------------ stored runs

NOT_UTF8 = b'{"id": "caf\xe9"}'


def _runs_root(root: Path) -> Path:
    from run_fixtures import synthetic_rows, write_model_dir

    from fer_core.labels import FERPLUS

    write_model_dir(root, "alpha_cnn", {("fer2013", "test"): synthetic_rows(n=60, seed=1)})
    write_model_dir(
        root, "beta_vit", {("ferplus", "test"): synthetic_rows(FERPLUS.names, n=60, seed=2)}, labels=FERPLUS.names
    )
    return root


def _replace_by_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _sidecar(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda model_dir: edit_json(model_dir / "runs" / "ferplus-test.json", change)


RUN_CASES = [
    pytest.param("card.json", lambda d: (d / "card.json").write_bytes(NOT_UTF8), "UTF-8", id="card-not-utf8"),
    pytest.param("card.json", lambda d: (d / "card.json").write_text("[" * 100_000), "nested", id="card-deep"),
    pytest.param("card.json", lambda d: _replace_by_folder(d / "card.json"), "folder", id="card-dir"),
    pytest.param(
        "ferplus-test.json",
        lambda d: (d / "runs" / "ferplus-test.json").write_bytes(NOT_UTF8),
        "UTF-8",
        id="sidecar-not-utf8",
    ),
    pytest.param("ferplus-test.json", _sidecar(lambda i: i.update(labels=[1, 2])), "labels", id="labels-not-names"),
    pytest.param("ferplus-test.json", _sidecar(lambda i: i.update(labels=["a"] * 8)), "twice", id="labels-duplicated"),
]


@pytest.mark.parametrize(("file", "damage", "message"), RUN_CASES)
def test_unreadable_run_file_is_skipped_with_its_path_and_the_rest_loads(
    tmp_path: Path, file: str, damage, message: str
) -> None:
    from fer_core.store.runs import scan_runs

    root = _runs_root(tmp_path)
    damage(root / "beta_vit")
    scan = scan_runs(root)
    assert "alpha_cnn/fer2013-test" in [run.key for run in scan.runs]
    assert len(scan.problems) == 1
    problem = scan.problems[0]
    assert f"{root / 'beta_vit'}" in problem.message and file in problem.message and message in problem.message


@pytest.mark.parametrize("damage", [case.values[1] for case in RUN_CASES[:1] + RUN_CASES[3:4]], ids=["card", "sidecar"])
@pytest.mark.parametrize("page", ["compare", "robustness", "subgroups"])
def test_dashboard_pages_warn_about_a_non_utf8_file_and_show_the_other_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, damage
) -> None:
    from conftest import REPO_ROOT
    from streamlit.testing.v1 import AppTest

    root = _runs_root(tmp_path / "checkpoints")
    damage(root / "beta_vit")
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    app = AppTest.from_file(str(REPO_ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
    assert not app.exception, [e.message for e in app.exception]
    assert any("Skipped" in w.value and "beta_vit" in w.value and "UTF-8" in w.value for w in app.warning)
    assert app.dataframe  # alpha_cnn's tables


# ------------------------------------------------------------------------------------------------ images


def _flat_png(side: int) -> bytes:
    """A ``side`` x ``side`` PNG that compresses to almost nothing (the decompression-bomb shape)."""
    image = np.full((side, side, 3), 200, np.uint8)
    image[::97] = 30
    return _png(image)


def _sample_face() -> bytes:
    from fer_core.apps.photo import sample_photo_bytes

    return sample_photo_bytes()


def _gif() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(_sample_face())).convert("P").save(buffer, "GIF")
    return buffer.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="http://host/p.png"/></svg>'
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"

IMAGE_CASES = [
    # (file name, bytes, what the analysis must say (None: analysed), peak MB allowed)
    pytest.param("bomb.png", lambda: _flat_png(9400), "at most 40 MP", 150, id="png-9400x9400"),
    pytest.param("big.png", lambda: _flat_png(6000), None, 300, id="png-6000-decoded-reduced"),
    pytest.param("anim.gif", _gif, None, 100, id="gif-accepted"),
    pytest.param("drawing.svg", lambda: SVG, "not accepted; accepted: jpg", 50, id="svg"),
    pytest.param("phone.heic", lambda: HEIC, "not accepted; accepted: jpg", 50, id="heic"),
    pytest.param("noextension", _sample_face, "without an extension", 50, id="no-extension"),
    pytest.param("renamed.jpg", lambda: b"%PDF-1.7\n", "not an image", 50, id="pdf-as-jpg"),
]


@pytest.fixture(scope="module")
def page_model():
    """A classifier and detector as the image page uses them (the tiny CNN: only the plumbing is checked)."""
    import tempfile

    from fer_core.vision.detect import create_detector
    from fer_core.vision.pipeline import PipelineSettings

    with tempfile.TemporaryDirectory() as folder:
        classifier = load_model(make_tiny_model_dir(Path(folder) / "tiny"))
    return classifier, create_detector("haar", max_side=640), PipelineSettings(smoothing=0.0)


@pytest.mark.parametrize(("name", "make", "message", "max_peak_mb"), IMAGE_CASES)
def test_hostile_image_is_judged_alone_quickly_and_in_bounded_memory(
    page_model, name: str, make, message: str | None, max_peak_mb: int
) -> None:
    from fer_core.apps.photo import analyse_image

    data = make()
    started = time.perf_counter()
    with peak_rss_growth() as growth:
        analysis = analyse_image(name, data, *page_model)
    assert time.perf_counter() - started < 5
    assert growth["mb"] < max_peak_mb, f"{name} cost {growth['mb']:.0f} MB"
    if message is None:
        assert analysis.ok, analysis.error
        assert max(analysis.decoded.size) <= 2048
    else:
        assert not analysis.ok and analysis.error.startswith(f"{name}: ") and message in analysis.error


def test_accepted_extensions_and_the_decoders_formats_are_one_list() -> None:
    from fer_core.apps.photo import IMAGE_TYPES
    from fer_core.vision.imageio import IMAGE_EXTENSIONS, ImageDecodeError, decode_image

    assert IMAGE_TYPES == IMAGE_EXTENSIONS and "gif" in IMAGE_EXTENSIONS
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(b"Hello, this is text")
    shown = str(caught.value).split("supported formats: ")[1]
    for fmt in shown.split(", "):
        assert fmt.lower().replace("jpeg", "jpg") in IMAGE_EXTENSIONS


def test_pil_pixel_limit_is_set_by_fer_core() -> None:
    from PIL import Image

    from fer_core.vision.imageio import MAX_DECODED_PIXELS, MAX_HEADER_PIXELS

    assert Image.MAX_IMAGE_PIXELS == MAX_HEADER_PIXELS and MAX_DECODED_PIXELS < 9400 * 9400


# ------------------------------------------------------------------------------------------------ pages

HOSTILE_NAMES = [
    "![x](http://host/p.png).png",
    "**bold** _it_ <b>x</b>.png",
    "$x^2$ and $$y$$.png",
    ":material/home: :smile: :red[red].png",
    "a`b``c [link](http://host).png",
]


def assert_shown_as_text(body: str, name: str) -> None:
    """``name`` is inside a code span of the Markdown ``body``: no image, link, emphasis, maths or icon."""
    import html
    import re

    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark").render(body)
    assert not re.search(r"<(img|a|strong|em|b)\b", rendered), rendered
    outside_code = re.sub(r"<code>.*?</code>", "", rendered, flags=re.S)
    assert html.escape(name, quote=False) not in outside_code and "$" not in outside_code
    assert ":material" not in outside_code and ":smile:" not in outside_code


def markdown_bodies(at) -> list[str]:
    """The Markdown source of every title, text and alert the page shows."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


@pytest.fixture
def page_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import streamlit as st
    from conftest import REPO_ROOT

    root = tmp_path / "checkpoints"
    make_tiny_model_dir(root / "tiny_page_model")
    (root / "default.json").write_text(json.dumps({"model": "tiny_page_model"}))
    st.cache_resource.clear()
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root))
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    yield root
    st.cache_resource.clear()


def run_page(name: str):
    from conftest import REPO_ROOT
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO_ROOT / "pages" / f"{name}.py"), default_timeout=90).run()


def test_image_page_judges_each_upload_alone_and_keeps_the_good_results(page_checkpoints: Path) -> None:
    at = run_page("image")
    uploads = [
        ("face.png", _sample_face(), "image/png"),
        ("anim.gif", _gif(), "image/gif"),
        ("drawing.svg", SVG, "image/svg+xml"),
        ("phone.heic", HEIC, "image/heic"),
    ]
    at.file_uploader(key="image_uploads").set_value(uploads).run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 2 and "drawing.svg" in errors[0] and "phone.heic" in errors[1]
    assert all("accepted: jpg" in error for error in errors)
    assert {"face.png", "anim.gif"} >= set(at.dataframe[0].value["image"]) and len(at.dataframe) >= 1


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_image_page_shows_upload_names_and_errors_as_text(page_checkpoints: Path, name: str) -> None:
    at = run_page("image")
    uploads = [(name, _sample_face(), "image/png"), (f"broken {name}", b"not an image at all", "image/png")]
    at.file_uploader(key="image_uploads").set_value(uploads).run()
    assert not at.exception, [e.message for e in at.exception]
    bodies = [body for body in markdown_bodies(at) if name in body]
    assert len(bodies) >= 3  # two titles and the error
    for body in bodies:
        assert_shown_as_text(body, name)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this test go to a folder of their own, so what is left behind can be counted."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


VIDEO_CASES = [
    # (upload name, content, the error the page shows (None: processed))
    pytest.param("sample", None, None, id="sample-clip-processed"),
    pytest.param("clip.mp4", "sample", None, id="upload-processed"),
    pytest.param("anim.gif", b"GIF89a....", "accepted: mp4", id="gif-refused"),
    pytest.param("notes.txt", b"hello", "accepted: mp4", id="txt-refused"),
    pytest.param("![x](http://host/p.png).mp4", b"not a video", "not a video", id="markdown-name-broken"),
    pytest.param("$x$ **b**.mp4", "sample", None, id="markdown-name-processed"),
]


@pytest.mark.parametrize(("name", "content", "message"), VIDEO_CASES)
def test_video_page_leaves_no_staged_file_and_shows_names_as_text(
    page_checkpoints: Path, temp_root: Path, tmp_path: Path, name: str, content, message: str | None
) -> None:
    from fer_core.apps.video import write_sample_clip

    at = run_page("video")
    if content is None:
        at.checkbox(key="video_use_sample").check().run()
    else:
        if content == "sample":
            content = write_sample_clip(tmp_path / "clip.mp4", n_frames=6).read_bytes()
        at.file_uploader(key="video_upload").set_value((name, content, "video/mp4")).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not list(temp_root.glob("fer-studio-*")), "a staged copy outlived the step that read it"
    if message is not None:
        assert len(at.error) == 1 and message in at.error[0].value and name in at.error[0].value
        assert_shown_as_text(at.error[0].value, name)
        return
    at.button(key="video_process").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["video_analysis"].frames_read > 0
    assert not list(temp_root.glob("fer-studio-*")), "the staged upload was not deleted after processing"
    for body in markdown_bodies(at):
        if name in body:
            assert_shown_as_text(body, name)


# ------------------------------------------------------------------------------------------------ datasets

VOTES_ROW = '"(0, 0, 48, 48)",6,2,0,0,0,0,0,0,2,0'
PIXELS = " ".join(["128"] * 2304)


def _face_png(path: Path, side: int = 48) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png(np.full((side, side, 3), 120, np.uint8)) if side <= 48 else _flat_png(side))


def _ferplus(tmp_path: Path, label_lines: list[str], images: dict[str, int] | None = None) -> tuple[str, Path, str]:
    """A FER+ test split with ``label.csv`` lines and images (name -> side in pixels)."""
    folder = tmp_path / "ferplus" / "FER2013Test"
    folder.mkdir(parents=True)
    for name, side in (images or {"fer0000000.png": 48}).items():
        _face_png(folder / name, side)
    (folder / "label.csv").write_text("".join(f"{line}\n" for line in label_lines))
    return "ferplus", tmp_path / "ferplus", "label.csv"


def _fer2013_csv(tmp_path: Path, rows: list[str]) -> tuple[str, Path, str]:
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{row}\n" for row in rows))
    return "fer2013-csv", path, "fer2013.csv"


def _fer2013_folders(tmp_path: Path, side: int) -> tuple[str, Path, str]:
    root = tmp_path / "fer2013"
    _face_png(root / "test/happy/PrivateTest_1.png")
    _face_png(root / "test/sad/PrivateTest_2.png", side)
    return "fer2013", root, "PrivateTest_2.png"


def _image_folder(tmp_path: Path, side: int) -> tuple[str, Path, str]:
    root = tmp_path / "faces"
    _face_png(root / "happy/a.png")
    _face_png(root / "angry/b.png", side)
    return "imagefolder", root, "b.png"


DATASET_CASES = [
    # (builder of (dataset, root, file the message names), message naming the problem and where)
    pytest.param(
        lambda t: _ferplus(t, [f"fer0000000.png,{VOTES_ROW[:-1]}{'9' * 31}"]), "line 1: vote count", id="vote-1e30"
    ),
    pytest.param(
        lambda t: _ferplus(t, [f"fer0000000.png,{VOTES_ROW}", f"x.png,{VOTES_ROW[:-1]}1e30"]),
        "line 2: vote counts must be integers",
        id="vote-float-text",
    ),
    pytest.param(lambda t: _ferplus(t, [f"../../x.png,{VOTES_ROW}"]), "line 1: image name '../../x.png'", id="dotdot"),
    pytest.param(lambda t: _ferplus(t, [f"/etc/passwd,{VOTES_ROW}"]), "line 1: image name '/etc/passwd'", id="abs"),
    pytest.param(lambda t: _ferplus(t, [f"sub/x.png,{VOTES_ROW}"]), "line 1: image name 'sub/x.png'", id="subfolder"),
    pytest.param(lambda t: _ferplus(t, []), "no rows", id="label-csv-empty"),
    pytest.param(
        lambda t: _ferplus(t, ['fer0000000.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,0,9']),
        "no image left",
        id="every-image-dropped",
    ),
    pytest.param(
        lambda t: (*_ferplus(t, [f"fer0000000.png,{VOTES_ROW}"], {"fer0000000.png": 9400})[:2], "fer0000000.png"),
        "9400x9400",
        id="ferplus-image-bomb",
    ),
    pytest.param(lambda t: _fer2013_csv(t, [f"3,{PIXELS}"]), "line 2: expected 3 fields", id="csv-missing-field"),
    pytest.param(lambda t: _fer2013_csv(t, [f"3,{PIXELS},Training,x"]), "line 2: expected 3 fields", id="csv-extra"),
    pytest.param(lambda t: _fer2013_csv(t, [f"3,{PIXELS},Trainig"]), "line 2: Usage 'Trainig'", id="csv-usage"),
    pytest.param(lambda t: _fer2013_csv(t, [f"3,{'9' * 30} {PIXELS},Training"]), "line 2: ", id="csv-huge-pixel"),
    pytest.param(lambda t: _fer2013_csv(t, [f"²,{PIXELS},Training"]), "line 2: emotion", id="csv-odd-digit"),
    pytest.param(lambda t: _fer2013_csv(t, [f"3,{'1 ' * 200_000},Training"]), "line 2", id="csv-huge-field"),
    pytest.param(lambda t: _fer2013_folders(t, 9400), "9400x9400", id="fer2013-image-bomb"),
    pytest.param(lambda t: _image_folder(t, 9400), "9400x9400", id="imagefolder-image-bomb"),
]


@pytest.mark.parametrize(("build", "message"), DATASET_CASES)
def test_hostile_dataset_is_a_dataset_error_naming_file_and_line(tmp_path: Path, build, message: str) -> None:
    from fer_core.data import DatasetError, load_split

    dataset, root, file = build(tmp_path)
    label_set = {"label_set": "fer2013"} if dataset == "imagefolder" else {}
    split = "train" if dataset == "fer2013-csv" else "test"
    started = time.perf_counter()
    with peak_rss_growth() as growth, pytest.raises(DatasetError, match=message) as caught:
        load_split(dataset, root, split, **label_set)
    assert file in str(caught.value)
    assert time.perf_counter() - started < 10 and growth["mb"] < 200, f"{growth['mb']:.0f} MB"


def test_cli_predict_gives_an_error_record_per_bad_image_and_boxes_in_file_pixels(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import cv2

    files = {"bomb.png": _flat_png(9400), "notes.jpg": b"just text\n"}
    face = cv2.imdecode(np.frombuffer(_sample_face(), np.uint8), cv2.IMREAD_COLOR)
    files["big.png"] = _png(cv2.resize(face, (4096, 4096))[:, :, ::-1])
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    with peak_rss_growth() as growth:
        assert cli_main(["predict", "--model", str(tiny_model_dir), *paths]) == 2  # two of the three failed
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = {Path(r["image"]).name: r["error"] for r in records if "error" in r}
    assert "at most 40 MP" in errors["bomb.png"] and "not an image" in errors["notes.jpg"]
    boxes = [r for r in records if Path(r["image"]).name == "big.png" and "x2" in r]
    assert boxes and max(r["x2"] for r in boxes) > 2048  # the 4096 px file's own coordinates
    assert growth["mb"] < 600


def _fifo(path: Path) -> Path:
    import os

    os.mkfifo(path)
    return path


def _release_pipes_later(folder: Path, after_s: float = 60.0):
    """A safety net for the old behaviour only: a reader blocked on a named pipe in ``folder`` gets end-of-file
    after ``after_s`` (so a regression fails the test instead of hanging it). Code that never opens a pipe is
    never affected."""
    import contextlib
    import os
    import threading

    def release() -> None:
        for pipe in folder.glob("*"):
            if pipe.is_fifo():
                with contextlib.suppress(OSError):  # nobody reads it: nothing to release
                    os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(after_s, release)
    timer.daemon = True
    timer.start()
    return timer


SPECIAL_FILES = {
    # name -> (make the file in a folder, what the error must say)
    "symlink to /dev/zero (photo)": (lambda d: _symlink(d / "zero.png", "/dev/zero"), "a character device"),
    "symlink to /dev/zero (clip)": (lambda d: _symlink(d / "zero.mp4", "/dev/zero"), "a character device"),
    "named pipe (photo)": (lambda d: _fifo(d / "pipe.jpg"), "a named pipe"),
    "named pipe (clip)": (lambda d: _fifo(d / "pipe.mp4"), "a named pipe"),
    "folder named like a photo": (lambda d: _mkdir(d / "album.png"), "a folder"),
    "photo beyond the size bound": (lambda d: _sparse(d / "huge.png"), "larger than any photo"),
    "missing photo": (lambda d: d / "gone.png", "No such file"),
}


def _symlink(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _sparse(path: Path) -> Path:
    """A file one byte over the photo bound that takes no disk space (all holes)."""
    from fer_core.apps.photo import MAX_PHOTO_BYTES

    with path.open("wb") as handle:
        handle.truncate(MAX_PHOTO_BYTES + 1)
    return path


@pytest.mark.parametrize(("make", "message"), SPECIAL_FILES.values(), ids=SPECIAL_FILES.keys())
def test_cli_predict_refuses_special_files_and_goes_on_with_the_others(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, make, message: str
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    bad, good = make(folder), folder / "face.png"
    good.write_bytes(_sample_face())
    _release_pipes_later(folder)
    with peak_rss_growth() as growth:
        assert cli_main(["predict", "--model", str(tiny_model_dir), str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    (error,) = [r["error"] for r in records if "error" in r]
    assert str(bad) in error and message in error
    assert any(r.get("image") == str(good) and "label" in r for r in records)
    assert f"1 of 2 files failed: {bad}" in captured.err
    assert growth["mb"] < 600


def test_cli_predict_prints_each_file_as_soon_as_it_is_done_and_survives_a_crash(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first file's rows are out before the second is read; an unexpected error in the second (a decoder bug)
    costs only that file."""
    import fer_core.apps.photo as photo

    paths = []
    for name in ("first.png", "crashes.png", "third.png"):
        (tmp_path / name).write_bytes(_sample_face())
        paths.append(str(tmp_path / name))
    out = io.StringIO()
    seen_before: dict[str, str] = {}
    analyse = photo.analyse_image

    def crash_on_the_second(name, data, *args, **kwargs):
        seen_before[Path(name).name] = out.getvalue()
        if name.endswith("crashes.png"):
            raise RuntimeError("decoder bug")
        return analyse(name, data, *args, **kwargs)

    monkeypatch.setattr(photo, "analyse_image", crash_on_the_second)
    monkeypatch.setattr("sys.stdout", out)
    assert cli_main(["predict", "--model", str(tiny_model_dir), *paths]) == 2
    assert "first.png" in seen_before["crashes.png"] and "first.png" not in seen_before["first.png"]
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [Path(r["image"]).name for r in records if "label" in r] == ["first.png", "third.png"]
    (error,) = [r["error"] for r in records if "error" in r]
    assert "crashes.png" in error and "RuntimeError: decoder bug" in error


# ------------------------------------------------------------------------------------ special files in trees


def _eight_terabyte_npy(path: Path) -> None:
    """A valid .npy header declaring 10^12 float64 values, followed by 8 bytes."""
    from numpy.lib import format as npy_format

    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    path.write_bytes(buffer.getvalue() + bytes(8))


def _replace(path: Path, kind: str) -> None:
    """Turn the file at ``path`` into a symlink to /dev/zero, a named pipe, or an 8 TB .npy header."""
    import os

    path.unlink()
    if kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "pipe":
        os.mkfifo(path)
    else:
        _eight_terabyte_npy(path)


def _rafdb_label_file(tmp_path: Path) -> tuple[Callable[[], object], Path]:
    from dataset_trees import make_rafdb_tree

    from fer_core.data import load_split

    root = make_rafdb_tree(tmp_path)
    return lambda: load_split("rafdb", root, "test"), root / "EmoLabel/list_patition_label.txt"


def _affectnet_expression(tmp_path: Path) -> tuple[Callable[[], object], Path]:
    from dataset_trees import make_affectnet_tree

    from fer_core.data import load_split

    root = make_affectnet_tree(tmp_path)
    return lambda: load_split("affectnet", root, "test"), root / "val_set/annotations/102_exp.npy"


def _ferplus_image(tmp_path: Path) -> tuple[Callable[[], object], Path]:
    """FER+ names its images in label.csv (folder listings skip special files; a named image is opened)."""
    from fer_core.data import load_split

    _, root, _ = _ferplus(tmp_path, [f"fer0000000.png,{VOTES_ROW}"])
    return lambda: load_split("ferplus", root, "test"), root / "FER2013Test" / "fer0000000.png"


def _model_config(tmp_path: Path) -> tuple[Callable[[], object], Path]:
    directory = hub_vit_dir(tmp_path / "hub_vit")
    return lambda: load_model(directory), directory / "config.json"


SPECIAL_TREE_FILES = [
    pytest.param(_rafdb_label_file, "zero", "a character device", id="rafdb-labels-dev-zero"),
    pytest.param(_rafdb_label_file, "pipe", "a named pipe", id="rafdb-labels-pipe"),
    pytest.param(_affectnet_expression, "zero", "a character device", id="affectnet-npy-dev-zero"),
    pytest.param(_affectnet_expression, "pipe", "a named pipe", id="affectnet-npy-pipe"),
    pytest.param(_affectnet_expression, "8tb", "declares (1000000000000,)", id="affectnet-npy-8tb-header"),
    pytest.param(_ferplus_image, "zero", "a character device", id="dataset-image-dev-zero"),
    pytest.param(_ferplus_image, "pipe", "a named pipe", id="dataset-image-pipe"),
    pytest.param(_model_config, "zero", "a character device", id="config-json-dev-zero"),
    pytest.param(_model_config, "pipe", "a named pipe", id="config-json-pipe"),
]


@pytest.mark.parametrize(("build", "kind", "message"), SPECIAL_TREE_FILES)
def test_special_file_in_a_dataset_or_model_tree_is_a_message_naming_it(
    tmp_path: Path, build, kind: str, message: str
) -> None:
    """Readers of untrusted trees read regular files only, with a size bound: no hang, no MemoryError."""
    read, path = build(tmp_path)
    _replace(path, kind)
    _release_pipes_later(path.parent)
    with peak_rss_growth() as growth, pytest.raises(ValueError) as caught:
        read()
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert growth["mb"] < 300, f"{growth['mb']:.0f} MB"
