"""Int8 ONNX Runtime quantisation: kept only when it predicts like the float model, then served by default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_model_dir

from fer_core.card import ModelCard
from fer_core.export import export_onnx
from fer_core.quantize import INT8_FILE, quantize_int8
from fer_core.zoo import load_model, served_onnx_file

RNG = np.random.default_rng(0)
FACES = RNG.integers(0, 256, (64, 48, 48), dtype=np.uint8)
LABELS = RNG.integers(0, 7, 64)


@pytest.fixture
def exported_dir(tmp_path: Path) -> Path:
    directory = make_tiny_model_dir(tmp_path / "tiny")
    export_onnx(directory)
    return directory


def test_quantised_model_is_kept_and_served(exported_dir: Path) -> None:
    report = quantize_int8(exported_dir, FACES[:32], FACES, LABELS, min_agreement=0.5, max_drop=1.0)
    assert report["kept"] and (exported_dir / INT8_FILE).is_file()
    card = json.loads((exported_dir / "card.json").read_text())
    assert card["onnx"]["file"] == INT8_FILE and 0.5 <= card["onnx"]["val_top1_agreement"] <= 1
    assert served_onnx_file(exported_dir, ModelCard.from_dict(card)).name == INT8_FILE
    probs = load_model(exported_dir, backend="auto").predict(FACES[:4])
    assert probs.shape == (4, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_quantised_model_that_disagrees_is_not_kept(exported_dir: Path) -> None:
    before = (exported_dir / "card.json").read_text()
    report = quantize_int8(exported_dir, FACES[:32], FACES, LABELS, min_agreement=1.01)
    assert not report["kept"] and not (exported_dir / INT8_FILE).exists()
    assert (exported_dir / "card.json").read_text() == before
    assert not list(exported_dir.glob("*tmp*"))


def test_card_naming_a_missing_or_foreign_file_falls_back_to_the_float_export(exported_dir: Path) -> None:
    for name in ("missing.onnx", "../model.onnx"):
        assert served_onnx_file(exported_dir, ModelCard(onnx={"file": name})).name == "model.onnx"


def test_int8_file_alone_is_served_without_the_float_export(exported_dir: Path) -> None:
    """A zoo directory may ship only model.int8.onnx (repository budget): backend auto still serves it."""
    quantize_int8(exported_dir, FACES[:32], FACES, LABELS, min_agreement=0.5, max_drop=1.0)
    (exported_dir / "model.onnx").unlink()
    clf = load_model(exported_dir, backend="auto")
    assert clf.backend == "onnx" and clf.predict(FACES[:2]).shape == (2, 7)
