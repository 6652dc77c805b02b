"""The one metrics implementation agrees with scikit-learn (a test-only oracle) on arrays and on run rows alike."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fer_core.evaluation import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the test-only oracle")

CASES = [
    ([0, 0, 1, 1, 0], [0, 2, 1, 0, 0], 3),  # the example: a predicted class absent from the labels
    ([0, 1, 2, 3], [0, 1, 2, 3], 4),
    ([0, 0, 0, 0], [1, 1, 1, 1], 2),
    ([0, 1, 1, 2, 2, 2], [2, 1, 0, 2, 2, 1], 5),  # classes 3 and 4 never occur
    (list(np.random.default_rng(0).integers(0, 7, 300)), list(np.random.default_rng(1).integers(0, 7, 300)), 7),
]


def _rows(labels, preds, num_classes: int) -> pd.DataFrame:
    probs = {f"p_c{i}": np.zeros(len(labels)) for i in range(num_classes)}
    return pd.DataFrame({"sample_id": range(len(labels)), "label": labels, "pred": preds, **probs})


@pytest.mark.parametrize(("labels", "preds", "num_classes"), CASES)
def test_scores_match_scikit_learn(labels, preds, num_classes) -> None:
    y, p = np.array(labels), np.array(preds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about classes absent from y_true
        expected = {
            "accuracy": sklearn_metrics.accuracy_score(y, p),
            "macro_f1": sklearn_metrics.f1_score(y, p, average="macro", zero_division=0),
            "balanced_accuracy": sklearn_metrics.balanced_accuracy_score(y, p),
        }
    assert metrics.classification_scores(y, p, num_classes) == pytest.approx(expected)
    rows = _rows(labels, preds, num_classes)
    assert metrics.macro_f1(rows) == pytest.approx(expected["macro_f1"])
    assert metrics.balanced_accuracy(rows) == pytest.approx(expected["balanced_accuracy"])
    assert metrics.accuracy(rows) == pytest.approx(expected["accuracy"])


@pytest.mark.parametrize(("labels", "preds", "num_classes"), CASES)
def test_per_class_precision_and_recall_match_scikit_learn(labels, preds, num_classes) -> None:
    y, p = np.array(labels), np.array(preds)
    classes = list(range(num_classes))
    precision = sklearn_metrics.precision_score(y, p, labels=classes, average=None, zero_division=0)
    recall = np.array(metrics.per_class_recall(y, p, num_classes))
    present = np.isin(classes, y)
    np.testing.assert_allclose(metrics.per_class_prf(_rows(labels, preds, num_classes))["precision"], precision)
    np.testing.assert_allclose(
        recall[present], sklearn_metrics.recall_score(y, p, labels=classes, average=None, zero_division=0)[present]
    )
    assert np.isnan(recall[~present]).all(), "recall of a class without samples is undefined"


def test_masked_rows_are_left_out() -> None:
    scores = metrics.classification_scores(np.array([-1, 0, 1]), np.array([1, 0, 1]), 2)
    assert scores == {"accuracy": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0}
