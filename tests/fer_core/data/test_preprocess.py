"""One preprocessing path: training, evaluation, dataset decoding and serving give a face the same tensor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fer_core.data.images import decode_gray
from fer_core.data.preprocess import (
    InputSpec,
    normalise,
    prepare_batch,
    resize_face,
    resize_interpolation,
    resize_stack,
)
from fer_core.evaluation.evaluate import apply_condition
from fer_core.training.loop import _resized_tensor

RNG = np.random.default_rng(0)
SPECS = [
    InputSpec(size=48, channels=1, mean=(0.5,), std=(0.25,)),
    InputSpec(size=48, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    InputSpec(size=64, channels=3, mean=(0.5,), std=(0.2,)),
]


@pytest.mark.parametrize(("side", "size", "rule"), [(96, 48, cv2.INTER_AREA), (40, 48, cv2.INTER_LINEAR)])
def test_one_resize_rule(side: int, size: int, rule: int) -> None:
    assert resize_interpolation((side, side), size) == rule
    faces = RNG.integers(0, 256, (5, side, side), dtype=np.uint8)
    stacked = resize_stack(faces, size)
    assert all(np.array_equal(stacked[i], resize_face(faces[i], size)) for i in range(5))
    assert np.array_equal(stacked[0], cv2.resize(faces[0], (size, size), interpolation=rule))


@pytest.mark.parametrize("spec", SPECS, ids=["grey", "rgb-imagenet", "rgb-64px"])
@pytest.mark.parametrize("side", [48, 72, 40])
def test_train_evaluate_decode_and_serve_give_identical_tensors(spec: InputSpec, side: int) -> None:
    faces = RNG.integers(0, 256, (6, side, side), dtype=np.uint8)
    served = prepare_batch(list(faces), spec)  # Classifier.predict on crops, one at a time
    evaluated = prepare_batch(
        apply_condition(faces, "clean", spec.size), spec
    )  # fer_core.evaluation.evaluate's clean rows
    trained = normalise(_resized_tensor(faces, spec.size, torch.device("cpu")), spec).numpy()  # fer_core.training.loop
    encoded = [cv2.imencode(".png", face)[1] for face in faces]
    decoded = prepare_batch(np.stack([decode_gray(data, spec.size, "face") for data in encoded]), spec)
    assert served.shape == (6, spec.channels, spec.size, spec.size) and served.dtype == np.float32
    for other in (evaluated, trained, decoded):
        np.testing.assert_array_equal(other, served)


def test_normalisation_is_per_channel() -> None:
    spec = SPECS[1]
    grey = np.full((1, 48, 48), 128, np.uint8)
    batch = prepare_batch(grey, spec)
    expected = [(128 / 255 - m) / s for m, s in zip(spec.mean, spec.std, strict=True)]
    np.testing.assert_allclose(batch[0, :, 0, 0], expected, rtol=1e-6)
