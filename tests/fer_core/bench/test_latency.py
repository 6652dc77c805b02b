"""Latency rows compare across models: backend onnx times every model on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_re_timing_the_plain_model_keeps_the_tta_timings_and_each_names_its_cpu(
    tiny_model_dir: Path, monkeypatch
) -> None:
    from fer_core.store.model_dir import ModelDir

    row = {"ms_per_face_b1": 0.5, "backend": "onnx", "threads": 1}
    monkeypatch.setattr(bench, "cpu_description", lambda: "AMD EPYC 7B13 64-Core Processor (AVX2, no VNNI)")
    bench.record_latency_in_card(str(tiny_model_dir), {**row, "ms_per_face_b1": 1.5}, tta="flip")
    monkeypatch.setattr(bench, "cpu_description", lambda: "Intel(R) Xeon(R) Processor (AVX-512, VNNI, BF16, AMX)")
    bench.record_latency_in_card(str(tiny_model_dir), row)
    card = ModelDir(tiny_model_dir).read_card()
    assert card.latency_of("flip") == (1.5, "onnx"), "the flip timing survives a new plain timing"
    assert card.timed_on("flip") == "onnx, AMD EPYC 7B13 64-Core (AVX2, no VNNI)"
    assert card.timed_on() == "onnx, Intel Xeon (AVX-512, VNNI, BF16, AMX)"
    assert card.timed_on("tencrop") == "not timed"


def test_alternating_rounds_time_every_function_in_turn_after_a_discarded_warm_up_round() -> None:
    order: list[str] = []
    functions = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    samples = bench.alternating_rounds(functions, rounds=3, calls=2)
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3}
    per_measure = 5 + 2  # measure's warm-up calls, then the timed ones
    assert len(order) == 2 * (3 + 1) * per_measure  # the discarded warm-up round included
    blocks = [order[i] for i in range(0, len(order), per_measure)]
    assert blocks == ["a", "b"] * 4


def test_paired_ratio_is_the_median_of_per_round_ratios_with_their_quartiles() -> None:
    reference = [1.0, 1.0, 2.0, 2.0, 4.0]  # rounds slowed as a whole
    samples = [0.8, 0.9, 1.8, 1.6, 3.6]
    result = bench.paired_ratio(samples, reference)
    assert result["ratio"] == pytest.approx(0.9)  # per round: 0.8, 0.9, 0.9, 0.8, 0.9
    assert (result["q1"], result["q3"]) == (pytest.approx(0.8), pytest.approx(0.9))
    assert bench.paired_ratio([0.5], [1.0]) == {"ratio": 0.5, "q1": 0.5, "q3": 0.5}
    with pytest.raises(ValueError, match="same number"):
        bench.paired_ratio([1.0, 1.0], [1.0])
