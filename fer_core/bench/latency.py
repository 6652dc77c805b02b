"""Latency and throughput of classifiers on the CPU (what the live demo and the cards report).

Latency is the median of many single calls after warm-up (``time.perf_counter``), for the whole ``predict`` path
(preprocessing included) on 48x48-like face crops; thread count is fixed so numbers compare across models.

Backend ``onnx`` times every model on ONNX Runtime, so that rows compare: a model shipped without an ONNX file (to
keep the repository small) is exported to a temporary file for the measurement, and its row says so.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fer_core.serving.classifier import AnyClassifier, Classifier, attach_onnx_file, load_model, served_onnx_file
from fer_core.store.card import ModelCard

EXPORTED_FOR_TIMING = "onnx, exported for timing"

__all__ = [
    "EXPORTED_FOR_TIMING",
    "alternating_rounds",
    "benchmark_classifier",
    "cpu_description",
    "format_table",
    "measure",
    "paired_ratio",
    "record_latency_in_card",
]


def measure(fn, repeats: int, warmup: int = 5) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def alternating_rounds(functions: dict, rounds: int, calls: int) -> dict[str, list[float]]:
    """Each function's median per-call ms in each of ``rounds`` rounds, the functions taking turns within a round.

    A first round of every function is run and discarded: the first hundreds of calls of a fresh session (memory
    arenas, caches) are slower and would count against whichever model was loaded last.
    """
    for fn in functions.values():
        measure(fn, repeats=calls)
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            samples[name].append(measure(fn, repeats=calls))
    return samples


def paired_ratio(samples: list[float], reference: list[float]) -> dict[str, float]:
    """Median and quartiles of the per-round ratio ``samples[i] / reference[i]`` of two functions timed in the
    same alternating rounds.

    Pairing by round cancels what slows a whole round (another process, a frequency change); the quartiles show how
    far one run's ratio can be trusted, and whether a ratio near 1 is on one side of it or straddles it.
    """
    if len(samples) != len(reference) or not samples:
        raise ValueError("paired_ratio needs the same number (>= 1) of rounds on both sides")
    ratios = sorted(s / r for s, r in zip(samples, reference, strict=True))
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    return {"ratio": statistics.median(ratios), "q1": quartiles[0], "q3": quartiles[2]}


def benchmark_classifier(
    model: str,
    *,
    backend: str = "torch",
    threads: int = 1,
    batch_sizes: Sequence[int] = (1, 8, 64),
    crop_size: int = 96,
    repeats: int = 50,
    tta: str = "none",
) -> dict:
    """Per-face latency at each batch size for one model and backend (see the module doc for ``onnx``), with
    test-time augmentation ``tta`` (every view of a face counted in its latency)."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="fer-bench-") as scratch:
        clf, used = _load_timed(model, backend, threads, Path(scratch), tta)
        return _time_batches(clf, used, threads, batch_sizes, crop_size, repeats)


def _load_timed(model: str, backend: str, threads: int, scratch: Path, tta: str) -> tuple[AnyClassifier, str]:
    """The classifier to time on ``backend`` and the backend's name for the row."""
    if backend != "onnx":
        return load_model(model, backend=backend, tta=tta), backend
    clf = load_model(model, backend="auto", tta=tta)  # ONNX Runtime where the directory has an ONNX file
    if not isinstance(clf, Classifier):  # an ensemble: each member on its own ONNX file
        return load_model(model, backend="onnx", tta=tta), backend
    path, used = served_onnx_file(clf.directory, clf.card), backend
    if clf.onnx_session is None:
        from fer_core.serving.export import export_to_file

        path, used = scratch / "model.onnx", EXPORTED_FOR_TIMING
        export_to_file(clf, path)
    attach_onnx_file(clf, path, threads=threads)  # a session's thread count is fixed at creation
    return clf, used


def _time_batches(
    clf: AnyClassifier, backend: str, threads: int, batch_sizes: Sequence[int], crop_size: int, repeats: int
) -> dict:
    rng = np.random.default_rng(0)
    name = clf.name if clf.tta == "none" else f"{clf.name} +{clf.tta} TTA"
    row = {"model": name, "backend": backend, "threads": threads, "params": clf.card.params}
    for batch in batch_sizes:
        crops = list(rng.integers(0, 256, (batch, crop_size, crop_size, 3), dtype=np.uint8))
        ms = measure(lambda crops=crops: clf.predict(crops), repeats=max(5, repeats // max(1, batch // 8)))
        row[f"ms_per_face_b{batch}"] = round(ms / batch, 4)
    return row


def format_table(rows: list[dict]) -> str:
    """A plain-text table of benchmark rows."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name and its vector units, e.g. "AMD EPYC (AVX-512, VNNI, BF16)".

    Latencies measured on different CPUs do not compare (int8 kernels differ most), so the card says which one.
    """
    from fer_core.hardware import cpu_info

    info = cpu_info(cpuinfo)
    return info.describe() if info is not None else None


def record_latency_in_card(model: str, row: dict, batch: int = 1, tta: str = "none") -> ModelCard:
    """Write the measured per-face latency (batch ``batch``) into the model's card, with how and on which CPU it was
    measured; a TTA mode's goes under ``latency.tta`` (ModelCard.latency_of), beside the plain model's, and
    re-timing the plain model keeps those."""
    import platform

    from fer_core.store.card import TTA_LATENCY_KEY, Latency
    from fer_core.store.model_dir import Checkpoints, split_head

    def record_tta(card: ModelCard) -> None:
        card.latency = card.latency or Latency()
        timings = dict(card.latency.extra.get(TTA_LATENCY_KEY) or {})
        timings[tta] = {
            "ms_per_face": row[f"ms_per_face_b{batch}"],
            "backend": row["backend"],
            "cpu": cpu_description(),
            "measured": dt.date.today().isoformat(),
        }
        card.latency.extra[TTA_LATENCY_KEY] = timings

    def record(card: ModelCard) -> None:
        tta_timings = card.latency.extra.get(TTA_LATENCY_KEY) if card.latency is not None else None
        card.latency_ms_per_face = row[f"ms_per_face_b{batch}"]
        card.latency = Latency(
            backend=row["backend"],
            threads=row["threads"],
            batch=batch,
            machine=platform.processor() or platform.machine(),
            cpu=cpu_description(),
            measured=dt.date.today().isoformat(),
            command=f"python -m fer_core bench --model {model} --update-card",
        )
        if tta_timings:  # timed apart, each with its own CPU: a new plain timing leaves them as they are
            card.latency.extra[TTA_LATENCY_KEY] = tta_timings

    return Checkpoints.at().resolve(split_head(model)[0]).update_card(record if tta == "none" else record_tta)
