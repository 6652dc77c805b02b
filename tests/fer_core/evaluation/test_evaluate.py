"""Evaluation conditions and stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_tiny_model_dir

from fer_core.evaluation.conditions import Corruption, Resize
from fer_core.evaluation.evaluate import (
    apply_condition,
    corruption_conditions,
    evaluate_classifier,
    parse_condition,
    resize_grid_conditions,
    write_run,
)
from fer_core.labels import FER2013, FERPLUS, SharedClasses
from fer_core.serving.classifier import load_model, weights_sha256


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("clean", None),
        ("resize:32:area>cubic", Resize(32, "area", "cubic")),
        ("resize:8:nearest>lanczos4", Resize(8, "nearest", "lanczos4")),
        ("blur:3", Corruption("blur", 3)),
    ],
)
def test_parse_condition(condition: str, expected) -> None:
    assert parse_condition(condition) == expected


@pytest.mark.parametrize("bad", ["resize:32", "resize:x:cubic>cubic", "resize:32:bicubic>cubic", "blur:4", "fog:1"])
def test_bad_conditions_name_the_valid_form(bad: str) -> None:
    with pytest.raises(ValueError, match="resize:<px>:<down>><up>"):
        parse_condition(bad)


def test_grid_has_every_size_for_the_study_pairs() -> None:
    grid = resize_grid_conditions()
    for pair in ("cubic>cubic", "linear>linear", "lanczos4>lanczos4", "cubic>linear"):
        assert {f"resize:{px}:{pair}" for px in (40, 32, 24, 16, 12, 8)} <= set(grid)


def test_resize_condition_loses_detail_but_keeps_shape() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (600, 48, 48), dtype=np.uint8)  # > 512 images exercises the chunking
    clean = apply_condition(images, "clean", 48)
    assert clean is images
    blurred = apply_condition(images, "resize:12:area>cubic", 48)
    assert blurred.shape == images.shape and blurred.dtype == np.uint8
    mild = apply_condition(images, "resize:40:area>cubic", 48)
    assert np.abs(mild.astype(int) - images).mean() < np.abs(blurred.astype(int) - images).mean()
    # A constant image survives any resize unchanged.
    flat = np.full((3, 48, 48), 77, np.uint8)
    assert (apply_condition(flat, "resize:8:nearest>linear", 64) == 77).all()


def test_stored_run_rows_and_sidecar(tiny_model_dir: Path) -> None:
    clf = load_model(tiny_model_dir)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (10, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, 10)
    meta = pd.DataFrame({"age_group": ["child", "adult"] * 5})
    conditions = ["clean", "resize:16:cubic>cubic"]
    rows, throughput = evaluate_classifier(
        clf, images, labels, [f"s{i}" for i in range(10)], meta, conditions=conditions, progress=False
    )
    assert len(rows) == 20 and throughput > 0
    assert list(rows.columns[:4]) == ["sample_id", "condition", "label", "pred"]
    assert [c for c in rows.columns if c.startswith("p_")] == [f"p_{n}" for n in clf.labels]
    probs = rows[[f"p_{n}" for n in clf.labels]].to_numpy()
    np.testing.assert_array_equal(rows["pred"], probs.argmax(1))
    clean = rows[rows["condition"] == "clean"]
    np.testing.assert_allclose(probs[: len(clean)], clf.predict(images), atol=1e-5)
    parquet_path, json_path = write_run(
        clf, rows, dataset="fer2013", split="test", label_set="fer2013", label_mode="majority", throughput=throughput
    )
    back = pd.read_parquet(parquet_path)
    assert len(back) == 20 and set(back["age_group"]) == {"child", "adult"}
    info = json.loads(json_path.read_text())
    assert info["num_samples"] == 10 and info["conditions"] == conditions
    assert info["weights_sha256"] == weights_sha256(tiny_model_dir)


def test_model_with_more_classes_is_restricted_to_the_datasets(tmp_path: Path) -> None:
    """A FER+ model (8 classes) on a 7-class dataset: contempt's probability removed, the rest renormalised."""
    clf = load_model(make_tiny_model_dir(tmp_path / "tiny_ferplus", labels=FERPLUS.names))
    images = np.random.default_rng(2).integers(0, 256, (12, 48, 48), dtype=np.uint8)
    classes = SharedClasses(FER2013, FERPLUS)
    rows, _ = evaluate_classifier(
        clf, images, np.zeros(12, int), [f"s{i}" for i in range(12)], progress=False, classes=classes
    )
    assert [c for c in rows.columns if c.startswith("p_")] == [f"p_{n}" for n in FER2013.names]
    probs = rows[[f"p_{n}" for n in FER2013.names]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)
    full = clf.predict(images)
    expected = full[:, classes.model_columns()] / full[:, classes.model_columns()].sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-4)
    np.testing.assert_array_equal(rows["pred"], expected.argmax(1))


