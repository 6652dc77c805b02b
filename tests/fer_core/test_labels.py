"""Label sets and SharedClasses: how a model is scored on a dataset with other classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_core.data import FaceArrays, restrict_to_label_set
from fer_core.labels import FER2013, FERPLUS, LabelSet, SharedClasses, label_set_of


@pytest.mark.parametrize(
    ("dataset", "model", "shared", "dataset_only", "model_only"),
    [
        (FER2013, FER2013, FER2013, (), ()),
        (FERPLUS, FER2013, FER2013, ("contempt",), ()),  # a FER2013 model on AffectNet-8
        (FER2013, FERPLUS, FER2013, (), ("contempt",)),  # a FER+ model on RAF-DB
        (FERPLUS, FERPLUS, FERPLUS, (), ()),
    ],
)
def test_shared_classes(dataset, model, shared, dataset_only, model_only) -> None:
    classes = SharedClasses(dataset, model)
    assert classes.label_set == shared
    assert (classes.dataset_only, classes.model_only) == (dataset_only, model_only)
    assert classes.is_identity == (dataset == model)
    assert [model.names[i] for i in classes.model_columns()] == list(shared.names)


def test_shared_classes_of_unknown_sets_keep_the_dataset_order() -> None:
    classes = SharedClasses(LabelSet("mine", ("sad", "happy", "bored")), FER2013)
    assert classes.label_set == LabelSet("mine&fer2013", ("sad", "happy"))


def test_no_shared_class_is_an_error_naming_both_sets() -> None:
    with pytest.raises(ValueError, match="no class in common"):
        SharedClasses(LabelSet("odd", ("bored",)), FER2013)


def test_probabilities_are_restricted_and_renormalised() -> None:
    classes = SharedClasses(FER2013, FERPLUS)
    probs = np.zeros((2, 8), np.float32)
    probs[0, FERPLUS.index("contempt")], probs[0, FERPLUS.index("happy")] = 0.6, 0.3
    probs[0, FERPLUS.index("sad")] = 0.1
    probs[1, FERPLUS.index("contempt")] = 1.0  # nothing left: uniform, not NaN
    restricted = classes.restrict_probabilities(probs)
    assert restricted.shape == (2, 7)
    np.testing.assert_allclose(restricted.sum(1), 1, rtol=1e-6)
    assert restricted[0, FER2013.index("happy")] == pytest.approx(0.75)
    assert restricted[0].argmax() == FER2013.index("happy")  # contempt's 0.6 no longer wins
    np.testing.assert_allclose(restricted[1], 1 / 7)


def test_sidecar_dict_counts_the_dropped_classes() -> None:
    info = SharedClasses(FERPLUS, FER2013).to_dict({"contempt": 500})
    assert info["images_dropped"] == {"contempt": 500} and info["predictions_removed"] == []
    assert info["shared_labels"] == list(FER2013.names) and info["dataset_label_set"] == "ferplus"


def test_label_set_of_finds_the_known_sets() -> None:
    assert label_set_of(FER2013.names) is FER2013
    assert label_set_of(["Neutral", "Happiness"], "two") == LabelSet("two", ("neutral", "happy"))


def test_restrict_to_label_set_relabels_and_counts() -> None:
    labels = np.array([FERPLUS.index(n) for n in ("contempt", "happy", "neutral", "contempt")])
    arrays = FaceArrays(
        images=np.arange(4, dtype=np.uint8).reshape(4, 1, 1).repeat(2, 1).repeat(2, 2),
        labels=labels,
        sample_ids=["a", "b", "c", "d"],
        label_set=FERPLUS,
        metadata=pd.DataFrame({"split": ["test"] * 4}),
        dropped={"no votes": 2},
    )
    seven = restrict_to_label_set(arrays, FER2013)
    assert seven.sample_ids == ["b", "c"] and seven.label_set == FER2013
    assert [FER2013.names[i] for i in seven.labels] == ["happy", "neutral"]
    assert seven.dropped == {"no votes": 2, "class contempt not in fer2013": 2}
    assert restrict_to_label_set(arrays, FERPLUS) is arrays
