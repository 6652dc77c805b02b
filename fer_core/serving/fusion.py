"""A served answer that fuses several heads of one model: their probabilities averaged class by class.

A joint model has a FER2013-7 head and a FER+-8 head on one trunk. The two were trained on different label
priors (FER+ Valid is 35 % neutral, FER2013's 17 %) and disagree most on the faces a new camera sees: the FER+
head calls many expressive faces neutral. A card may declare a fused head next to the real ones::

    "fusion": {"name": "fused", "labels": [...], "heads": {"fer2013": 1.0, "ferplus": 1.0}, ...}

Each part's softmax (with its own logit bias) is mapped onto the fused labels by name and the parts are averaged
with their weights; a class only one part knows (FER+'s contempt) keeps that part's share. The sum stays one.
Which answer a model serves (one head or the fusion) is chosen on the validation splits and recorded with the
fusion entry (``fer_core.apps.workflows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeGuard

import numpy as np

__all__ = ["FUSION_KEY", "FusedPart", "Fusion", "answer_description", "fusion_of_card", "softmax"]

FUSION_KEY = "fusion"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class FusedPart:
    """One head inside a fusion: its block of outputs, its logit bias, where its classes go, its weight."""

    head: str
    outputs: tuple[int, int]
    logit_bias: np.ndarray | None
    columns: np.ndarray  # fused-label index of each of the head's classes
    weight: float


@dataclass(frozen=True)
class Fusion:
    """The fused head of a card: its name, labels and parts."""

    name: str
    labels: tuple[str, ...]
    parts: tuple[FusedPart, ...]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Fused class probabilities from a model's full logits ``(N, outputs)``.

        One pass over all parts at once (a softmax per part's block, then one matrix product mixes them onto the
        fused labels): this runs for every face the default model sees, and per-part numpy calls cost as much as
        a tenth of the network's own time at batch 1.
        """
        plan = self._plan
        gathered = logits[:, plan.columns].astype(np.float64) + plan.bias
        block_max = np.maximum.reduceat(gathered, plan.starts, axis=1)
        exp = np.exp(gathered - block_max[:, plan.block])
        exp /= np.add.reduceat(exp, plan.starts, axis=1)[:, plan.block]
        return (exp @ plan.mixing).astype(np.float32)

    @cached_property
    def _plan(self) -> _FusionPlan:
        return _FusionPlan.of(self)


@dataclass(frozen=True)
class _FusionPlan:
    """A fusion's parts as arrays: which outputs, their bias, each part's block, the output -> label mixing."""

    columns: np.ndarray  # the parts' outputs, part after part
    bias: np.ndarray  # each gathered output's logit bias (0 where its part has none)
    starts: np.ndarray  # where each part's block starts among the gathered outputs
    block: np.ndarray  # the part each gathered output belongs to
    mixing: np.ndarray  # (gathered outputs, fused labels): the part's share of the weights at its class's label

    @classmethod
    def of(cls, fusion: Fusion) -> _FusionPlan:
        total = sum(part.weight for part in fusion.parts)
        sizes = [part.outputs[1] - part.outputs[0] for part in fusion.parts]
        mixing = np.zeros((sum(sizes), len(fusion.labels)), np.float64)
        row = 0
        for part, size in zip(fusion.parts, sizes, strict=True):
            mixing[np.arange(row, row + size), part.columns] = part.weight / total
            row += size
        return cls(
            columns=np.concatenate([np.arange(*part.outputs) for part in fusion.parts]),
            bias=np.concatenate(
                [
                    part.logit_bias if part.logit_bias is not None else np.zeros(size)
                    for part, size in zip(fusion.parts, sizes, strict=True)
                ]
            ),
            starts=np.cumsum([0, *sizes[:-1]]),
            block=np.repeat(np.arange(len(sizes)), sizes),
            mixing=mixing,
        )


def fusion_of_card(card: Any, where: str) -> Fusion | None:
    """The card's fusion entry as a :class:`Fusion`, None when it declares none; ``ValueError`` naming ``where``."""
    entry = (card.extra or {}).get(FUSION_KEY)
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: 'fusion' must be an object with 'name', 'labels' and 'heads'")
    name, labels, weights = entry.get("name"), entry.get("labels"), entry.get("heads")
    if not isinstance(name, str) or not name or name in (card.heads or {}):
        raise ValueError(f"{where}: 'fusion.name' must be a new head name, got {name!r:.40}")
    if not _is_names(labels) or len(set(labels)) != len(labels):
        raise ValueError(f"{where}: 'fusion.labels' must be distinct class names")
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"{where}: 'fusion.heads' must map head names to positive weights")
    parts = tuple(_part(card, head, weight, labels, where) for head, weight in weights.items())
    return Fusion(name, tuple(labels), parts)


def _is_names(values: Any) -> TypeGuard[Sequence[str]]:
    return isinstance(values, Sequence) and not isinstance(values, str) and all(isinstance(v, str) for v in values)


def _part(card: Any, head: str, weight: Any, labels: Sequence[str], where: str) -> FusedPart:
    entry = (card.heads or {}).get(head)
    if entry is None or entry.outputs is None:
        raise ValueError(f"{where}: fusion part {head!r:.40} is not a head; known: {', '.join(card.heads or {})}")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < 1e6:
        raise ValueError(f"{where}: fusion weight of {head!r} must be a positive number, got {weight!r:.40}")
    missing = [c for c in entry.labels if c not in labels]
    if missing:
        raise ValueError(f"{where}: head {head!r} has classes {missing} that 'fusion.labels' lacks")
    bias = None if entry.logit_bias is None else np.asarray(entry.logit_bias, np.float64)
    columns = np.array([list(labels).index(c) for c in entry.labels])
    return FusedPart(head, tuple(entry.outputs), bias, columns, float(weight))


def answer_description(head: str | None, labels: Sequence[str], fusion: Fusion | None) -> str:
    """In words, which label set a loaded model answers in and where the answer comes from (pages, ``predict``)."""
    classes = f"{len(labels)} classes ({', '.join(labels)})"
    if fusion is not None:
        weights = " + ".join(f"{p.head} x{p.weight:g}" for p in fusion.parts)
        return f"answers in {classes}: the {weights} heads' probabilities averaged by class"
    return f"answers in {classes} from its {head} head" if head else f"answers in {classes}"
