"""scripts/ensemble_search.py: subsets scored as the served ensemble is (mean probabilities), best first."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def search():
    return load_script("ensemble_search")


def test_complementary_members_beat_each_alone(search) -> None:
    labels = np.array([0, 0, 1, 1])
    # a is sure and right on the first half, unsure and wrong on the second; b the other way round
    a = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    b = np.array([[0.4, 0.6], [0.4, 0.6], [0.1, 0.9], [0.1, 0.9]])
    ranking = search.ranked_subsets({"a": a, "b": b}, labels)
    assert ranking[0][0] == ("a", "b") and ranking[0][1]["accuracy"] == 1.0
    assert {subset for subset, _ in ranking} == {("a",), ("b",), ("a", "b")}
    assert ranking[1][1]["accuracy"] == 0.5


def test_candidates_are_scored_on_the_backend_an_ensemble_serves_them_with(search) -> None:
    """Members are served from their int8 ONNX files, so the search must score those, not the torch weights."""
    from fer_core.serving.classifier import load_model

    name = "cnn_robust_joint@fer2013"
    faces = np.random.default_rng(0).integers(0, 256, size=(16, 48, 48), dtype=np.uint8)
    served = load_model(name)
    assert served.backend == "onnx"
    np.testing.assert_allclose(search.validation_probabilities(name, faces), served.predict(faces), atol=1e-6)


def test_the_written_card_records_how_its_members_were_chosen(search) -> None:
    record = search.selection_record("ferplus", {"accuracy": 0.8, "macro_f1": 0.6, "score": 0.7}, ["a@ferplus"])
    assert record == {
        "split": "FER+ Valid (majority)",
        "metric": "acc_f1",
        "accuracy": 0.8,
        "macro_f1": 0.6,
        "acc_f1": 0.7,
        "candidates": ["a@ferplus"],
    }
