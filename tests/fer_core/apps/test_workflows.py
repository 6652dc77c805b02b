"""Evaluation workflow: a stored run and a card's test metrics are replaced only by a run of the same data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_tiny_model_dir

from fer_core.apps.cli import main
from fer_core.labels import FER2013


def _fer2013_tree(root: Path, per_class: int) -> Path:
    """Kaggle FER2013 folders: ``test/<class>/PrivateTest_<n>.png`` (plus PublicTest, the validation split)."""
    rng = np.random.default_rng(per_class)
    for name in FER2013.names:
        for usage in ("PublicTest", "PrivateTest"):
            for i in range(per_class):
                path = root / "test" / name / f"{usage}_{name}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root


def _image_folder(root: Path) -> Path:
    """An ImageFolder of 8 faces: ``<root>/test/<class>/*.png``."""
    rng = np.random.default_rng(8)
    for i in range(8):
        path = root / "test" / FER2013.names[i % 7] / f"face{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root


@pytest.fixture
def evaluated(tmp_path: Path) -> dict:
    """A model with its FER2013 test run (3 faces per class) and the card metrics it set."""
    model = make_tiny_model_dir(tmp_path / "models" / "tiny_cnn")
    fer2013 = _fer2013_tree(tmp_path / "data" / "fer2013", per_class=3)
    assert main(["evaluate", "--model", str(model), "--dataset", "fer2013", "--dataset-path", str(fer2013)]) == 0
    return {"model": model, "tmp": tmp_path, "fer2013": fer2013}


def _imagefolder_named_fer2013(case: dict) -> list[str]:
    return ["--dataset", "imagefolder", "--dataset-path", str(_image_folder(case["tmp"] / "other" / "fer2013"))]


def _imagefolder_with_fer2013_id(case: dict) -> list[str]:
    folder = _image_folder(case["tmp"] / "my_faces")
    return ["--dataset", "imagefolder", "--dataset-path", str(folder), "--dataset-id", "fer2013"]


def _smaller_fer2013_copy(case: dict) -> list[str]:
    return ["--dataset", "fer2013", "--dataset-path", str(_fer2013_tree(case["tmp"] / "small" / "fer2013", 1))]


def _id_that_becomes_the_same_file(case: dict) -> list[str]:
    """``fer 2013`` and ``fer_2013`` are one file name (``fer_2013-test.parquet``)."""
    first = _image_folder(case["tmp"] / "faces_a")
    assert main(["evaluate", "--model", str(case["model"]), "--dataset", "imagefolder", "--dataset-path", str(first),
                 "--dataset-id", "fer_2013"]) == 0  # fmt: skip
    return ["--dataset", "fer2013", "--dataset-path", str(case["fer2013"]), "--dataset-id", "fer 2013"]


COLLISIONS: dict[str, Callable[[dict], list[str]]] = {
    "imagefolder named fer2013": _imagefolder_named_fer2013,
    "--dataset-id fer2013": _imagefolder_with_fer2013_id,
    "smaller copy of fer2013": _smaller_fer2013_copy,
    "ids with one file name": _id_that_becomes_the_same_file,
}


def _stored(model: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [model / "card.json", *sorted((model / "runs").iterdir())]}


@pytest.mark.parametrize("make_args", COLLISIONS.values(), ids=COLLISIONS.keys())
def test_a_run_of_other_data_never_replaces_a_stored_run(
    evaluated: dict, make_args: Callable, capsys: pytest.CaptureFixture
) -> None:
    args = make_args(evaluated)
    before = _stored(evaluated["model"])
    capsys.readouterr()
    assert main(["evaluate", "--model", str(evaluated["model"]), *args]) == 2
    [error] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "-test.parquet holds a run of dataset" in error and "the new run is of dataset" in error
    assert "--overwrite" in error
    assert _stored(evaluated["model"]) == before


def test_overwrite_replaces_the_run_but_an_imagefolder_never_sets_the_card(evaluated: dict) -> None:
    model = evaluated["model"]
    card_before = (model / "card.json").read_bytes()
    args = _imagefolder_named_fer2013(evaluated)
    assert main(["evaluate", "--model", str(model), *args, "--overwrite"]) == 0
    info = json.loads((model / "runs" / "fer2013-test.json").read_text())
    assert (info["layout"], info["num_samples"]) == ("imagefolder", 8)
    assert (model / "card.json").read_bytes() == card_before


def test_reevaluating_the_same_data_replaces_the_run(evaluated: dict) -> None:
    model, data = evaluated["model"], evaluated["fer2013"]
    args = ["evaluate", "--model", str(model), "--dataset", "fer2013", "--dataset-path", str(data), "--resize-grid"]
    assert main(args) == 0
    info = json.loads((model / "runs" / "fer2013-test.json").read_text())
    assert info["num_samples"] == 21 and len(info["conditions"]) == 37


def test_card_metrics_of_other_data_are_kept_without_a_stored_run(
    evaluated: dict, capsys: pytest.CaptureFixture
) -> None:
    """The run file is gone (moved away), the card still names 21 test faces: a 7-face copy must not reset it."""
    model = evaluated["model"]
    for path in (model / "runs").iterdir():
        path.unlink()
    card_before = (model / "card.json").read_bytes()
    assert main(["evaluate", "--model", str(model), *_smaller_fer2013_copy(evaluated)]) == 2
    assert "card.json: its test metrics come from fer2013 test (21 samples)" in capsys.readouterr().err
    assert (model / "card.json").read_bytes() == card_before
    assert main(["evaluate", "--model", str(model), *_smaller_fer2013_copy(evaluated), "--overwrite"]) == 0
    assert json.loads((model / "card.json").read_text())["metrics"]["test"]["samples"] == 7
