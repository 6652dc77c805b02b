"""scripts/tta_views.py: views inside the training jitter, and view sets scored by their averaged probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def views():
    return load_script("tta_views")


def test_views_zoom_about_the_centre_shift_and_mirror(views) -> None:
    face = np.zeros((48, 48), np.uint8)
    face[20:28, 10:18] = 255  # a bright patch left of centre
    assert np.array_equal(views.view(face, 1.0, 0, 0, False), face)
    assert np.array_equal(views.view(face, 1.0, 0, 0, True), face[:, ::-1])
    shifted = views.view(face, 1.0, 2, 0, False)
    assert np.array_equal(shifted[:, 12:20], face[:, 10:18])
    zoomed_in = views.view(face, 1.1, 0, 0, False)
    assert zoomed_in.sum(dtype=np.int64) > 1.15 * face.sum(dtype=np.int64)  # the patch grows by about 1.1 ** 2
    assert zoomed_in[:, :10].any() and not zoomed_in[:, 18:].any()  # about the centre: it spreads outwards


def test_every_view_set_is_the_mean_of_its_views(views) -> None:
    labels = np.array([0, 1, 1, 0])
    right, wrong = np.eye(2)[labels], np.eye(2)[1 - labels]
    probs = {name: right for name in views.VIEWS}
    probs["plain"] = 0.6 * right + 0.4 * wrong  # right but unsure
    probs["mirror"] = wrong  # sure and wrong
    scores = views.score_view_sets(probs, labels)
    assert set(scores) == set(views.VIEW_SETS)
    assert scores["plain"]["accuracy"] == 1.0
    assert scores["+ mirror"]["accuracy"] == 0.0  # the mean of the two: the sure wrong view outweighs
    assert scores["all"]["accuracy"] == 1.0
