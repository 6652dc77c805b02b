"""fer_core.bench.untrained: a recipe's network, untrained, served as int8 ONNX like a shipped model, for timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from fer_core.bench.untrained import untrained_int8_classifier
from fer_core.labels import FERPLUS
from fer_core.serving.quantize import INT8_FILE


def test_a_recipe_becomes_an_int8_onnx_classifier_without_training(tmp_path: Path) -> None:
    clf = untrained_int8_classifier("cnn_tiny_fer2013", tmp_path)
    assert clf.backend == "onnx" and clf.labels == FERPLUS.names
    assert clf.name == "cnn_tiny_fer2013 (untrained)" and clf.card.mflops and clf.card.mflops > 0
    graph = onnx.load(str(tmp_path / "cnn_tiny_fer2013" / INT8_FILE)).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)  # the int8 graph quantize writes, not float
    probs = clf.predict(np.random.default_rng(0).integers(0, 256, (3, 96, 96), dtype=np.uint8))
    assert probs.shape == (3, len(FERPLUS)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_recipe_file_given_by_path_is_timed_under_its_file_name(tmp_path: Path) -> None:
    recipe = Path(__file__).resolve().parents[3] / "fer_core" / "training" / "recipe_files" / "cnn_tiny_fer2013.json"
    variant = tmp_path / "narrow_variant.json"
    variant.write_text(recipe.read_text())
    clf = untrained_int8_classifier(variant, tmp_path / "out")
    assert clf.name == "narrow_variant (untrained)"