@pytest.mark.parametrize("tta", ["flip", "tencrop"])
def test_tta_run_is_stored_beside_the_plain_run(tiny_model_dir: Path, tta: str) -> None:
    images = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    labels, ids, meta = np.arange(6) % 7, [f"s{i}" for i in range(6)], pd.DataFrame(index=range(6))
    paths = {}
    for mode in ("none", tta):
        clf = load_model(tiny_model_dir, tta=mode)
        rows, speed = evaluate_classifier(clf, images, labels, ids, meta, conditions=["clean"], progress=False)
        paths[mode] = write_run(
            clf, rows, dataset="fer2013", split="test", label_set="fer2013", label_mode="majority", throughput=speed
        )
    assert paths["none"][0].name == "fer2013-test.parquet"
    assert paths[tta][0].name == f"fer2013-test-tta-{tta}.parquet" and paths["none"][0].is_file()
    info = json.loads(paths[tta][1].read_text())
    assert info["tta"] == tta and info["model_id"].endswith(f"+{tta} TTA")


UNSTORABLE_ROWS = {
    "no samples": (lambda rows: rows.iloc[:0], "has no samples"),
    "a sample twice": (lambda rows: pd.concat([rows, rows.iloc[:2]], ignore_index=True), "samples twice"),
}


@pytest.mark.parametrize(("change", "message"), UNSTORABLE_ROWS.values(), ids=UNSTORABLE_ROWS.keys())
def test_empty_or_repeated_rows_are_refused_not_stored(tiny_model_dir: Path, change, message: str) -> None:
    clf = load_model(tiny_model_dir)
    images = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    rows, speed = evaluate_classifier(clf, images, np.arange(4), [f"s{i}" for i in range(4)], progress=False)
    with pytest.raises(ValueError, match=message):
        write_run(
            clf, change(rows), dataset="x", split="test", label_set="fer2013", label_mode="majority", throughput=speed
        )
    assert not (tiny_model_dir / "runs").exists()


def _write(clf, images, conditions: list[str], overwrite: bool = False) -> Path:
    labels, ids = np.arange(len(images)) % 7, [f"s{i}" for i in range(len(images))]
    rows, speed = evaluate_classifier(clf, images, labels, ids, conditions=conditions, progress=False)
    parquet_path, _ = write_run(
        clf,
        rows,
        dataset="fer2013",
        split="test",
        label_set="fer2013",
        label_mode="majority",
        throughput=speed,
        overwrite=overwrite,
    )
    return parquet_path


def test_corruption_run_keeps_the_resize_grid_of_the_same_weights(tiny_model_dir: Path) -> None:
    clf = load_model(tiny_model_dir)
    images = np.random.default_rng(3).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    _write(clf, images, ["clean", "resize:16:cubic>cubic"])
    parquet_path = _write(clf, images, ["clean", "blur:2", "eyes:1"])
    stored = pd.read_parquet(parquet_path)
    info = json.loads(parquet_path.with_suffix(".json").read_text())
    assert info["conditions"] == ["clean", "resize:16:cubic>cubic", "blur:2", "eyes:1"]
    assert info["conditions_kept_from"] is not None
    assert stored.groupby("condition", observed=True).size().tolist() == [8, 8, 8, 8]


def test_other_samples_replace_the_run_instead_of_merging(tiny_model_dir: Path) -> None:
    """Other samples replace a run only with ``overwrite`` (without it the run is refused, see check_run_target)."""
    clf = load_model(tiny_model_dir)
    rng = np.random.default_rng(4)
    _write(clf, rng.integers(0, 256, (8, 48, 48), dtype=np.uint8), ["clean", "resize:16:cubic>cubic"])
    parquet_path = _write(clf, rng.integers(0, 256, (5, 48, 48), dtype=np.uint8), ["clean", "blur:1"], overwrite=True)
    info = json.loads(parquet_path.with_suffix(".json").read_text())
    assert info["conditions"] == ["clean", "blur:1"] and info["conditions_kept_from"] is None


def test_every_corruption_condition_keeps_shape_and_changes_the_faces() -> None:
    images = np.random.default_rng(5).integers(40, 216, (4, 48, 48), dtype=np.uint8)
    for condition in corruption_conditions():
        shown = apply_condition(images, condition, 64)
        assert shown.shape == (4, 64, 64) and shown.dtype == np.uint8, condition
        assert not np.array_equal(shown, apply_condition(images, "clean", 64)), condition
