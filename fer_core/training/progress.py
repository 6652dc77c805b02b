"""A training run in progress against a finished model's learning curve, epoch for epoch.

A change to a recipe is judged early by comparing the run's validation figures with those a reference model had at
the same epoch (``python -m fer_core status DIR --against cnn_robust_joint``). That comparison is only fair between
runs on the same schedule: at equal epochs a 120-epoch cosine run has decayed its learning rate much further than a
300-epoch one, so a difference in schedule length is said next to the figures. The validation score is compared
only when both runs select by the same metric (``selection_metric``); the accuracies always are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["CurveComparison", "compare_with_reference"]

# The per-epoch figures worth comparing, where both histories have them (a joint run has all but ``val_acc``'s
# meaning differs by run: it is the first head's accuracy).
COMPARED = ("val_score", "val_accuracy_fer2013", "val_accuracy_ferplus")


@dataclass(frozen=True)
class CurveComparison:
    """The run's figures at ``epoch`` against the reference's at the same epoch, and the best score so far."""

    epoch: int
    figures: dict[str, tuple[float, float]]  # name -> (run, reference)
    best_so_far: tuple[float, float] | None  # best validation score up to ``epoch`` (run, reference), same metric
    schedule: tuple[int, int]  # epochs planned: run, reference

    def lines(self, reference: str) -> list[str]:
        """Human-readable lines, one per figure, then the schedule warning when the lengths differ."""
        out = [f"  vs {reference} at epoch {self.epoch}:"]
        rows = [*self.figures.items(), *([("best val score so far", self.best_so_far)] if self.best_so_far else [])]
        out += [f"    {name}: {run:.4f} vs {ref:.4f} ({run - ref:+.4f})" for name, (run, ref) in rows]
        if self.best_so_far is None:
            out.append(
                "    validation scores not compared: the runs select by different metrics, or the reference has none"
            )
        if self.schedule[0] != self.schedule[1]:
            out.append(
                f"    schedules differ ({self.schedule[0]} vs {self.schedule[1]} epochs): the same epoch is another "
                "point of the learning-rate schedule"
            )
        return out


def compare_with_reference(
    status: Mapping[str, Any],
    reference_history: pd.DataFrame,
    reference_epochs: int | None = None,
    same_metric: bool = True,
) -> CurveComparison | None:
    """The run described by ``status`` (``fer_core.training.state.read_status``) against ``reference_history``
    (a model's ``history.csv``) at the run's last epoch; None when the reference never reached that epoch or the
    two share no figure. ``same_metric``: both select by the same metric, so their ``val_score`` compare."""
    epoch = int(status["epoch"])
    last = status.get("last_epoch") or {}
    at_epoch = reference_history[reference_history["epoch"] == epoch]
    if at_epoch.empty:
        return None
    row = at_epoch.iloc[-1]
    names = COMPARED if same_metric else COMPARED[1:]
    figures = {
        name: (float(last[name]), float(row[name]))
        for name in names
        if _is_number(last.get(name)) and name in row.index and pd.notna(row[name])
    }
    if not figures:
        return None
    best = None
    if same_metric and "val_score" in reference_history.columns:
        reference_best = float(reference_history.loc[reference_history["epoch"] <= epoch, "val_score"].max())
        best = (float(status["best_val_score"]), reference_best)
    planned = reference_epochs or int(reference_history["epoch"].max())
    return CurveComparison(epoch=epoch, figures=figures, best_so_far=best, schedule=(int(status["epochs"]), planned))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare_run_with_model(status: Mapping[str, Any], model: str) -> CurveComparison | None:
    """``status`` against the shipped model (or model directory) ``model``: its ``history.csv``, planned epochs
    and selection metric from its card. ModelLoadError when the model is unknown or ships no history."""
    from fer_core.errors import ModelLoadError
    from fer_core.store.model_dir import Checkpoints
    from fer_core.store.runs import load_history

    model_dir = Checkpoints.at().resolve(model)
    history = load_history(model_dir)
    if history is None:
        raise ModelLoadError(f"{model_dir.path}: no history.csv to compare a training run with")
    training = model_dir.read_card().training or {}
    epochs = training.get("epochs")
    return compare_with_reference(
        status,
        history,
        reference_epochs=epochs if isinstance(epochs, int) else None,
        same_metric=_run_metric(str(status["recipe"])) == training.get("selection_metric"),
    )


def _run_metric(recipe: str) -> str | None:
    """The selection metric of the run's recipe, or None when the recipe cannot be read any more."""
    from fer_core.training.recipes import load_recipe

    try:
        return load_recipe(recipe).selection_metric
    except (OSError, ValueError):
        return None
