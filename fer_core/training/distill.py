"""Knowledge distillation: a student trains on its labels blended with a teacher's probabilities (Hinton et al. 2015).

The teacher is any model ``load_model`` opens, usually an ensemble (``fer_core.serving.ensemble``), one per head of the
student. Its class probabilities for every training image are computed once on the clean images and cached by the
teacher's weights hash, then each head's target row becomes ``(1 - w) * label + w * teacher`` (soft-target cross
entropy at temperature 1: the same gradient as ``(1 - w) * CE(label) + w * KL(teacher || student)`` up to a
constant). Rows a head has no label for (FER+'s dropped faces) stay masked, so the teacher never labels a face the
annotators rejected.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fer_core.training.loop import Head, HeadTargets

__all__ = ["blend_targets", "distill_run", "distilled_targets", "teacher_facts", "teacher_probabilities"]

log = logging.getLogger(__name__)

PINNED_FACTS = "teachers.json"

BATCH = 512


def teacher_probabilities(
    teacher: str, images: np.ndarray, labels: tuple[str, ...], cache_dir: Path | None = None, progress: bool = True
) -> np.ndarray:
    """``(N, classes)`` probabilities of ``teacher`` for ``images``, in the order of ``labels`` (cached on disk)."""
    from tqdm import tqdm

    from fer_core.serving.classifier import load_model, weights_sha256

    clf = load_model(teacher, backend="torch")
    if tuple(clf.labels) != tuple(labels):
        raise ValueError(f"teacher {teacher!r} predicts {list(clf.labels)}; the head needs {list(labels)}")
    # The labels are in the key too, so one cache entry can never serve a head of another label set.
    key = hashlib.sha256(f"{weights_sha256(clf.directory)}|{clf.head}|{labels}|{images.shape}|{images.sum()}".encode())
    cached = Path(cache_dir) / f"teacher-{key.hexdigest()[:16]}.npy" if cache_dir else None
    if cached is not None and cached.is_file():
        return np.load(cached)
    starts = tqdm(range(0, len(images), BATCH), desc=f"teacher {teacher}", unit="batch", disable=not progress)
    probs = np.concatenate([clf.predict(images[i : i + BATCH]) for i in starts])
    probs = probs.astype(np.float32)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, probs)
    return probs


def blend_targets(targets: np.ndarray, teacher: np.ndarray, head: Head, weight: float) -> np.ndarray:
    """``targets`` with ``head``'s block blended towards ``teacher`` by ``weight``; masked (all-zero) rows kept."""
    if not 0 <= weight <= 1:
        raise ValueError(f"distill_weight must be in [0, 1], got {weight}")
    block = targets[:, head.outputs]
    labelled = block.sum(axis=1, keepdims=True) > 0
    blended = targets.copy()
    blended[:, head.outputs] = np.where(labelled, (1 - weight) * block + weight * teacher, block)
    return blended


def distilled_targets(
    train: HeadTargets,
    teachers: Mapping[str, str],
    weight: float,
    cache_dir: Path | None = None,
    probabilities: Mapping[str, np.ndarray] | None = None,
) -> HeadTargets:
    """The training set with every head named in ``teachers`` ({head: teacher model}) distilled.

    ``probabilities`` ({head: array}) are used instead of asking the teachers (a resumed run's pinned outputs).
    """
    heads = _heads_of(train, teachers)
    targets = train.targets
    for name, teacher in teachers.items():
        if probabilities is not None and name in probabilities:
            probs = probabilities[name]
        else:
            probs = teacher_probabilities(teacher, train.images, heads[name].labels, cache_dir)
        targets = blend_targets(targets, probs, heads[name], weight)
    return HeadTargets(train.images, targets, train.heads)


def _heads_of(train: HeadTargets, teachers: Mapping[str, str]) -> dict[str, Head]:
    """``train``'s heads by name; a teacher for a head the run does not train is refused."""
    heads = {head.name: head for head in train.heads}
    unknown = sorted(set(teachers) - set(heads))
    if unknown:
        raise ValueError(f"teachers for unknown heads {unknown}; the recipe's heads: {', '.join(heads)}")
    return heads


def distill_run(
    train: HeadTargets,
    teachers: Mapping[str, str],
    weight: float,
    *,
    state_dir: Path | None = None,
    resume: bool = False,
    cache_dir: Path | None = None,
) -> tuple[HeadTargets, dict[str, dict]]:
    """A run's distilled training set and its teachers' facts, pinned in ``state_dir``.

    A run with a state folder keeps there what its teachers said (``teachers.json`` and ``teacher-<head>.npy``), and
    a resumed run reads them back: a long run goes on learning from the teachers it started with even when an
    ensemble it names gets other members meanwhile (e.g. the student itself joining it).
    """
    pinned = Path(state_dir) / PINNED_FACTS if state_dir is not None else None
    if resume and pinned is not None and pinned.is_file():
        facts = json.loads(pinned.read_text())
        probabilities = {head: np.load(pinned.parent / f"teacher-{head}.npy") for head in teachers}
        for head, probs in probabilities.items():
            if probs.shape[0] != len(train.images):
                raise ValueError(
                    f"{state_dir}: pinned teacher-{head}.npy has {probs.shape[0]} rows, not {len(train.images)}"
                )
        _warn_if_changed(facts, teachers)
        return distilled_targets(train, teachers, weight, probabilities=probabilities), facts
    heads = _heads_of(train, teachers)  # a misnamed head fails before any teacher is loaded
    facts = teacher_facts(teachers)
    probabilities = {
        head: teacher_probabilities(teacher, train.images, heads[head].labels, cache_dir)
        for head, teacher in teachers.items()
    }
    distilled = distilled_targets(train, teachers, weight, probabilities=probabilities)
    if pinned is not None:
        pinned.parent.mkdir(parents=True, exist_ok=True)
        for head, probs in probabilities.items():
            np.save(pinned.parent / f"teacher-{head}.npy", probs)
        pinned.write_text(json.dumps(facts, indent=2) + "\n")
    return distilled, facts


def _warn_if_changed(pinned: Mapping[str, dict], teachers: Mapping[str, str]) -> None:
    try:
        now = teacher_facts(teachers)
    except Exception as err:
        log.warning("teachers cannot be checked (%s); the run goes on with the outputs pinned at its start", err)
        return
    for head, facts in pinned.items():
        if now.get(head, {}).get("weights_sha256") != facts.get("weights_sha256"):
            log.warning(
                "teacher %s of head %s changed since this run started; it goes on with the outputs pinned at its start",
                facts.get("model"),
                head,
            )


def teacher_facts(teachers: Mapping[str, str]) -> dict[str, dict]:
    """What each head's teacher was when the run read it, for the card: a teacher is named, and an ensemble's name
    may later hold other members, so its members and weights hash are what identify it."""
    from fer_core.serving.classifier import weights_sha256
    from fer_core.store.model_dir import Checkpoints, split_head

    facts = {}
    for head, teacher in teachers.items():
        directory = Checkpoints.at().resolve(split_head(teacher)[0])
        card = directory.read_card() if directory.has_card() else None
        facts[head] = {
            "model": teacher,
            "weights_sha256": weights_sha256(directory.path),
            **({"members": list(card.members)} if card is not None and card.members else {}),
        }
    return facts
