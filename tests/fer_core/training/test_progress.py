"""A training run compared with a finished model's learning curve at the same epoch (``status --against``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fer_core.apps.cli import main
from fer_core.training.progress import compare_with_reference
from fer_core.training.state import write_status


def _history(epochs: int, score_step: float = 0.01) -> pd.DataFrame:
    epoch = pd.Series(range(1, epochs + 1))
    return pd.DataFrame(
        {
            "epoch": epoch,
            "val_score": 0.5 + score_step * epoch,
            "val_accuracy_fer2013": 0.55 + score_step * epoch,
            "val_accuracy_ferplus": 0.7 + score_step * epoch,
        }
    )


def _status(epoch: int, epochs: int = 10, score: float = 0.6, best: float = 0.62) -> dict:
    last = {"epoch": epoch, "val_score": score, "val_accuracy_fer2013": 0.6, "val_accuracy_ferplus": 0.8}
    return {"recipe": "r", "epoch": epoch, "epochs": epochs, "best_val_score": best, "last_epoch": last}


def test_the_run_is_compared_with_the_reference_at_its_own_epoch() -> None:
    reference = _history(10)
    comparison = compare_with_reference(_status(epoch=4), reference)
    assert comparison is not None and comparison.epoch == 4
    assert comparison.figures["val_score"] == pytest.approx((0.6, 0.54))
    assert comparison.figures["val_accuracy_ferplus"] == pytest.approx((0.8, 0.74))
    assert comparison.best_so_far == pytest.approx((0.62, 0.54))  # the reference's best up to epoch 4, not later
    text = "\n".join(comparison.lines("ref"))
    assert "val_score: 0.6000 vs 0.5400 (+0.0600)" in text and "schedules differ" not in text


def test_a_reference_on_another_schedule_is_flagged() -> None:
    comparison = compare_with_reference(_status(epoch=4, epochs=300), _history(10), reference_epochs=120)
    assert comparison is not None and "schedules differ (300 vs 120 epochs)" in "\n".join(comparison.lines("ref"))


def test_scores_by_another_selection_metric_are_left_out_and_the_accuracies_kept() -> None:
    comparison = compare_with_reference(_status(epoch=4), _history(10), same_metric=False)
    assert comparison is not None and "val_score" not in comparison.figures and comparison.best_so_far is None
    assert set(comparison.figures) == {"val_accuracy_fer2013", "val_accuracy_ferplus"}
    assert "different metrics" in "\n".join(comparison.lines("ref"))


def test_a_reference_that_stopped_earlier_gives_no_comparison() -> None:
    assert compare_with_reference(_status(epoch=12, epochs=300), _history(10)) is None


def test_status_against_a_model_prints_the_differences(tmp_path: Path, monkeypatch, capsys) -> None:
    model = tmp_path / "checkpoints" / "ref"
    model.mkdir(parents=True)
    _history(10).to_csv(model / "history.csv", index=False)
    card = {
        "id": "ref",
        "architecture": "cnn",
        "labels": ["a", "b"],
        "training": {"epochs": 10, "selection_metric": "acc_f1"},
    }
    (model / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    state = tmp_path / "state"
    write_status(
        state,
        recipe="cnn_robust_joint",  # a shipped recipe: selects by acc_f1 like the reference
        epoch=4,
        epochs=10,
        best_epoch=4,
        best_score=0.6,
        last=_status(epoch=4)["last_epoch"],
        seconds=40.0,
        done=False,
    )
    assert main(["status", str(state), "--against", "ref"]) == 0
    out = capsys.readouterr().out
    assert "vs ref at epoch 4:" in out and "val_score: 0.6000 vs 0.5400 (+0.0600)" in out
    assert main(["status", str(state), "--against", "no-such-model"]) == 2
