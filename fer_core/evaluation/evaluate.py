"""Run a model over a dataset split under conditions (clean; the resize grid) and write a stored run.

A stored run is ``runs/<dataset id>-<split>.parquet`` with one row per (sample, condition) - ``sample_id,
condition, label, pred, p_<class>...`` plus metadata columns - and a JSON sidecar (model id, weights hash, dataset,
split, label set, sample count, conditions, TTA, software versions, machine, throughput). The dashboard computes
every number from these rows. The dataset id is any name (``rafdb``, an ImageFolder's folder name); the file name
keeps only its safe characters, the sidecar keeps it whole.

A model scored on a dataset with other classes is scored on the classes both have
(:class:`fer_core.labels.SharedClasses`): the rows then hold only those classes, the sidecar's ``scoring`` says
which were left out and how many images that dropped.

Resize conditions follow the low-resolution study the project grew from: a 48 px face is shrunk to ``px`` with one
OpenCV interpolation and enlarged back to the model's input size with another (``resize:32:area>cubic``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_core.data.preprocess import resize_stack
from fer_core.labels import SharedClasses, labels_of_columns, prob_column
from fer_core.serving.classifier import AnyClassifier, weights_sha256
from fer_core.store.model_dir import ModelDir
from fer_core.store.runs import RunInfo, save_run

__all__ = [
    "DEFAULT_PAIRS",
    "DEFAULT_SIZES",
    "INTERPOLATIONS",
    "apply_condition",
    "evaluate_classifier",
    "parse_condition",
    "resize_grid_conditions",
    "run_model_id",
    "write_run",
]

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos4": cv2.INTER_LANCZOS4,
}
DEFAULT_SIZES = (40, 32, 24, 16, 12, 8)
# The four pairs of the original study first, then area (the usual best downscaler) and nearest (the worst case).
DEFAULT_PAIRS = (
    ("cubic", "cubic"),
    ("linear", "linear"),
    ("lanczos4", "lanczos4"),
    ("cubic", "linear"),
    ("area", "cubic"),
    ("nearest", "nearest"),
)


def resize_grid_conditions(
    sizes: Sequence[int] = DEFAULT_SIZES, pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS
) -> list[str]:
    """Condition names ``resize:<px>:<down>><up>`` for every size x pair."""
    return [f"resize:{px}:{down}>{up}" for down, up in pairs for px in sizes]


def parse_condition(condition: str) -> tuple[int, str, str] | None:
    """``(px, down, up)`` of a resize condition; None for ``clean``; ValueError naming the valid form otherwise."""
    if condition == "clean":
        return None
    try:
        kind, px, pair = condition.split(":")
        down, up = pair.split(">")
        if kind != "resize" or down not in INTERPOLATIONS or up not in INTERPOLATIONS:
            raise ValueError
        return int(px), down, up
    except ValueError:
        known = ", ".join(INTERPOLATIONS)
        raise ValueError(
            f"bad condition {condition!r}; use 'clean' or 'resize:<px>:<down>><up>' with {known}"
        ) from None


def apply_condition(images: np.ndarray, condition: str, output_size: int) -> np.ndarray:
    """Images under a condition, at ``output_size`` px (what the model sees)."""
    parsed = parse_condition(condition)
    if parsed is None:
        return resize_stack(images, output_size)
    px, down, up = parsed
    small = resize_stack(images, px, INTERPOLATIONS[down])
    return resize_stack(small, output_size, INTERPOLATIONS[up])


def evaluate_classifier(
    clf: AnyClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    sample_ids: Sequence[str],
    metadata: pd.DataFrame | None = None,
    conditions: Sequence[str] = ("clean",),
    progress: bool = True,
    classes: SharedClasses | None = None,
) -> tuple[pd.DataFrame, float]:
    """Rows of a stored run for every (sample, condition), and the throughput in samples per second.

    ``labels`` are ids of the model's classes, or of ``classes.label_set`` when ``classes`` is given: then the
    probabilities are restricted to the shared classes and renormalised before the argmax.
    """
    frames, seconds = [], 0.0
    names = classes.names if classes is not None else clf.labels
    prob_columns = [prob_column(name) for name in names]
    for condition in tqdm(conditions, desc=f"evaluate {clf.name}", disable=not progress):
        shown = apply_condition(images, condition, clf.input_size)
        started = time.perf_counter()
        probs = clf.predict(shown)
        seconds += time.perf_counter() - started
        if classes is not None and not classes.is_identity:
            probs = classes.restrict_probabilities(probs)
        frame = pd.DataFrame(probs.round(5), columns=prob_columns)
        frame.insert(0, "pred", probs.argmax(1).astype(np.int16))
        frame.insert(0, "label", np.asarray(labels).astype(np.int16))
        frame.insert(0, "condition", condition)
        frame.insert(0, "sample_id", list(sample_ids))
        if metadata is not None:
            for column in metadata.columns:
                frame[column] = metadata[column].to_numpy()
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows["condition"] = pd.Categorical(rows["condition"], categories=list(dict.fromkeys(conditions)))
    return rows, len(rows) / max(seconds, 1e-9)


def run_model_id(clf: AnyClassifier) -> str:
    """The name a run is listed under: the model (``name@head``), plus ``+<mode> TTA`` for an augmented run."""
    return clf.name if clf.tta == "none" else f"{clf.name} +{clf.tta} TTA"


def _software_versions() -> dict[str, str]:
    import onnxruntime
    import timm
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }


def write_run(
    clf: AnyClassifier,
    rows: pd.DataFrame,
    *,
    dataset: str,
    split: str,
    label_set: str,
    label_mode: str,
    throughput: float,
    out_dir: Path | None = None,
    scoring: dict | None = None,
    dropped: dict[str, int] | None = None,
    layout: str | None = None,
    images_published: int | None = None,
) -> tuple[Path, Path]:
    """Write the parquet rows and the JSON sidecar into ``<model dir>/runs/``.

    ``scoring``: :meth:`SharedClasses.to_dict` when the dataset's classes differ from the model's; ``dropped``:
    images left out by label filters, per reason; ``layout``: the reader (``imagefolder`` ...) when the dataset id
    is another name; ``images_published``: the split's size in its release, to tell an incomplete copy.
    """
    target = ModelDir(out_dir or clf.directory)
    parquet_path, _ = target.run_paths(dataset, split, clf.tta)
    info = RunInfo(
        model_id=run_model_id(clf),
        weights_sha256=weights_sha256(clf.directory),
        dataset=dataset,
        layout=layout or dataset,
        split=split,
        label_set=label_set,
        labels=tuple(labels_of_columns(rows.columns)),
        label_mode=label_mode,
        scoring=scoring,
        dropped=dict(dropped or {}),
        images_published=images_published,
        num_samples=int(rows["sample_id"].nunique()),
        conditions=tuple(str(c) for c in rows["condition"].cat.categories),
        probabilities="float16, clean condition only (resize conditions keep pred)",
        tta=clf.tta,
        backend=clf.backend,
        software=_software_versions(),
        machine={"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        throughput_samples_per_s=round(throughput, 1),
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    return save_run(parquet_path, rows, info)
