"""Time the Image page's occlusion saliency map per face: ``python scripts/bench_saliency.py --model default``.

Runs ``fer_core.apps.saliency.occlusion_saliency`` on FER2013 test faces (one thread) and prints the median and 90th
percentile milliseconds per face and the number of forward passes (faces in the one batch).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["default"])
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--faces", type=int, default=20)
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from fer_core.apps.saliency import occlusion_saliency
    from fer_core.data import load_split
    from fer_core.serving.classifier import load_model

    args = parse_args(argv)
    torch.set_num_threads(1)
    faces = load_split("fer2013", args.data_root / "fer2013", "test").images[: args.faces + 1]
    for name in args.model:
        clf = load_model(name, backend=args.backend)
        occlusion_saliency(clf, faces[0], clf.input_size)  # warm-up
        runs = [occlusion_saliency(clf, face, clf.input_size) for face in faces[1:]]
        ms = [run.milliseconds for run in runs]
        print(
            f"{clf.name} ({clf.backend}): median {np.median(ms):.0f} ms, p90 {np.percentile(ms, 90):.0f} ms per face, "
            f"{runs[0].forward_passes} forward passes, {len(ms)} faces, 1 thread"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
