"""Ensembles: several trained models served as one, a model directory in its own right.

An ensemble directory holds only a ``card.json`` with ``family: "ensemble"`` and its ``members`` (model names, with
``@head`` for one label set of a multi-head model, resolved beside the ensemble directory, e.g. in
``checkpoints/``). It loads through :func:`fer_core.serving.classifier.load_model` like any model, gets its own stored
runs and leaderboard row, and predicts the (weighted) mean of its members' probabilities; each member keeps its own
preprocessing. Every member must predict the ensemble's label set in the same order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fer_core.data.preprocess import InputSpec
from fer_core.store.card import ModelCard
from fer_core.store.json_files import ModelLoadError
from fer_core.store.model_dir import ModelDir, split_head

__all__ = [
    "ENSEMBLE_FAMILY",
    "EnsembleClassifier",
    "MemberLoader",
    "ensemble_card",
    "load_ensemble",
    "save_ensemble_dir",
]

ENSEMBLE_FAMILY = "ensemble"
# The layout ensemble cards have always been written in.
ENSEMBLE_KEY_ORDER = (
    "id",
    "family",
    "architecture",
    "members",
    "weights",
    "labels",
    "label_set",
    "input",
    "params",
    "weights_mb",
    "mflops",
    "training",
    "metrics",
    "provenance",
    "license",
)


class MemberLoader(Protocol):
    """Loads one member by name: :func:`fer_core.serving.classifier.load_model`, handed in by the caller.

    Handed in, not imported: the loader imports this module to load an ensemble, so importing it back here would
    tie the two modules in a cycle.
    """

    def __call__(
        self, name_or_path: str | Path, *, backend: str = ..., tta: str = ..., root: Path | None = None
    ) -> Any: ...


@dataclass
class EnsembleClassifier:
    """Mean of member probabilities; the same interface the pipeline, evaluation and bench use."""

    name: str
    labels: tuple[str, ...]
    input_spec: InputSpec
    card: ModelCard
    directory: Path
    members: list = field(default_factory=list)
    weights: np.ndarray | None = None
    tta: str = "none"
    head: str | None = None

    @property
    def input_size(self) -> int:
        return self.input_spec.size

    @property
    def backend(self) -> str:
        return "+".join(sorted({m.backend for m in self.members}))

    @property
    def member_weights(self) -> np.ndarray:
        """Each member's share of the mean: the card's weights, or equal shares."""
        return self.weights if self.weights is not None else np.full(len(self.members), 1 / len(self.members))

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Weighted mean of the members' class probabilities for uint8 face crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        probs = sum(w * m.predict(crops) for w, m in zip(self.member_weights, self.members, strict=True))
        return np.asarray(probs, np.float32)

    def weights_sha256(self, member_sha256: Callable[[Path], str]) -> str:
        """Identifies exactly what answers: each member's weights (``member_sha256`` of its directory), the head it
        serves and its weight in the mean, in order.

        The head matters: one ensemble per head over the same joint models holds the same files but answers in
        another label set, so its stored runs must not pass for the other's.
        """
        digest = hashlib.sha256()
        for member, weight in zip(self.members, self.member_weights, strict=True):
            digest.update(f"{member_sha256(member.directory)}|{member.head or ''}|{float(weight):.6g};".encode())
        return digest.hexdigest()


def ensemble_card(
    model_id: str,
    members: Sequence,
    member_names: Sequence[str],
    selection: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> ModelCard:
    """The card of an ensemble of loaded ``members`` (their names as given, to be resolved on load).

    ``selection`` (how the members were chosen: split, scores, candidates) is kept as ``training.selection``;
    ``weights`` (one per member, e.g. how often a greedy selection picked it) make the mean a weighted one.
    """
    first = members[0]
    _check_same_labels(members, member_names)
    if weights:
        normalised_weights(weights, len(member_names))  # never write a card that would not load
    card = ModelCard(
        id=model_id,
        family=ENSEMBLE_FAMILY,
        architecture=ENSEMBLE_FAMILY,
        members=tuple(member_names),
        labels=tuple(first.labels),
        label_set=(first.card.label_set or "") if first.head is None else first.head,
        input=first.input_spec,
        params=int(sum(m.card.params or 0 for m in members)),
        weights_mb=round(sum(float(m.card.weights_mb or 0) for m in members), 3),
        mflops=_sum_if_known([m.card.mflops for m in members]),
        training={
            "selection_split": "members selected on their own validation splits",
            "cpu_hours": _sum_if_known([m.card.training_fact("cpu_hours") for m in members]),
            **({"selection": dict(selection)} if selection else {}),
        },
        metrics={},
        provenance=f"{'weighted ' if weights else ''}mean of the probabilities of {', '.join(member_names)} "
        "(no extra training)",
        license="that of its members",
        weights=tuple(float(w) for w in weights) if weights else None,
    )
    card.key_order = ENSEMBLE_KEY_ORDER

    return card


def _sum_if_known(values: Sequence) -> float | None:
    """The members' total of a cost (MFLOPs, CPU-hours), or None when any member's card lacks it."""
    if not values or any(not isinstance(v, int | float) for v in values):
        return None
    return round(float(sum(values)), 3)


def _check_same_labels(members: Sequence, names: Sequence[str]) -> None:
    labels = tuple(members[0].labels)
    for member, name in zip(members, names, strict=True):
        if tuple(member.labels) != labels:
            raise ValueError(
                f"ensemble member {name} predicts {', '.join(member.labels)}, not {', '.join(labels)}; "
                "pick members of one label set (name@head for a multi-head model)"
            )


def save_ensemble_dir(
    directory: Path,
    members: Sequence[str],
    *,
    load_member: MemberLoader,
    root: Path | None = None,
    selection: Mapping[str, Any] | None = None,
    weights: Sequence[float] | None = None,
) -> Path:
    """Write an ensemble directory for model names ``members`` (checked by loading each one with ``load_member``);
    ``selection`` records how they were chosen and ``weights`` their shares of the mean (see ``ensemble_card``)."""
    directory = Path(directory)
    root = root or directory.parent
    loaded = [load_member(name, root=root) for name in members]
    ModelDir(directory).write_card(ensemble_card(directory.name, loaded, members, selection, weights))
    return directory


# The ensembles being loaded in this context, outermost first: a member that is one of them is a cycle.
_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("ensembles_loading", default=())
MAX_NESTING = 4  # an ensemble of ensembles of ensembles ... deeper than this is refused


def _check_member_names(names: Sequence[str], directory: Path, card_path: Path) -> None:
    """Members are model names beside the ensemble (``name`` or ``name@head``): never a path elsewhere on disk."""
    for name in names:
        base = split_head(name)[0]
        if not isinstance(name, str) or Path(base).name != base or base in ("", ".", "..") or "\\" in base:
            raise ModelLoadError(
                f"{card_path}: member {name!r} is not a model name; members are folders beside the ensemble "
                f"(in {directory.parent}), named without a path"
            )
        if base == directory.name:
            raise ModelLoadError(f"{card_path}: an ensemble cannot contain itself")


def normalised_weights(weights: Sequence[float], count: int) -> np.ndarray:
    """``weights`` scaled to sum 1; ValueError unless they are ``count`` finite, non-negative numbers, not all 0."""
    array = np.asarray(weights, np.float64)
    if len(array) != count or not np.isfinite(array).all() or (array < 0).any() or not array.sum():
        raise ValueError(
            f"'weights' must hold one finite, non-negative number per member ({count}), not all zero; "
            f"found {list(weights)}"
        )
    return array / array.sum()


def _member_weights(card: ModelCard, names: Sequence[str], card_path: Path) -> np.ndarray | None:
    """The card's member weights normalised to sum 1 (see ``normalised_weights``)."""
    if not card.weights:
        return None
    try:
        return normalised_weights(card.weights, len(names))
    except ValueError as error:
        raise ModelLoadError(f"{card_path}: {error}") from None


