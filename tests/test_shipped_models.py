"""The shipped checkpoints: complete cards, stored runs that agree with them, and a fresh evaluation that agrees
with the stored run on the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core.evaluation import metrics
from fer_core.evaluation.evaluate import DEFAULT_PAIRS, DEFAULT_SIZES, corruption_conditions, evaluate_classifier
from fer_core.serving.classifier import load_model, weights_sha256
from fer_core.serving.quantize import int8_weight_extremes
from fer_core.store.card import ModelCard
from fer_core.store.model_dir import CHECKPOINTS_DIR, Checkpoints
from fer_core.store.runs import load_run, read_run_info

SHIPPED = Checkpoints(CHECKPOINTS_DIR).names()
SELECTION = {"fer2013": "PublicTest", "ferplus": "FER2013Valid", "fer2013+ferplus": "PublicTest = FER2013Valid"}
CARD_KEYS = ("id", "family", "architecture", "labels", "input", "params", "weights_mb", "training", "metrics")
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped models in checkpoints/")


def _card(name: str) -> dict:
    return json.loads((CHECKPOINTS_DIR / name / "card.json").read_text())


def _test_runs(name: str) -> list[tuple[str, str, dict]]:
    """(model to load, dataset, headline metrics) of each test run a model ships: one per head of a multi-head model."""
    card = _card(name)
    if card.get("heads"):
        return [(f"{name}@{head}", head, entry["metrics"]["test"]) for head, entry in card["heads"].items()]
    dataset = card["training"].get("dataset") or card["label_set"]
    return [(name, dataset, card["metrics"]["test"])]


SHIPPED_RUNS = [(name, *run) for name in SHIPPED for run in _test_runs(name)]
TRAINED = [name for name in SHIPPED if _card(name)["family"] != "ensemble"]


def test_default_model_is_shipped_and_fast_enough() -> None:
    name = Checkpoints(CHECKPOINTS_DIR).default_name().split("@")[0]
    assert name in SHIPPED
    card = _card(name)
    assert card["latency_ms_per_face"] <= 3.0, "the default live model must classify a face in <= 3 ms on 1 core"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete(name: str) -> None:
    assert not [key for key in CARD_KEYS if key not in _card(name)]


@pytest.mark.parametrize("name", TRAINED)
def test_card_is_selected_on_validation(name: str) -> None:
    training = _card(name)["training"]
    assert training["selection_split"] == SELECTION[training["dataset"]]
    history = pd.read_csv(CHECKPOINTS_DIR / name / "history.csv")
    assert len(history) == training["epochs"]
    column = "val_score" if "val_score" in history else "val_acc"  # the selection metric's per-epoch value
    assert int(history[column].idxmax()) + 1 == training["best_epoch"]
    assert history["val_acc"][training["best_epoch"] - 1] == pytest.approx(training["best_val_accuracy"], abs=1e-5)


@pytest.mark.parametrize(("name", "model", "dataset", "headline"), SHIPPED_RUNS)
def test_test_run_has_clean_grid_and_age_groups_and_matches_the_card(name, model, dataset, headline) -> None:
    run = load_run(CHECKPOINTS_DIR / name / "runs" / f"{dataset}-test.parquet", ModelCard.from_dict(_card(name)))
    assert run.model_id == model
    expected = {"clean"} | {f"resize:{px}:{d}>{u}" for d, u in DEFAULT_PAIRS for px in DEFAULT_SIZES}
    corruptions = set(corruption_conditions())
    assert set(run.conditions) in (expected, expected | corruptions)  # evaluate --corruptions adds the second set
    assert run.rows["age_group"].notna().any()
    clean = metrics.condition_rows(run.rows, "clean")
    assert headline["accuracy"] == round(metrics.accuracy(clean), 5)
    assert headline["macro_f1"] == round(metrics.macro_f1(clean), 5)
    assert headline["samples"] == len(clean) == run.info.num_samples


@pytest.mark.parametrize(("name", "model", "dataset", "headline"), SHIPPED_RUNS)
def test_fresh_evaluation_reproduces_the_stored_run(name, model, dataset, headline, data_root: Path) -> None:
    """Re-run the model on the real test split: same predictions as the stored run, so the same accuracy."""
    from fer_core.data import load_split

    run = load_run(CHECKPOINTS_DIR / name / "runs" / f"{dataset}-test.parquet", ModelCard.from_dict(_card(name)))
    arrays = load_split(dataset, data_root / dataset, "test", label_mode=run.info.label_mode)
    recorded = run.info.backend or "torch"
    clf = load_model(model, backend=recorded if recorded in ("torch", "onnx") else "auto")  # "onnx+torch": an ensemble
    rows, _ = evaluate_classifier(clf, arrays.images, arrays.labels, arrays.sample_ids, progress=False)
    stored = metrics.condition_rows(run.rows, "clean").set_index("sample_id").loc[rows["sample_id"]]
    assert (stored["pred"].to_numpy() == rows["pred"].to_numpy()).mean() > 0.999
    np.testing.assert_array_equal(stored["label"].to_numpy(), rows["label"].to_numpy())
    assert metrics.accuracy(rows) == pytest.approx(headline["accuracy"], abs=2e-3)


INT8_SHIPPED = [name for name in SHIPPED if (CHECKPOINTS_DIR / name / "model.int8.onnx").is_file()]


@pytest.mark.parametrize("name", INT8_SHIPPED)
def test_int8_file_answers_alike_on_every_cpu_and_was_checked_on_every_head(name: str) -> None:
    """7-bit weights: no int16 saturation on CPUs without VNNI (see fer_core.serving.quantize), and each head passed."""
    from fer_core.serving.quantize import WEIGHT_BITS

    low, high = int8_weight_extremes(CHECKPOINTS_DIR / name / "model.int8.onnx")
    assert 255 * max(-low, high) * 2 <= 32767
    report = _card(name)["onnx"]
    assert report["kept"] and f"{WEIGHT_BITS}-bit" in report["precision"]
    heads = _card(name).get("heads") or {}
    assert set(report.get("heads", {})) == set(heads)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_stored_run_was_computed_from_the_weights_the_model_loads_now(name: str) -> None:
    """A run left from earlier weights (or an ensemble's earlier members) would be shown as this model's result."""
    current = weights_sha256(CHECKPOINTS_DIR / name)
    stale = [
        sidecar.name
        for sidecar in sorted((CHECKPOINTS_DIR / name / "runs").glob("*.json"))
        if read_run_info(sidecar).weights_sha256 != current
    ]
    assert not stale, f"{name}: runs from other weights, evaluate them again or remove them: {', '.join(stale)}"
