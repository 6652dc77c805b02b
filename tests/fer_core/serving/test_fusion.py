"""A fused head: two heads' probabilities averaged class by class, declared in the card, served like any head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_classifier_heads import make_two_head_dir

from fer_core.data.preprocess import prepare_batch
from fer_core.labels import FER2013, FERPLUS
from fer_core.serving.classifier import load_model
from fer_core.serving.fusion import FusedPart, Fusion
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


def _reference_fusion(fusion: Fusion, logits: np.ndarray) -> np.ndarray:
    """Part by part, the definition: each block's softmax (bias added) placed at its labels, weighted, averaged."""
    fused = np.zeros((len(logits), len(fusion.labels)))
    for part in fusion.parts:
        block = logits[:, part.outputs[0] : part.outputs[1]].astype(np.float64)
        block = block + (part.logit_bias if part.logit_bias is not None else 0.0)
        exp = np.exp(block - block.max(axis=1, keepdims=True))
        fused[:, part.columns] += part.weight * exp / exp.sum(axis=1, keepdims=True)
    return fused / sum(part.weight for part in fusion.parts)


@pytest.mark.parametrize("scale", [1.0, 50.0, 2000.0])
def test_fusion_matches_its_definition_for_parts_in_any_order_and_far_apart_logit_scales(scale: float) -> None:
    labels = ("a", "b", "c", "d")
    parts = (  # the second head's outputs come first in the network; its classes map onto the labels out of order
        FusedPart("late", (3, 6), np.array([0.5, 0.0, -1.0]), np.array([0, 1, 2]), 3.0),
        FusedPart("early", (0, 3), None, np.array([3, 1, 0]), 1.0),
    )
    fusion = Fusion("fused", labels, parts)
    logits = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32) * scale
    logits[:, :3] -= 5 * scale  # one head's logits far below the other's: each softmax must shift by its own max
    probs = fusion.probabilities(logits)
    assert probs.dtype == np.float32 and np.isfinite(probs).all()
    np.testing.assert_allclose(probs, _reference_fusion(fusion, logits), atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_fused_answer_predicts_what_its_log_probabilities_say(tmp_path: Path) -> None:
    directory = make_two_head_dir(tmp_path / "joint", bias=[0.5, 0, 0, -0.5, 0, 0, 0])
    _add_fusion(directory, heads={"fer2013": 0.75, "ferplus": 0.25})
    fused = load_model(directory, head="fused", backend="torch")
    batch = prepare_batch(_crops(), fused.input_spec)
    np.testing.assert_allclose(fused.predict(_crops()), np.exp(fused.head_logits(batch)), atol=1e-6)
