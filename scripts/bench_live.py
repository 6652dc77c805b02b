"""Benchmark the live pipeline (detect -> classify -> track -> annotate) at webcam resolution on sample faces.

    python scripts/bench_live.py --threads 2                 # shipped default model, moving-face video
    python scripts/bench_live.py --source multi --json out.json
    python scripts/bench_live.py --fake-classifier           # detector/tracking/annotate cost only
    python scripts/bench_live.py --before                    # detection as it was before the presets

Each stage is the median (and 90th percentile) over ``--frames`` frames after a warm-up; FPS is 1000 / median
total, where total = pipeline ``process`` + ``annotate_frame``, i.e. what a webcam callback spends per frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from fer_core.bench.detection import BEFORE_PRESETS
from fer_core.bench.latency import format_table
from fer_core.labels import FER2013
from fer_core.vision.annotate import annotate_frame
from fer_core.vision.detect import DETECTION_PRESETS, DNN_MODEL_ENV, HaarDetector, create_detector
from fer_core.vision.pipeline import FacePipeline
from fer_core.vision.sample_media import moving_face_frames, multi_face_frame

__all__ = ["main", "parse_args", "run_benchmark"]

STAGES = ("detect", "classify", "track", "annotate", "total")


class UniformClassifier:
    """Stands in for a model when only the rest of the pipeline is measured: uniform probabilities, no cost."""

    labels = FER2013.names

    def predict(self, crops):
        return np.full((len(crops), len(self.labels)), 1.0 / len(self.labels), np.float32)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default="default", help="model name or directory (fer_core.serving.classifier.load_model)"
    )
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--fake-classifier", action="store_true", help="skip the model: uniform probabilities")
    parser.add_argument("--detector", default="haar", choices=("haar", "dnn"), help=f"dnn needs ${DNN_MODEL_ENV}")
    parser.add_argument("--preset", default="live", choices=list(DETECTION_PRESETS), help="detection preset")
    parser.add_argument(
        "--before", action="store_true", help="Haar detection with the settings from before the presets (256 px, 1.15)"
    )
    parser.add_argument(
        "--source",
        default="video",
        choices=("video", "multi"),
        help="video: one face drifting across the frame; multi: a still frame with four faces",
    )
    parser.add_argument("--size", default="640x480", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=100, help="measured frames (after 10 warm-up frames)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and OpenCV threads (1 by default: on a busy 2-core machine more threads contend and the "
        "classifier's p90 latency explodes for the small per-frame batches)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def _frames(source: str, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    if source == "multi":
        return [multi_face_frame(size)] * count
    return list(moving_face_frames(count, size))


def _detector(args: argparse.Namespace):
    if args.before:
        return HaarDetector(**BEFORE_PRESETS[args.preset])
    return create_detector(args.detector, preset=args.preset)


def _load_classifier(args: argparse.Namespace):
    if args.fake_classifier:
        return UniformClassifier(), "uniform (fake)"
    from fer_core.serving.classifier import load_model

    try:
        classifier = load_model(args.model, backend=args.backend)
    except (OSError, ValueError) as err:
        raise SystemExit(f"cannot load model {args.model!r}: {err}\n(use --fake-classifier to time the rest)") from err
    return classifier, f"{classifier.name} ({getattr(classifier, 'backend', '?')})"


def _time_frame(pipeline: FacePipeline, frame: np.ndarray) -> dict[str, float]:
    result = pipeline.process(frame)
    start = time.perf_counter()
    annotate_frame(frame, result)
    annotate_ms = (time.perf_counter() - start) * 1e3
    timings = dict(result.timings_ms, annotate=annotate_ms, faces=len(result.faces))
    timings["total"] = result.timings_ms["total"] + annotate_ms
    return timings


def _summarise(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    summary = {}
    for stage in STAGES:
        values = sorted(s[stage] for s in samples)
        summary[stage] = {"median_ms": statistics.median(values), "p90_ms": values[int(0.9 * (len(values) - 1))]}
    return summary


def run_benchmark(args: argparse.Namespace) -> dict:
    """Time every stage over the sample frames; return a JSON-ready dict."""
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    classifier, classifier_name = _load_classifier(args)
    pipeline = FacePipeline(classifier, _detector(args))
    frames = _frames(args.source, args.frames + 10, (width, height))
    for frame in frames[:10]:
        _time_frame(pipeline, frame)
    samples = [_time_frame(pipeline, frame) for frame in frames[10:]]
    summary = _summarise(samples)
    faces = statistics.mean(s["faces"] for s in samples)
    return {
        "classifier": classifier_name,
        "detector": f"{args.detector} ({'before' if args.before else args.preset})",
        "source": args.source,
        "size": [width, height],
        "threads": args.threads,
        "frames": len(samples),
        "mean_faces": faces,
        "classify_ms_per_face": summary["classify"]["median_ms"] / faces if faces else None,
        "fps": 1000.0 / summary["total"]["median_ms"],
        "stages": summary,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    rows = [
        {"stage": stage, "median_ms": f"{t['median_ms']:.2f}", "p90_ms": f"{t['p90_ms']:.2f}"}
        for stage, t in report["stages"].items()
    ]
    print(
        f"{report['classifier']} | {report['detector']} | {report['source']} {args.size} | "
        f"{report['threads']} threads | {report['frames']} frames, {report['mean_faces']:.1f} faces/frame"
    )
    print(format_table(rows))
    per_face = report["classify_ms_per_face"]
    print(f"classify per face: {per_face:.2f} ms" if per_face is not None else "no faces found")
    print(f"FPS (1000 / median total): {report['fps']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
