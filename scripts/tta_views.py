"""Which test-time views help a model on the validation split, before a TTA mode is built for them.

    python scripts/tta_views.py --model ensemble_fer2013 --label-set fer2013 [--data-root ../shared/data]

The robust-recipe models trained on faces zoomed 0.8-1.2x (reflected borders), shifted and mirrored, so views
that stay inside that jitter are the candidates: the mirror, zoom 0.9 / 1.1 (each mirrored) and 2-pixel shifts.
Each view's probabilities are computed once on the validation split (FER2013 PublicTest, or FER+ Valid with the
majority protocol; the test split is never read); every listed view set is scored as the mean of its views'
probabilities by accuracy, macro-F1 and acc_f1, the ensemble search's criterion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from fer_core.data import load_split
from fer_core.evaluation.metrics import classification_scores, selection_score
from fer_core.serving.classifier import load_model

REPO = Path(__file__).resolve().parents[1]
BATCH = 512

# name -> (zoom, shift x, shift y, mirrored)
VIEWS: dict[str, tuple[float, int, int, bool]] = {
    "plain": (1.0, 0, 0, False),
    "mirror": (1.0, 0, 0, True),
    "zoom 0.9": (0.9, 0, 0, False),
    "zoom 0.9 mirrored": (0.9, 0, 0, True),
    "zoom 1.1": (1.1, 0, 0, False),
    "zoom 1.1 mirrored": (1.1, 0, 0, True),
    "right 2 px": (1.0, 2, 0, False),
    "left 2 px": (1.0, -2, 0, False),
    "down 2 px": (1.0, 0, 2, False),
    "up 2 px": (1.0, 0, -2, False),
}
SHIFTS = ["right 2 px", "left 2 px", "down 2 px", "up 2 px"]
VIEW_SETS: dict[str, list[str]] = {
    "plain": ["plain"],
    "+ mirror": ["plain", "mirror"],
    "+ mirror, zoom 0.9": ["plain", "mirror", "zoom 0.9", "zoom 0.9 mirrored"],
    "+ mirror, zoom 1.1": ["plain", "mirror", "zoom 1.1", "zoom 1.1 mirrored"],
    "+ mirror, both zooms": ["plain", "mirror", "zoom 0.9", "zoom 0.9 mirrored", "zoom 1.1", "zoom 1.1 mirrored"],
    "+ mirror, 2-px shifts": ["plain", "mirror", *SHIFTS],
    "all": list(VIEWS),
}


def view(face: np.ndarray, zoom: float, dx: int, dy: int, mirrored: bool) -> np.ndarray:
    """``face`` zoomed about its centre and shifted, borders reflected as in training, then mirrored if asked."""
    h, w = face.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 0, zoom)
    matrix[:, 2] += (dx, dy)
    out = cv2.warpAffine(face, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(out[:, ::-1]) if mirrored else out


def view_probabilities(model_name: str, faces: np.ndarray) -> dict[str, np.ndarray]:
    """Each view's probabilities for every face, as the model is served."""
    model = load_model(model_name)
    probs = {}
    for name, params in VIEWS.items():
        batch = np.stack([view(face, *params) for face in faces])
        probs[name] = np.concatenate([model.predict(batch[i : i + BATCH]) for i in range(0, len(batch), BATCH)])
    return probs


def score_view_sets(probs: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, dict[str, float]]:
    """accuracy, macro-F1 and acc_f1 of each of ``VIEW_SETS``, its views' probabilities averaged."""
    scores = {}
    for name, views in VIEW_SETS.items():
        mean = np.mean([probs[v] for v in views], axis=0)
        s = classification_scores(labels, mean.argmax(1), mean.shape[1])
        scores[name] = {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "acc_f1": selection_score(s, "acc_f1")}
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model name (name@head for a joint model) or ensemble")
    parser.add_argument("--label-set", required=True, choices=["fer2013", "ferplus"])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args(argv)
    val = load_split(args.label_set, args.data_root / args.label_set, "val", label_mode="majority", progress=True)
    scores = score_view_sets(view_probabilities(args.model, val.images), val.labels)
    print(f"{'views':24} {'n':>2} {'accuracy':>8} {'macro-F1':>8} {'acc_f1':>7}")
    for name, s in scores.items():
        row = f"{name:24} {len(VIEW_SETS[name]):2d} {100 * s['accuracy']:8.2f} {100 * s['macro_f1']:8.2f}"
        print(f"{row} {100 * s['acc_f1']:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
