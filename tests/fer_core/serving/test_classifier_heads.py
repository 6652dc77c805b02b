"""Multi-head model directories: one trunk, a FER2013-7 and a FER+-8 block of outputs, served one head at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_two_head_dir

from fer_core.labels import FER2013, FERPLUS
from fer_core.serving.classifier import ModelLoadError, load_model
from fer_core.store.model_dir import Checkpoints
from fer_core.training.loop import Head

HEADS = (Head(FER2013.name, FER2013.names), Head(FERPLUS.name, FERPLUS.names, offset=7))


@pytest.mark.parametrize(
    ("head", "labels", "block"), [("fer2013", FER2013.names, (0, 7)), (None, FERPLUS.names, (7, 15))]
)
def test_each_head_serves_its_block_of_outputs(tmp_path: Path, head, labels, block) -> None:
    directory = make_two_head_dir(tmp_path / "joint")
    clf = load_model(directory, head=head, backend="torch")
    assert clf.labels == labels
    crops = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    probs = clf.predict(crops)
    assert probs.shape == (3, len(labels))
    from fer_core.data.preprocess import prepare_batch

    with torch.inference_mode():
        logits = clf.module(torch.from_numpy(prepare_batch(crops, clf.input_spec)))[:, block[0] : block[1]]
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-5)


def test_head_in_the_name_and_picker_choices(tmp_path: Path) -> None:
    make_two_head_dir(tmp_path / "joint")
    assert load_model("joint@fer2013", root=tmp_path, backend="torch").name == "joint@fer2013"
    assert Checkpoints.at(tmp_path).choices() == ["joint@fer2013", "joint@ferplus"]


def test_logit_bias_shifts_the_head(tmp_path: Path) -> None:
    plain = load_model(make_two_head_dir(tmp_path / "a"), head="fer2013", backend="torch")
    biased = load_model(make_two_head_dir(tmp_path / "b", bias=[0, 0, 0, 0, 0, 0, 50.0]), head="fer2013")
    crops = np.random.default_rng(1).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    assert plain.predict(crops)[:, 6].max() < 0.99
    assert (biased.predict(crops).argmax(1) == 6).all()


def test_unknown_head_lists_the_heads(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown head 'affectnet'; known: fer2013, ferplus"):
        load_model(make_two_head_dir(tmp_path / "joint"), head="affectnet")
