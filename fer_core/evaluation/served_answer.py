"""Which answer a two-head model serves: its FER2013-7 head, its FER+-8 head, or a fusion of both.

The rule is fixed and uses the validation splits only (FER2013 PublicTest, FER+ Valid): every candidate answers
on both, restricted to each dataset's classes (by name), and is scored by its mean balanced accuracy (mean
per-class recall) over the two splits. Fusions are tried at FER+ weights 0.25, 0.5 and 0.75
(fer_core.serving.fusion). Among the candidates within one standard error of the best score (a bootstrap over the
validation faces; Breiman's one-standard-error rule), the one that leans least on the FER+ head is served.

Why balanced accuracy and not accuracy: the two datasets label the same faces with different conventions (FER+
Valid is 37 % neutral, FER2013 PublicTest 17 %), so accuracy rewards the answer that copies one dataset's class
prior, and FER+'s higher accuracy (about 80 % against 66 %) lets its head win any mean of accuracies. Faces from
other sources share neither prior; a head that calls expressive faces neutral is the failure this guards against.
Balanced accuracy weighs every class the same on both splits. Each candidate's predicted share of every class
against the true share is kept in the table.

Why lean away from the FER+ head when validation cannot tell candidates apart: on posed-expression faces from
other sources, FER2013 heads scored 7-17 points above the FER+ heads of the same trunks (FER+'s neutral-heavy
convention calls expressive faces neutral), while on film stills the FER+ heads were 2-6 points ahead. Two
candidates whose validation scores differ by less than their noise are a tie, and the tie goes to the answer that
transfers better where the gap is larger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.evaluation.metrics import bootstrap_balanced_accuracies, classification_scores, selection_score

__all__ = [
    "FUSION_WEIGHTS",
    "RULE",
    "RULE_METRIC",
    "Candidate",
    "ValidationSet",
    "bootstrap_standard_error",
    "choose_served_answer",
    "fusion_entry",
    "restricted_preds",
]

FUSION_WEIGHTS = (0.25, 0.5, 0.75)  # the FER+ head's share in a fused answer
FUSED_NAME = "fused"
RULE_METRIC = "balanced_accuracy"
LEAN_AWAY_FROM = "ferplus"  # among ties (within one standard error), the least weight on this head wins
BOOTSTRAP_ROUNDS = 200
RULE = (
    "mean balanced accuracy over FER2013 PublicTest and FER+ Valid, each answer restricted to the dataset's "
    "classes; among the candidates within one bootstrap standard error of the best, the least FER+ weight"
)


@dataclass(frozen=True)
class ValidationSet:
    """One validation split: its class names, labels, and each real head's probabilities on it."""

    dataset: str
    labels: tuple[str, ...]
    targets: np.ndarray
    head_probs: Mapping[str, np.ndarray]
    head_labels: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Candidate:
    """An answer a model could serve: one head, or heads fused with weights."""

    name: str
    weights: Mapping[str, float]

    def probabilities(self, val: ValidationSet, labels: tuple[str, ...]) -> np.ndarray:
        """The candidate's probabilities on ``val`` over ``labels`` (classes a head lacks get nothing from it)."""
        fused = np.zeros((len(val.targets), len(labels)))
        for head, weight in self.weights.items():
            columns = [labels.index(c) for c in val.head_labels[head]]
            fused[:, columns] += weight * val.head_probs[head]
        return fused / sum(self.weights.values())


def restricted_preds(probs: np.ndarray, answer_labels: tuple[str, ...], dataset_labels: tuple[str, ...]) -> np.ndarray:
    """Dataset class ids of the argmax over the dataset's classes only (an answer's extra classes are ignored)."""
    columns = [answer_labels.index(c) for c in dataset_labels]
    return probs[:, columns].argmax(axis=1)


def _candidates(heads: tuple[str, str]) -> list[Candidate]:
    first, second = heads
    fused = [Candidate(f"{FUSED_NAME} ({second} {w:.2f})", {first: 1 - w, second: w}) for w in FUSION_WEIGHTS]
    return [Candidate(first, {first: 1.0}), Candidate(second, {second: 1.0}), *fused]


def _score(candidate: Candidate, val: ValidationSet, answer_labels: tuple[str, ...]) -> dict:
    probs = candidate.probabilities(val, answer_labels)
    preds = restricted_preds(probs, answer_labels, val.labels)
    scores = classification_scores(val.targets, preds, len(val.labels))
    k = len(val.labels)
    keep = val.targets >= 0
    true_share = np.bincount(val.targets[keep], minlength=k) / max(keep.sum(), 1)
    pred_share = np.bincount(preds[keep], minlength=k) / max(keep.sum(), 1)
    return {
        **{key: round(value, 5) for key, value in scores.items()},
        "acc_f1": round(selection_score(scores, "acc_f1"), 5),
        "share": {
            c: [round(float(p), 4), round(float(t), 4)]
            for c, p, t in zip(val.labels, pred_share, true_share, strict=True)
        },
    }


def choose_served_answer(sets: list[ValidationSet], heads: tuple[str, str], answer_labels: tuple[str, ...]) -> dict:
    """Score every candidate on every validation set; the winner and the whole table (see the module doc)."""
    table: list[dict[str, Any]] = []
    candidates = _candidates(heads)
    for candidate in candidates:
        per_set = {val.dataset: _score(candidate, val, answer_labels) for val in sets}
        mean = float(np.mean([row[RULE_METRIC] for row in per_set.values()]))
        table.append(
            {
                "answer": candidate.name,
                "weights": dict(candidate.weights),
                f"mean_{RULE_METRIC}": round(mean, 5),
                "validation": per_set,
            }
        )
    best = max(range(len(table)), key=lambda i: table[i][f"mean_{RULE_METRIC}"])  # first of equals
    error = bootstrap_standard_error(candidates[best], sets, answer_labels)
    floor = table[best][f"mean_{RULE_METRIC}"] - error
    ties = [row for row in table if row[f"mean_{RULE_METRIC}"] >= floor]
    chosen = min(ties, key=lambda row: row["weights"].get(LEAN_AWAY_FROM, 0.0))  # first of equals again
    return {
        "chosen": chosen["answer"],
        "weights": chosen["weights"],
        "best_answer": table[best]["answer"],  # the best-scoring answer; the tie floor is its score - SE
        "standard_error": round(error, 5),
        "rule": RULE,
        "candidates": table,
    }


def bootstrap_standard_error(
    candidate: Candidate, sets: list[ValidationSet], answer_labels: tuple[str, ...], rounds: int = BOOTSTRAP_ROUNDS
) -> float:
    """Standard error of ``candidate``'s mean balanced accuracy: faces of each split resampled with replacement."""
    per_set = []
    for seed, val in enumerate(sets):
        preds = restricted_preds(candidate.probabilities(val, answer_labels), answer_labels, val.labels)
        per_set.append(bootstrap_balanced_accuracies(val.targets, preds, len(val.labels), rounds, seed))
    return float(np.std(np.mean(per_set, axis=0), ddof=1))


def fusion_entry(choice: Mapping, answer_labels: tuple[str, ...]) -> dict:
    """The card's ``fusion`` entry for a chosen fused answer, with the rule and its validation table."""
    return {
        "name": FUSED_NAME,
        "labels": list(answer_labels),
        "heads": {head: round(weight, 4) for head, weight in choice["weights"].items()},
        "rule": choice["rule"],
        "best_answer": choice["best_answer"],
        "standard_error": choice["standard_error"],
        "candidates": list(choice["candidates"]),
    }
