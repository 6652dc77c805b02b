"""The command line: listing, export and bench on a tiny model directory, errors as messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_core.cli import main
from fer_core.models import list_architectures

STUDY_ARCHITECTURES = (
    "cnn cnn_mha vgg13 resnet18 vgg16 densenet121 vit convnext convnextv2 clip_vision cct mcct ddamfn".split()
)


def test_models_lists_every_architecture(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_architectures():
        assert f"  {name} " in out


def test_catalogue_covers_the_study_architectures() -> None:
    missing = sorted(set(STUDY_ARCHITECTURES) - set(list_architectures()))
    assert not missing, f"architectures missing from the catalogue: {missing}"


def test_export_then_bench(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--model", str(tiny_model_dir)]) == 0
    assert (tiny_model_dir / "model.onnx").is_file()
    out_json = tmp_path / "bench.json"
    args = ["bench", "--model", str(tiny_model_dir), "--batch", "1", "4", "--json", str(out_json)]
    assert main(args) == 0
    rows = json.loads(out_json.read_text())
    assert {row["backend"] for row in rows} == {"torch", "onnx"}
    assert all(row["ms_per_face_b1"] > 0 for row in rows)


def test_unknown_model_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_unknown_recipe_names_the_shipped_ones(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--recipe", "nope", "--out", str(tmp_path / "m"), "--dataset", "fer2013"]) == 2
    assert "shipped: " in capsys.readouterr().err
