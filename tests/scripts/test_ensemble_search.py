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
