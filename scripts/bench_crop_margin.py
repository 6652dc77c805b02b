"""Which crop margin makes the app's face crops framed like the training faces: accuracy through the detector.

    python scripts/bench_crop_margin.py --fer2013 ../shared/data/fer2013 [--model default] [--faces 1000]

The app classifies the detector's box widened by ``crop_margin`` of its size on every side
(``fer_core.vision.pipeline``). A model learns the framing of its training crops, so the margin that reproduces that
framing is the one to ship. Each FER2013 PrivateTest face (a 48 px crop, labelled) is enlarged to ``--face-px`` and
set in a canvas whose surround is the crop's own edge, blurred (an out-of-focus background); the app's Haar detector
(``--preset``, photo by default) finds it there, and the crop at every margin is classified. Reported per margin:
accuracy on the faces found, and the side of the crop relative to the dataset's own crop (1.0 = the training
framing). The first row, "dataset crop", classifies the original 48 px crop: the ceiling the detector path can reach.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fer_core.bench.detection import MATCH_IOU, soft_border
from fer_core.serving.classifier import load_model
from fer_core.vision.detect import create_detector
from fer_core.vision.pipeline import crop_face, expand_box
from fer_core.vision.tracking import iou_matrix

__all__ = ["main", "parse_args"]

MARGINS = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer2013", type=Path, required=True, help="the FER2013 folder (test/<class>/*.png)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--faces", type=int, default=1000, help="PrivateTest faces drawn (seed 0)")
    parser.add_argument("--face-px", type=int, default=144, help="side the 48 px crop is enlarged to")
    parser.add_argument("--margins", type=float, nargs="+", default=list(MARGINS))
    parser.add_argument("--preset", default="photo", help="the detection preset: photo, video or live")
    return parser.parse_args(argv)


def test_faces(root: Path, count: int) -> list[tuple[np.ndarray, str]]:
    """``count`` PrivateTest faces drawn with seed 0, with their class folder names."""
    paths = sorted(root.glob("test/*/PrivateTest_*"))
    if not paths:
        raise SystemExit(f"no FER2013 PrivateTest images under {root / 'test'}")
    chosen = np.random.default_rng(0).permutation(len(paths))[:count]
    faces = [(cv2.imread(str(paths[i]), cv2.IMREAD_GRAYSCALE), paths[i].parent.name) for i in chosen]
    return [(gray, label) for gray, label in faces if gray is not None]


def staged(gray: np.ndarray, face_px: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The crop enlarged to ``face_px`` in a canvas three times its side, surrounded by its own blurred edge (the
    detection benchmark's out-of-focus surround); returns the BGR canvas and the crop's box in it."""
    big = cv2.resize(gray, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    canvas = soft_border(big, face_px)
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), (face_px, face_px, 2 * face_px, 2 * face_px)


def matched_face(boxes: np.ndarray, crop_box: tuple[int, int, int, int]) -> np.ndarray | None:
    """The detection that overlaps the dataset crop best, if it overlaps it as a found face must (the detection
    benchmark's IoU threshold); None when the detector missed the face."""
    if len(boxes) == 0:
        return None
    overlap = iou_matrix(np.array([crop_box]), np.asarray(boxes))[0]
    best = int(overlap.argmax())
    return boxes[best] if overlap[best] >= MATCH_IOU else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    clf = load_model(args.model)
    detector = create_detector("haar", preset=args.preset)
    faces = test_faces(args.fer2013, args.faces)
    truth = [label for _, label in faces]
    dataset_pred = clf.predict([gray for gray, _ in faces]).argmax(1)
    hits = {margin: [] for margin in args.margins}
    relative_side = {margin: [] for margin in args.margins}
    found = np.zeros(len(faces), dtype=bool)
    for index, (gray, label) in enumerate(tqdm(faces, desc="faces", unit="face")):
        canvas, crop_box = staged(gray, args.face_px)
        box = matched_face(detector.detect(canvas)[0], crop_box)
        if box is None:
            continue
        found[index] = True
        crops = [crop_face(canvas, box, margin) for margin in args.margins]
        predicted = clf.predict(crops).argmax(1)
        for margin, index in zip(args.margins, predicted, strict=True):
            hits[margin].append(clf.labels[index] == label)
            x1, _, x2, _ = expand_box(box, margin, canvas.shape[1], canvas.shape[0])
            relative_side[margin].append((x2 - x1) / args.face_px)
    correct = np.array([clf.labels[i] == t for i, t in zip(dataset_pred, truth, strict=True)])
    print(f"model {clf.name}; {found.sum()} of {len(faces)} faces found by the detector ({args.preset} preset)")
    print(f"{'crop':>16}  {'side / dataset crop':>20}  {'accuracy %':>10}  (on the faces found)")
    print(f"{'dataset crop':>16}  {1.0:>20.2f}  {100 * correct[found].mean():>10.2f}")
    for margin in args.margins:
        side = float(np.median(relative_side[margin])) if relative_side[margin] else float("nan")
        accuracy = 100 * float(np.mean(hits[margin])) if hits[margin] else float("nan")
        print(f"{f'margin {margin:g}':>16}  {side:>20.2f}  {accuracy:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
