"""Which runs the dashboard pages open on: the default model's, the answer it serves first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_app.dashboard_data import default_first


def _checkpoints(root: Path, served: str | None) -> None:
    (root / "joint").mkdir(parents=True)
    card = {"id": "joint", "architecture": "cnn", "labels": ["a", "b"]}
    if served is not None:
        card["default_head"] = served
    (root / "joint" / "card.json").write_text(json.dumps(card))
    (root / "default.json").write_text(json.dumps({"model": "joint"}))


@pytest.mark.parametrize("served", ["fused", "ferplus"])
def test_the_served_answer_of_the_default_comes_first(tmp_path: Path, monkeypatch, served: str) -> None:
    _checkpoints(tmp_path, served)
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(tmp_path))
    ids = ["other@fer2013", "joint@fer2013", "joint@ferplus", "joint@fused", "joint@fused +flip TTA"]
    ordered = default_first(ids)
    assert ordered[0] == f"joint@{served}"
    assert set(ordered[:3]) == {"joint@fer2013", "joint@ferplus", "joint@fused"}


def test_without_a_served_head_the_default_runs_keep_their_order(tmp_path: Path, monkeypatch) -> None:
    _checkpoints(tmp_path, None)
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(tmp_path))
    assert default_first(["other@x", "joint@fer2013", "joint@ferplus"]) == ["joint@fer2013", "joint@ferplus", "other@x"]
