"""Post-hoc logit adjustment chosen on validation logits."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.evaluation.balance import choose_logit_bias
from fer_core.evaluation.metrics import per_class_recall


def _biased_logits(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A classifier that leans towards class 0: every logit row gets +1.5 on class 0."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.6, 0.3, 0.1])
    labels = rng.choice(3, size=n, p=prior)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), labels] += 2.0
    logits[:, 0] += 1.5
    return logits, labels, prior


def test_adjustment_raises_rare_class_recall_and_macro_f1() -> None:
    logits, labels, prior = _biased_logits()
    choice = choose_logit_bias(logits, labels, prior)
    table = {row["tau"]: row for row in choice.table}
    assert choice.tau > 0
    assert table[choice.tau]["macro_f1"] > table[0.0]["macro_f1"]
    assert choice.recall_after[2] > choice.recall_before[2]
    np.testing.assert_allclose(choice.bias, -choice.tau * np.log(prior), rtol=1e-5)


def test_unbiased_model_keeps_tau_zero() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 200)
    logits = rng.normal(0, 1, (600, 3))
    logits[np.arange(600), labels] += 3.0
    choice = choose_logit_bias(logits, labels, np.full(3, 1 / 3), metric="accuracy")
    assert choice.tau == 0.0 and np.allclose(choice.bias, 0)


def test_masked_rows_are_ignored() -> None:
    logits, labels, prior = _biased_logits(200)
    masked = labels.copy()
    masked[:50] = -1
    choice = choose_logit_bias(logits, masked, prior)
    assert sum(row["accuracy"] >= 0 for row in choice.table) == len(choice.table)
    assert choice.to_dict(["a", "b", "c"])["tau"] == choice.tau


@pytest.mark.parametrize(
    ("preds", "expected"), [([0, 0, 1, 0], [1.0, 0.5, np.nan]), ([1, 1, 1, 1], [0.0, 1.0, np.nan])]
)
def test_per_class_recall_of_a_class_without_samples_is_undefined(preds, expected) -> None:
    np.testing.assert_array_equal(per_class_recall(np.array([0, 0, 1, 1]), np.array(preds), 3), expected)
