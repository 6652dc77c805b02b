"""Detection benchmark: recall by face size and false faces per image, for each detection preset, before and after.

    python scripts/bench_detect.py                          # every preset, scikit-image faces only
    python scripts/bench_detect.py --fer2013 ../shared/data/fer2013 --scenes 40 --json detect.json
    python scripts/bench_detect.py --preset photo --no-before

Faces are real (scikit-image's astronaut and LFW crops, FER2013 test faces with ``--fer2013``), composited at known
sizes into face-free scikit-image photos (``fer_core.bench.detection``). Photo scenes are 1600x1200 with faces of
24-200 px; video and live scenes are 640x480 webcam-sized frames. "before" is the detection the app used before the
presets: 256 px in steps of 1.15 with histogram equalisation for live and video, 640 px for photos, no guard.
Timings are medians on whatever else the machine is doing: compare them within one run only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import cv2

from fer_core.bench.detection import (
    BEFORE_PRESETS,
    benchmark_faces,
    build_scenes,
    evaluate_detector,
    face_free_images,
)
from fer_core.bench.latency import format_table
from fer_core.vision.detect import DETECTION_PRESETS, HaarDetector

__all__ = ["SCENES", "main", "parse_args", "run_benchmark"]

# Scene size and face sizes per source.
SCENES = {
    "photo": ((1600, 1200), (24, 32, 48, 64, 96, 128, 160, 200)),
    "video": ((640, 480), (24, 32, 48, 64, 96)),
    "live": ((640, 480), (32, 48, 64, 96, 128)),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", nargs="+", default=list(DETECTION_PRESETS), choices=list(DETECTION_PRESETS))
    parser.add_argument("--fer2013", type=Path, help="FER2013 folder (Kaggle layout) to add its test faces")
    parser.add_argument("--fer2013-count", type=int, default=200, help="FER2013 faces to use (default 200)")
    parser.add_argument("--scenes", type=int, default=24, help="scenes per preset; each holds one face per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-before", action="store_true", help="measure only the current presets")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: the app's per-session cost)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def _detectors(preset: str, with_before: bool) -> dict[str, HaarDetector]:
    detectors = {"after": HaarDetector.from_preset(preset)}
    if with_before:
        detectors = {"before": HaarDetector(**BEFORE_PRESETS[preset]), **detectors}
    return detectors


def run_benchmark(args: argparse.Namespace) -> dict:
    """Every chosen preset, before and after, on its scenes and on the face-free photos; a JSON-ready dict."""
    cv2.setNumThreads(args.threads)
    faces = benchmark_faces(args.fer2013, args.fer2013_count)
    face_free = face_free_images()
    report = {"faces": len(faces), "face_free_images": len(face_free), "scenes": args.scenes, "presets": {}}
    for preset in args.preset:
        scene_size, sizes = SCENES[preset]
        scenes = build_scenes(faces, n_scenes=args.scenes, sizes=sizes, scene_size=scene_size, seed=args.seed)
        report["presets"][preset] = {
            name: {"scene_size": list(scene_size), **evaluate_detector(detector, scenes, face_free).to_dict()}
            for name, detector in _detectors(preset, not args.no_before).items()
        }
    return report


def _rows(report: dict) -> list[dict]:
    rows = []
    for preset, results in report["presets"].items():
        for name, result in results.items():
            row = {"preset": preset, "detection": name}
            row.update({f"{size} px": f"{100 * recall:.0f}%" for size, recall in result["recall_by_size"].items()})
            row["recall >=32"] = f"{100 * result['recall_32_and_up']:.1f}%"
            row["false/scene"] = f"{result['false_faces_per_scene']:.2f}"
            row["false, face-free"] = str(sum(result["face_free_false_faces"].values()))
            row["ms/scene"] = f"{result['median_scene_ms']:.0f}"
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args)
    print(
        f"{report['faces']} face sources, {report['scenes']} scenes per preset (one face per size each), "
        f"{report['face_free_images']} face-free photos; {args.threads} OpenCV thread(s)"
    )
    rows = _rows(report)
    for preset in report["presets"]:
        print(f"\n{preset} ({'x'.join(map(str, SCENES[preset][0]))} scenes)")
        print(format_table([row for row in rows if row["preset"] == preset]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
