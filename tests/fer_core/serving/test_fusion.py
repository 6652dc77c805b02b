"""A fused head: two heads' probabilities averaged class by class, declared in the card, served like any head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_classifier_heads import make_two_head_dir

from fer_core.labels import FER2013, FERPLUS
from fer_core.serving.classifier import load_model
from fer_core.store.model_dir import Checkpoints


def _add_fusion(directory: Path, **overrides) -> None:
    card_path = directory / "card.json"
    card = json.loads(card_path.read_text())
    card["fusion"] = {"name": "fused", "labels": list(FERPLUS.names), "heads": {"fer2013": 1.0, "ferplus": 1.0}}
    card["fusion"].update(overrides)
    card_path.write_text(json.dumps(card))


def _crops() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 3.0)])
def test_fused_head_averages_the_heads_by_class_name(tmp_path: Path, weights) -> None:
    directory = make_two_head_dir(tmp_path / "joint", bias=[0.5, 0, 0, -0.5, 0, 0, 0])
    _add_fusion(directory, heads={"fer2013": weights[0], "ferplus": weights[1]})
    fer2013 = load_model(directory, head="fer2013", backend="torch").predict(_crops())
    ferplus = load_model(directory, head="ferplus", backend="torch").predict(_crops())
    fused = load_model(directory, head="fused", backend="torch")
    assert fused.labels == FERPLUS.names and fused.name == "joint@fused"
    assert fused.answer.startswith("answers in 8 classes (neutral, happy") and "fer2013 x" in fused.answer
    probs = fused.predict(_crops())
    mapped = np.zeros_like(ferplus)
    for i, name in enumerate(FER2013.names):
        mapped[:, FERPLUS.names.index(name)] = fer2013[:, i]
    expected = (weights[0] * mapped + weights[1] * ferplus) / sum(weights)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    contempt = FERPLUS.names.index("contempt")
    np.testing.assert_allclose(probs[:, contempt], ferplus[:, contempt] * weights[1] / sum(weights), atol=1e-6)


def test_fused_head_can_be_the_default_and_a_picker_choice(tmp_path: Path) -> None:
    directory = make_two_head_dir(tmp_path / "joint")
    _add_fusion(directory)
    card = json.loads((directory / "card.json").read_text())
    card["default_head"] = "fused"
    (directory / "card.json").write_text(json.dumps(card))
    assert load_model(directory, backend="torch").head == "fused"
    assert "joint@fused" in Checkpoints(tmp_path).choices()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"heads": {"fer2013": 1.0, "nope": 1.0}}, "fusion part 'nope' is not a head"),
        ({"heads": {"fer2013": -1.0}}, "must be a positive number"),
        ({"labels": list(FER2013.names)[:3]}, "that 'fusion.labels' lacks"),
        ({"name": "fer2013"}, "must be a new head name"),
    ],
)
def test_a_broken_fusion_entry_is_refused_with_its_reason(tmp_path: Path, override, message) -> None:
    from fer_core.serving.model_guard import ModelLoadError

    directory = make_two_head_dir(tmp_path / "joint")
    _add_fusion(directory, **override)
    with pytest.raises(ModelLoadError, match=message):
        load_model(directory, head="fused", backend="torch")