def _enter(directory: Path, card_path: Path) -> Token:
    """Mark ``directory`` as being loaded; a cycle (A -> B -> A) or deep nesting is a ModelLoadError naming it."""
    chain, here = _LOADING.get(), directory.resolve()
    if here in chain:
        cycle = " -> ".join(path.name for path in (*chain[chain.index(here) :], here))
        raise ModelLoadError(f"{card_path}: ensemble members form a cycle ({cycle})")
    if len(chain) >= MAX_NESTING:
        raise ModelLoadError(f"{card_path}: ensembles nested more than {MAX_NESTING} deep")
    return _LOADING.set((*chain, here))


def load_ensemble(
    directory: Path, card: ModelCard, *, backend: str, tta: str, load_member: MemberLoader
) -> EnsembleClassifier:
    """Load every member of the ensemble card in ``directory`` with ``load_member`` (members resolve beside the
    directory)."""
    names, card_path = card.members, ModelDir(directory).card_path
    if not names:
        raise ModelLoadError(f"{card_path}: an ensemble needs 'members', a list of model names")
    _check_member_names(names, directory, card_path)
    weights = _member_weights(card, names, card_path)
    token = _enter(directory, card_path)
    try:
        members = [_load_member(name, directory, backend, tta, load_member) for name in names]
    finally:
        _LOADING.reset(token)
    try:
        _check_same_labels(members, names)
    except ValueError as err:
        raise ModelLoadError(f"{directory}: {err}") from None
    return EnsembleClassifier(
        name=card.id or directory.name,
        labels=tuple(members[0].labels),
        input_spec=members[0].input_spec,
        card=card,
        directory=directory,
        members=members,
        weights=weights,
        tta=tta,
    )


def _load_member(name: str, directory: Path, backend: str, tta: str, load_member: MemberLoader) -> Any:
    """A member from the ensemble's own folder (``default`` through that folder's default.json)."""
    base, head = split_head(name)
    if base != "default":
        base = str(directory.parent / base)
    return load_member(f"{base}@{head}" if head else base, backend=backend, tta=tta, root=directory.parent)
