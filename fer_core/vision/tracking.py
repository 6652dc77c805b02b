"""Face tracks across frames (greedy IoU matching) and per-track temporal smoothing of class probabilities.

Webcam faces move a few pixels per frame, so box overlap alone is a reliable association cue (the idea behind
IOU trackers, Bochinski et al. 2017, "High-Speed Tracking-by-Detection Without Using Image Information"). Greedy
matching on the highest IoU first is optimal in practice for the handful of faces in a frame and needs no solver.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["IoUTracker", "ProbabilitySmoother", "Track", "greedy_match", "iou_matrix"]


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of ``x1, y1, x2, y2`` boxes: shape ``(len(a), len(b))``."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_match(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken in order of decreasing IoU, each row and column used once, IoU >= ``min_iou``."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    order = np.argsort(-iou, axis=None, kind="stable")
    for flat in order:
        row, col = divmod(int(flat), iou.shape[1])
        if iou[row, col] < min_iou:
            break
        if row not in used_rows and col not in used_cols:
            pairs.append((row, col))
            used_rows.add(row)
            used_cols.add(col)
    return pairs


@dataclass
class Track:
    """One face followed over time; ``missed`` counts consecutive frames without a matching detection."""

    track_id: int
    box: tuple[int, int, int, int]
    missed: int = 0
    hits: int = 1


class IoUTracker:
    """Assigns a stable id to each detected box; a track expires after ``max_missed`` frames without a match."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self.tracks.clear()
        self._next_id = 1

    def update(self, boxes: np.ndarray) -> list[int]:
        """Match this frame's boxes to the live tracks; return one track id per box, in box order."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        live = list(self.tracks.values())
        iou = iou_matrix(np.array([t.box for t in live]).reshape(-1, 4), boxes)
        ids: list[int | None] = [None] * len(boxes)
        for row, col in greedy_match(iou, self.iou_threshold):
            track = live[row]
            track.box, track.missed, track.hits = _box_tuple(boxes[col]), 0, track.hits + 1
            ids[col] = track.track_id
        matched = {i for i in ids if i is not None}
        for track in live:
            if track.track_id not in matched:
                track.missed += 1
                if track.missed > self.max_missed:
                    del self.tracks[track.track_id]
        return [i if i is not None else self._start(boxes[k]) for k, i in enumerate(ids)]

    def _start(self, box: np.ndarray) -> int:
        track = Track(self._next_id, _box_tuple(box))
        self.tracks[track.track_id] = track
        self._next_id += 1
        return track.track_id


def _box_tuple(box: np.ndarray) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(v) for v in box)
    return (x1, y1, x2, y2)


class ProbabilitySmoother:
    """Exponential moving average of class probabilities per track id.

    ``smoothed_t = smoothing * smoothed_{t-1} + (1 - smoothing) * raw_t``, starting from the first raw value; with
    ``smoothing = 0`` the raw probabilities pass through. A convex mix of distributions is a distribution, so the
    result still sums to one.
    """

    def __init__(self, smoothing: float = 0.6) -> None:
        self.smoothing = smoothing
        self._state: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self._state.clear()

    def update(self, track_id: int, probabilities: np.ndarray) -> np.ndarray:
        """Fold ``probabilities`` into the track's average and return the new average (a fresh array)."""
        raw = np.asarray(probabilities, dtype=np.float32)
        previous = self._state.get(track_id)
        if previous is None or previous.shape != raw.shape or self.smoothing == 0:
            smoothed = raw.copy()
        else:
            smoothed = (self.smoothing * previous + (1.0 - self.smoothing) * raw).astype(np.float32)
        self._state[track_id] = smoothed
        return smoothed.copy()

    def keep_only(self, track_ids: Iterable[int]) -> None:
        """Drop the state of tracks that no longer exist."""
        alive = set(track_ids)
        for track_id in [t for t in self._state if t not in alive]:
            del self._state[track_id]
