"""Occlusion saliency finds the region a classifier relies on, whatever the classifier is."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.apps.saliency import occlusion_saliency, saliency_overlay


class TopLeftBrightness:
    """A fake classifier: 'happy' as sure as the top-left quarter of the face is bright; nothing else matters."""

    labels = ("sad", "happy")

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, crops) -> np.ndarray:
        self.calls += 1
        corner = np.array([np.asarray(c, float)[:6, :6].mean() / 255 for c in crops])
        return np.stack([1 - corner, corner], axis=1).astype(np.float32)


def test_the_map_lights_up_where_the_classifier_looks() -> None:
    face = np.full((96, 96), 60, np.uint8)
    face[:24, :24] = 250  # bright top-left: the fake model says happy
    clf = TopLeftBrightness()
    saliency = occlusion_saliency(clf, face, 24)
    assert saliency.target == 1 and saliency.heat.shape == (24, 24)
    assert saliency.heat[:6, :6].mean() > 0.02 and np.abs(saliency.heat[16:, 16:]).max() < 1e-6
    assert saliency.heat[:6, :6].mean() > 3 * np.abs(saliency.heat[6:12, 6:12]).mean()
    assert clf.calls == 1 and saliency.forward_passes == 1 + 11 * 11  # one batch: the face and 121 squares
    overlay = saliency_overlay(saliency, display_px=96)
    assert overlay.shape == (96, 96, 3) and overlay.dtype == np.uint8
    assert overlay[5, 5, 0] > overlay[5, 5, 2]  # supporting region in red


@pytest.mark.parametrize("crop_shape", [(50, 40, 3), (24, 24)])
def test_any_crop_shape_and_an_explicit_target(crop_shape) -> None:
    crop = np.random.default_rng(0).integers(0, 256, crop_shape, dtype=np.uint8)
    saliency = occlusion_saliency(TopLeftBrightness(), crop, 24, target=0)
    assert saliency.target == 0 and saliency.face.shape == (24, 24) and np.isfinite(saliency.heat).all()


def test_a_real_model_backend(tiny_model_dir) -> None:
    from fer_core.serving.classifier import load_model

    clf = load_model(tiny_model_dir)
    face = np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)
    saliency = occlusion_saliency(clf, face, clf.input_size)
    assert saliency.probability == pytest.approx(float(clf.predict([face])[0].max()), abs=1e-5)
