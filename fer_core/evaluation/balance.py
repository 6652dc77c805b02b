"""Post-hoc logit adjustment: counter a trained model's bias towards frequent classes (neutral, happy).

Menon et al. 2021 ("Long-tail learning via logit adjustment", ICLR) show that subtracting ``tau * log(prior)`` from
the logits turns an accuracy-maximising classifier into one that maximises balanced accuracy as ``tau -> 1``. The
strength ``tau`` is chosen here on the validation split (never the test split) by the same score checkpoint
selection uses, and stored in the card as a per-class ``logit_bias`` that every backend applies
(:class:`fer_core.serving.classifier.Classifier`), so torch, ONNX and the app serve the same adjusted model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fer_core.evaluation.metrics import classification_scores, per_class_recall, selection_score

__all__ = ["TAUS", "BiasChoice", "choose_logit_bias", "per_class_recall"]

TAUS = tuple(round(0.1 * i, 1) for i in range(16))  # 0.0 (no adjustment) ... 1.5


@dataclass(frozen=True)
class BiasChoice:
    """The chosen strength, its bias vector and the validation table every candidate produced."""

    tau: float
    bias: np.ndarray
    table: list[dict[str, float]]
    recall_before: list[float]
    recall_after: list[float]

    def to_dict(self, labels: Sequence[str]) -> dict:
        before = dict(zip(labels, map(_json_recall, self.recall_before), strict=True))
        after = dict(zip(labels, map(_json_recall, self.recall_after), strict=True))
        return {
            "method": "post-hoc logit adjustment (Menon et al. 2021), tau chosen on the validation split",
            "tau": self.tau,
            "validation": self.table,
            "val_recall_before": before,
            "val_recall_after": after,
        }


def _json_recall(recall: float) -> float | None:
    """A recall for the card's JSON: None where the class has no validation sample (NaN is not JSON)."""
    return None if np.isnan(recall) else round(recall, 4)


def choose_logit_bias(
    logits: np.ndarray,
    labels: np.ndarray,
    prior: np.ndarray,
    *,
    metric: str = "acc_f1",
    taus: Sequence[float] = TAUS,
) -> BiasChoice:
    """The ``tau`` in ``taus`` whose bias ``-tau * log(prior)`` maximises ``metric`` on these validation logits.

    Ties keep the smaller ``tau`` (the least change to the trained model).
    """
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    num_classes = logits.shape[1]
    log_prior = np.log(np.clip(np.asarray(prior, np.float64), 1e-6, None))
    table, best = [], None
    for tau in taus:
        preds = (logits - tau * log_prior).argmax(axis=1)
        scores = classification_scores(labels, preds, num_classes)
        score = selection_score(scores, metric)
        table.append({"tau": float(tau), **{k: round(v, 5) for k, v in scores.items()}, "score": round(score, 5)})
        if best is None or score > best[1] + 1e-12:
            best = (float(tau), score)
    if best is None:
        raise ValueError("choose_logit_bias needs at least one tau to try")
    tau = best[0]
    bias = (-tau * log_prior).astype(np.float32)
    return BiasChoice(
        tau=tau,
        bias=bias,
        table=table,
        recall_before=per_class_recall(labels, logits.argmax(axis=1), num_classes),
        recall_after=per_class_recall(labels, (logits + bias).argmax(axis=1), num_classes),
    )
