"""Int8 ONNX Runtime quantisation: kept only when it predicts like the float model, then served by default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_model_dir

from fer_core.serving.classifier import load_model, served_onnx_file
from fer_core.serving.export import export_onnx
from fer_core.serving.quantize import INT8_FILE, HeadCheck, int8_weight_extremes, quantize_int8
from fer_core.store.card import ModelCard

RNG = np.random.default_rng(0)
FACES = RNG.integers(0, 256, (64, 48, 48), dtype=np.uint8)
LABELS = RNG.integers(0, 7, 64)


@pytest.fixture
def exported_dir(tmp_path: Path) -> Path:
    directory = make_tiny_model_dir(tmp_path / "tiny")
    export_onnx(directory)
    return directory


def test_quantised_model_is_kept_and_served(exported_dir: Path) -> None:
    report = quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
    assert report["kept"] and (exported_dir / INT8_FILE).is_file()
    card = json.loads((exported_dir / "card.json").read_text())
    assert card["onnx"]["file"] == INT8_FILE and 0.5 <= card["onnx"]["val_top1_agreement"] <= 1
    assert served_onnx_file(exported_dir, ModelCard.from_dict(card)).name == INT8_FILE
    probs = load_model(exported_dir, backend="auto").predict(FACES[:4])
    assert probs.shape == (4, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_quantised_model_that_disagrees_is_not_kept(exported_dir: Path) -> None:
    before = (exported_dir / "card.json").read_text()
    report = quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=1.01)
    assert not report["kept"] and not (exported_dir / INT8_FILE).exists()
    assert (exported_dir / "card.json").read_text() == before
    assert not list(exported_dir.glob("*tmp*"))


def test_card_naming_a_missing_or_foreign_file_falls_back_to_the_float_export(exported_dir: Path) -> None:
    for name in ("missing.onnx", "../model.onnx"):
        assert served_onnx_file(exported_dir, ModelCard(onnx={"file": name})).name == "model.onnx"


def test_int8_file_alone_is_served_without_the_float_export(exported_dir: Path) -> None:
    """A zoo directory may ship only model.int8.onnx (repository budget): backend auto still serves it."""
    quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
    (exported_dir / "model.onnx").unlink()
    clf = load_model(exported_dir, backend="auto")
    assert clf.backend == "onnx" and clf.predict(FACES[:2]).shape == (2, 7)


def test_weights_use_7_bits_so_cpus_without_vnni_do_not_saturate(exported_dir: Path) -> None:
    """uint8 x int8 pairs summed in int16 (VPMADDUBSW) overflow with 8-bit weights: 255 x 127 x 2 > 32767."""
    quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
    low, high = int8_weight_extremes(exported_dir / INT8_FILE)
    assert -64 <= low < 0 < high <= 64
    assert 255 * max(-low, high) * 2 <= 32767


def test_every_head_is_checked_and_the_worst_decides(tmp_path: Path) -> None:
    from test_classifier_heads import make_two_head_dir

    directory = make_two_head_dir(tmp_path / "joint")
    export_onnx(directory)
    checks = [HeadCheck("fer2013", FACES, LABELS), HeadCheck("ferplus", FACES, RNG.integers(0, 8, 64))]
    report = quantize_int8(directory, FACES[:32], checks, min_agreement=0.5, max_drop=1.0)
    assert set(report["heads"]) == {"fer2013", "ferplus"}
    worst = min(head["val_top1_agreement"] for head in report["heads"].values())
    assert report["val_top1_agreement"] == worst and report["kept"]
    card = json.loads((directory / "card.json").read_text())
    assert set(card["onnx"]["heads"]) == {"fer2013", "ferplus"}


def test_one_failing_head_is_enough_to_keep_the_float_export(tmp_path: Path, monkeypatch) -> None:
    """A head whose int8 answers drift (measured: FER2013 head 88 % agreement, FER+ head 91 %) vetoes the file."""
    from test_classifier_heads import make_two_head_dir

    from fer_core.serving import quantize

    real_report = quantize._head_report

    def drifting_fer2013_head(model, int8_path, check):
        report = real_report(model, int8_path, check)
        return {**report, "val_top1_agreement": 0.88} if check.head == "fer2013" else report

    monkeypatch.setattr(quantize, "_head_report", drifting_fer2013_head)
    directory = make_two_head_dir(tmp_path / "joint")
    export_onnx(directory)
    checks = [HeadCheck("fer2013", FACES, LABELS), HeadCheck("ferplus", FACES, RNG.integers(0, 8, 64))]
    report = quantize_int8(directory, FACES[:32], checks, min_agreement=0.9, max_drop=1.0)
    assert not report["kept"] and report["val_top1_agreement"] == 0.88
    assert not (directory / INT8_FILE).exists()


def test_requantising_that_fails_the_check_stops_serving_the_earlier_int8_file(exported_dir: Path) -> None:
    quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
    report = quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=1.01)
    assert not report["kept"] and not (exported_dir / INT8_FILE).exists()
    card = json.loads((exported_dir / "card.json").read_text())
    assert card.get("onnx") is None
    assert served_onnx_file(exported_dir, ModelCard.from_dict(card)).name == "model.onnx"


def test_quantize_without_the_float_export_says_to_export_first(exported_dir: Path) -> None:
    from fer_core.store.json_files import ModelLoadError

    quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
    (exported_dir / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match="fer_core export --model"):
        quantize_int8(exported_dir, FACES[:32], [HeadCheck(None, FACES, LABELS)], min_agreement=0.5, max_drop=1.0)
