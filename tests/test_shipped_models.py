"""The shipped checkpoints: complete cards, stored runs that agree with them, and a fresh evaluation that agrees
with the stored run on the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core import metrics
from fer_core.evaluate import DEFAULT_PAIRS, DEFAULT_SIZES, evaluate_classifier
from fer_core.runs import load_run
from fer_core.zoo import CHECKPOINTS_DIR, default_model_name, list_models, load_model

SHIPPED = list_models(CHECKPOINTS_DIR)
SELECTION = {"fer2013": "PublicTest", "ferplus": "FER2013Valid"}
CARD_KEYS = ("id", "family", "architecture", "labels", "input", "params", "weights_mb", "training", "metrics")
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped models in checkpoints/")


def _card(name: str) -> dict:
    return json.loads((CHECKPOINTS_DIR / name / "card.json").read_text())


def test_default_model_is_shipped_and_fast_enough() -> None:
    name = default_model_name(CHECKPOINTS_DIR)
    assert name in SHIPPED
    card = _card(name)
    assert card["latency_ms_per_face"] <= 3.0, "the default live model must classify a face in <= 3 ms on 1 core"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete_and_selected_on_validation(name: str) -> None:
    card = _card(name)
    assert not [key for key in CARD_KEYS if key not in card]
    training = card["training"]
    assert training["selection_split"] == SELECTION[training["dataset"]]
    history = pd.read_csv(CHECKPOINTS_DIR / name / "history.csv")
    assert len(history) == training["epochs"]
    assert history["val_acc"].max() == pytest.approx(training["best_val_accuracy"], abs=1e-5)
    assert int(history["val_acc"].idxmax()) + 1 == training["best_epoch"]


@pytest.mark.parametrize("name", SHIPPED)
def test_test_run_has_clean_grid_and_age_groups_and_matches_the_card(name: str) -> None:
    card = _card(name)
    dataset = card["training"]["dataset"]
    run = load_run(CHECKPOINTS_DIR / name / "runs" / f"{dataset}-test.parquet", card)
    expected = {"clean"} | {f"resize:{px}:{d}>{u}" for d, u in DEFAULT_PAIRS for px in DEFAULT_SIZES}
    assert set(run.conditions) == expected
    assert run.rows["age_group"].notna().any()
    clean = metrics.condition_rows(run.rows, "clean")
    headline = card["metrics"]["test"]
    assert headline["accuracy"] == round(metrics.accuracy(clean), 5)
    assert headline["macro_f1"] == round(metrics.macro_f1(clean), 5)
    assert headline["samples"] == len(clean) == run.info["num_samples"]


@pytest.mark.parametrize("name", SHIPPED)
def test_fresh_evaluation_reproduces_the_stored_run(name: str, data_root: Path) -> None:
    """Re-run the model on the real test split: same predictions as the stored run, so the same accuracy."""
    from fer_core.data import load_split

    card = _card(name)
    dataset = card["training"]["dataset"]
    run = load_run(CHECKPOINTS_DIR / name / "runs" / f"{dataset}-test.parquet", card)
    arrays = load_split(dataset, data_root / dataset, "test", label_mode=run.info["label_mode"])
    clf = load_model(name, backend=run.info.get("backend", "torch"))
    rows, _ = evaluate_classifier(clf, arrays.images, arrays.labels, arrays.sample_ids, progress=False)
    stored = metrics.condition_rows(run.rows, "clean").set_index("sample_id").loc[rows["sample_id"]]
    assert (stored["pred"].to_numpy() == rows["pred"].to_numpy()).mean() > 0.999
    np.testing.assert_array_equal(stored["label"].to_numpy(), rows["label"].to_numpy())
    assert metrics.accuracy(rows) == pytest.approx(card["metrics"]["test"]["accuracy"], abs=2e-3)
