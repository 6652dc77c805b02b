"""The progress file of a training run (``--state-dir``): its time estimate follows the run's present pace."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_core.training.state import read_status, write_status


def _status(folder: Path, epoch_seconds: list[float]) -> dict:
    write_status(
        folder,
        recipe="r",
        epoch=len(epoch_seconds),
        epochs=20,
        best_epoch=1,
        best_score=0.5,
        last=None,
        seconds=sum(epoch_seconds),
        done=False,
        epoch_seconds=epoch_seconds,
    )
    return read_status(folder)


def test_eta_follows_the_recent_epochs_of_a_run_resumed_on_a_quieter_machine(tmp_path: Path) -> None:
    # Five slow epochs on a busy machine, then five at 30 s: ten to go take about 300 s, not the mean's 5,150 s.
    status = _status(tmp_path, [1000.0] * 5 + [30.0] * 5)
    assert status["eta_seconds"] == pytest.approx(300.0)


def test_eta_ignores_one_epoch_slowed_by_a_pause(tmp_path: Path) -> None:
    status = _status(tmp_path, [30.0, 30.0, 30.0, 30.0, 4000.0])
    assert status["eta_seconds"] == pytest.approx(30.0 * 15)


def test_eta_without_epoch_durations_is_the_mean_so_far(tmp_path: Path) -> None:
    write_status(
        tmp_path, recipe="r", epoch=4, epochs=10, best_epoch=1, best_score=0.5, last=None, seconds=400.0, done=False
    )
    assert read_status(tmp_path)["eta_seconds"] == pytest.approx(600.0)
