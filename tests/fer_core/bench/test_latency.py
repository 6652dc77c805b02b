"""Latency rows compare across models: backend onnx times every model on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

from fer_core.bench import latency as bench
from fer_core.serving.export import export_onnx


def test_a_model_without_an_onnx_file_is_exported_for_timing_and_left_as_it_was(tiny_model_dir: Path) -> None:
    before = sorted(p.name for p in tiny_model_dir.iterdir())
    row = bench.benchmark_classifier(str(tiny_model_dir), backend="onnx", batch_sizes=(1,), repeats=5)
    assert row["backend"] == bench.EXPORTED_FOR_TIMING
    assert row["ms_per_face_b1"] > 0
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == before, "the timing export is not kept"


def test_a_model_with_its_onnx_file_is_timed_on_it(tiny_model_dir: Path) -> None:
    export_onnx(tiny_model_dir)
    row = bench.benchmark_classifier(str(tiny_model_dir), backend="onnx", batch_sizes=(1,), repeats=5)
    assert row["backend"] == "onnx"


def test_a_tta_timing_is_recorded_beside_the_plain_one_and_read_back_per_mode(tiny_model_dir: Path) -> None:
    from fer_core.store.model_dir import ModelDir

    export_onnx(tiny_model_dir)
    plain = bench.benchmark_classifier(str(tiny_model_dir), backend="onnx", batch_sizes=(1,), repeats=5)
    flip = bench.benchmark_classifier(str(tiny_model_dir), backend="onnx", batch_sizes=(1,), repeats=5, tta="flip")
    assert flip["model"].endswith(" +flip TTA")
    bench.record_latency_in_card(str(tiny_model_dir), plain)
    bench.record_latency_in_card(str(tiny_model_dir), flip, tta="flip")
    card = ModelDir(tiny_model_dir).read_card()
    assert card.latency_of("none") == (plain["ms_per_face_b1"], "onnx")
    assert card.latency_of("flip") == (flip["ms_per_face_b1"], "onnx")
    assert card.latency_of("tencrop") == (None, None)
