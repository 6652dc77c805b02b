"""A member retrained in place makes the runs of every ensemble holding it stale: they are removed with its own."""

from __future__ import annotations

from pathlib import Path

from conftest import make_tiny_model_dir
from run_fixtures import synthetic_rows, write_run_files

from fer_core.apps.cli import main
from fer_core.evaluation.evaluate import forget_runs_of_replaced_weights
from fer_core.labels import FER2013
from fer_core.serving.classifier import weights_sha256


def _store_run(model_dir: Path) -> None:
    info = {"weights_sha256": weights_sha256(model_dir)}
    write_run_files(
        model_dir,
        synthetic_rows(n=10),
        dataset="fer2013",
        split="test",
        labels=FER2013.names,
        label_set="fer2013",
        info=info,
    )


def _runs(model_dir: Path) -> list[str]:
    return sorted(p.name for p in (model_dir / "runs").glob("*.json"))


def test_retraining_a_member_removes_the_runs_of_the_ensembles_that_hold_it(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a")
    make_tiny_model_dir(tmp_path / "b", channels=3)
    make_tiny_model_dir(tmp_path / "c", channels=3)
    for name, members in {"ab": ["a", "b"], "bc": ["b", "c"], "outer": ["ab", "c"]}.items():
        assert main(["ensemble", "--members", *members, "--out", str(tmp_path / name)]) == 0
        _store_run(tmp_path / name)
    _store_run(tmp_path / "a")

    make_tiny_model_dir(tmp_path / "a", channels=3)  # new weights written over a's
    removed = forget_runs_of_replaced_weights(tmp_path / "a")

    assert removed == ["fer2013-test"] * 3  # a's own, ab's, and outer's (which holds ab)
    assert _runs(tmp_path / "a") == _runs(tmp_path / "ab") == _runs(tmp_path / "outer") == []
    assert _runs(tmp_path / "bc") == ["fer2013-test.json"]


def test_an_ensemble_that_no_longer_loads_keeps_its_runs(tmp_path: Path) -> None:
    make_tiny_model_dir(tmp_path / "a")
    make_tiny_model_dir(tmp_path / "b", channels=3)
    assert main(["ensemble", "--members", "a", "b", "--out", str(tmp_path / "ab")]) == 0
    _store_run(tmp_path / "ab")
    (tmp_path / "b" / "model.safetensors").unlink()

    make_tiny_model_dir(tmp_path / "a", channels=3)
    forget_runs_of_replaced_weights(tmp_path / "a")

    assert _runs(tmp_path / "ab") == ["fer2013-test.json"]
