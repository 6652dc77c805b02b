"""Warm start: a recipe's run begins from a trained model's weights instead of a random initialisation.

A recipe's ``init_from`` names the model (a checkpoint name or a model directory). Its network must be the one the
recipe builds (same architecture, arguments, input and output count), because the weights are loaded strictly: a
fine-tuning run that silently re-initialised half of its layers would be a from-scratch run under a wrong name.
The source's identity (id, weights hash, training cost) is written into the new card, so the fine-tuned model's
provenance and its total compute stay traceable after the source is replaced under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from fer_core.errors import RecipeError
from fer_core.training.recipes import Recipe

__all__ = ["WarmStart", "load_warm_start"]


@dataclass(frozen=True)
class WarmStart:
    """The weights a run starts from, their logit count, and the facts about their source the new card records."""

    state: dict[str, torch.Tensor]
    outputs: int
    facts: dict[str, Any] = field(default_factory=dict)

    def check_outputs(self, outputs: int) -> None:
        """RecipeError unless the run's heads have the source's logit count (known once the data is read)."""
        if outputs != self.outputs:
            raise RecipeError(
                f"init_from {self.facts.get('model')!r} is another network than the recipe builds "
                f"(outputs: recipe {outputs}, source {self.outputs})"
            )


def load_warm_start(recipe: Recipe) -> WarmStart:
    """The trained weights of ``recipe.init_from`` for the recipe's network; a RecipeError naming both sides when
    the source is another network (checked before any data is read; the logit count with ``check_outputs``)."""
    from fer_core.serving.classifier import load_trained_model, weights_sha256

    clf = load_trained_model(recipe.init_from, action="init_from (warm start)", backend="torch")
    card = clf.card
    wanted = {
        "architecture": recipe.architecture,
        "arch_args": dict(recipe.arch_args),
        "input": (recipe.img_size, recipe.channels),
    }
    found = {
        "architecture": card.architecture,
        "arch_args": dict(card.arch_args or {}),
        "input": (clf.input_spec.size, clf.input_spec.channels),
    }
    mismatched = [key for key in wanted if wanted[key] != found[key]]
    if mismatched:
        detail = "; ".join(f"{key}: recipe {wanted[key]!r}, source {found[key]!r}" for key in mismatched)
        raise RecipeError(f"init_from {recipe.init_from!r} is another network than the recipe builds ({detail})")
    training = card.training or {}
    facts = {
        "model": card.id,
        "weights_sha256": weights_sha256(clf.directory),
        "epochs": training.get("epochs"),
        "cpu_hours": training.get("cpu_hours"),
    }
    state = {key: value.detach().clone() for key, value in clf.module.state_dict().items()}
    return WarmStart(state=state, outputs=card.num_outputs or len(card.labels or ()), facts=facts)
