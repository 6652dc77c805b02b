"""Ensemble model directories: members resolved beside the directory, mean probabilities, stored like any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_model_dir
from test_classifier_heads import make_two_head_dir

from fer_core.labels import FERPLUS
from fer_core.serving.classifier import ModelLoadError, load_model, weights_sha256
from fer_core.serving.ensemble import EnsembleClassifier, save_ensemble_dir

CROPS = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)


def test_ensemble_predicts_the_mean_of_its_members(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a", labels=FERPLUS.names)
    make_two_head_dir(tmp_path / "joint")
    directory = save_ensemble_dir(tmp_path / "ens", ["a", "joint@ferplus"])
    ensemble = load_model(directory)
    assert isinstance(ensemble, EnsembleClassifier) and ensemble.labels == FERPLUS.names
    members = [load_model(tmp_path / "a"), load_model("joint@ferplus", root=tmp_path)]
    expected = (members[0].predict(CROPS) + members[1].predict(CROPS)) / 2
    np.testing.assert_allclose(ensemble.predict(CROPS), expected, atol=1e-6)
    card = json.loads((directory / "card.json").read_text())
    assert card["family"] == "ensemble" and card["params"] > 0
    assert len(weights_sha256(directory)) == 64


def test_ensemble_refuses_members_of_another_label_set(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "seven")
    make_tiny_model_dir(tmp_path / "eight", labels=FERPLUS.names)
    with pytest.raises(ValueError, match="pick members of one label set"):
        save_ensemble_dir(tmp_path / "ens", ["seven", "eight"])


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([], "needs 'members'"),
        ("a", "needs 'members'"),
        (["ens"], "cannot contain itself"),
        (["nope"], "unknown model"),
    ],
)
def test_broken_ensemble_cards_are_refused(tmp_path: Path, members, message: str) -> None:
    make_tiny_model_dir(tmp_path / "a")
    directory = tmp_path / "ens"
    directory.mkdir()
    card = {"id": "ens", "family": "ensemble", "members": members, "labels": ["x"], "input": {"size": 48}}
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=message):
        load_model(directory)
