"""Runs computed from weights a folder no longer has are removed by whatever replaces the weights."""

from __future__ import annotations

from run_fixtures import synthetic_rows, write_run_files

from fer_core.labels import FER2013
from fer_core.store.runs import remove_runs_of_other_weights


def test_only_the_runs_of_other_weights_are_removed(tmp_path) -> None:
    rows = synthetic_rows(n=20, seed=0)
    common = {"labels": FER2013.names, "label_set": "fer2013"}
    write_run_files(tmp_path, rows, dataset="fer2013", split="test", info={"weights_sha256": "a" * 64}, **common)
    write_run_files(tmp_path, rows, dataset="ferplus", split="test", info={"weights_sha256": "b" * 64}, **common)
    (tmp_path / "runs" / "broken.json").write_text("{")
    assert remove_runs_of_other_weights(tmp_path, "a" * 64) == ["ferplus-test"]
    left = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert left == ["broken.json", "fer2013-test.json", "fer2013-test.parquet"]
