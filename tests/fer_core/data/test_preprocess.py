"""One preprocessing path: training, evaluation, dataset decoding and serving give a face the same tensor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

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


def test_the_project_transform_writes_the_four_keys_it_always_had() -> None:
    from fer_core.data.preprocess import InputSpec

    spec = InputSpec.from_dict({"size": 48, "channels": 3, "mean": [0.5], "std": [0.25]})
    assert spec.is_project_default and spec.to_dict() == {"size": 48, "channels": 3, "mean": [0.5], "std": [0.25]}
    own = InputSpec.from_dict({**spec.to_dict(), "color": "rgb", "resize": "shortest_edge", "resize_edge": 54})
    assert not own.is_project_default and InputSpec.from_dict(own.to_dict()) == own


@pytest.mark.parametrize(("offset", "left"), [("round", 18), ("floor", 17)])
def test_shortest_edge_resize_then_centre_crop(offset: str, left: int) -> None:
    """A 97x150 crop: shorter edge to 54 (longer int(54 * 150 / 97) = 83), crop 48 starting at 35 / 2."""
    from fer_core.data.preprocess import InputSpec, transform_face

    image = np.tile(np.arange(150, dtype=np.uint8)[None, :, None], (97, 1, 3))
    spec = InputSpec(
        size=48,
        channels=3,
        mean=(0.0,),
        std=(1.0,),
        color="rgb",
        resize="shortest_edge",
        resize_edge=54,
        interpolation="nearest",
        rescale=1.0,
        crop_offset=offset,
    )
    out = transform_face(image, spec)
    assert out.shape == (3, 48, 48)
    columns = np.asarray(Image.fromarray(image).resize((83, 54), Image.NEAREST))[0, :, 0]
    np.testing.assert_array_equal(out[0, 0], columns[left : left + 48])


def test_colour_crops_reach_a_colour_model_in_colour() -> None:
    from fer_core.data.preprocess import InputSpec, prepare_batch

    red_bgr = np.zeros((40, 40, 3), np.uint8)
    red_bgr[:, :, 2] = 255
    spec = InputSpec(size=32, channels=3, mean=(0.0,), std=(1.0,), color="rgb", interpolation="bilinear")
    batch = prepare_batch([red_bgr], spec)
    np.testing.assert_allclose(batch[0, :, 5, 5], [1.0, 0.0, 0.0])  # R, G, B: the colour survives


def test_a_colour_dataset_is_read_in_colour_at_its_own_size(tmp_path) -> None:
    from fer_core.data import load_split

    for name, size in (("happy", 64), ("sad", 64), ("neutral", 80)):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "a.png"), np.full((size, size, 3), (10, 20, 200), np.uint8))
    arrays = load_split("imagefolder", tmp_path, "", label_set="fer2013", image_size=None, color=True)
    assert arrays.images.shape == (3, 64, 64, 3)  # the odd 80 px image brought to the common 64 px
    assert tuple(arrays.images[0, 0, 0]) == (10, 20, 200)
    conditioned = apply_condition(arrays.images, "resize:16:area>cubic", None)
    assert conditioned.shape == arrays.images.shape
    grey = load_split("imagefolder", tmp_path, "", label_set="fer2013")
    assert grey.images.shape == (3, 48, 48)
