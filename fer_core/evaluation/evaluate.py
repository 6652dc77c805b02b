"""Run a model over a dataset split under conditions (clean; the resize grid) and write a stored run.

A stored run is ``runs/<dataset id>-<split>.parquet`` with one row per (sample, condition) - ``sample_id,
condition, label, pred, p_<class>...`` plus metadata columns - and a JSON sidecar (model id, weights hash, dataset,
split, label set, sample count, conditions, TTA, software versions, machine, throughput). The dashboard computes
every number from these rows. The dataset id is any name (``rafdb``, an ImageFolder's folder name); the file name
keeps only its safe characters, the sidecar keeps it whole.

A model scored on a dataset with other classes is scored on the classes both have
(:class:`fer_core.labels.SharedClasses`): the rows then hold only those classes, the sidecar's ``scoring`` says
which were left out and how many images that dropped.

Conditions (``clean``, ``resize:<px>:<down>><up>``, corruptions such as ``blur:2``) follow the one grammar of
:mod:`fer_core.evaluation.conditions`. A model
with its own transform (a transformers or timm model: colour, its own size) gets the dataset's images as they are;
a resize condition then shrinks them and enlarges them back to their own size, and the model's transform follows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_core.data.preprocess import resize_interpolation, resize_stack
from fer_core.evaluation.conditions import (
    DEFAULT_PAIRS,
    DEFAULT_SIZES,
    INTERPOLATION_NAMES,
    Corruption,
    corruption_conditions,
    parse_condition,
    resize_grid_conditions,
)
from fer_core.labels import SharedClasses, labels_of_columns, prob_column
from fer_core.serving.classifier import AnyClassifier, weights_sha256
from fer_core.store.json_files import ModelLoadError, read_json_object
from fer_core.store.model_dir import RUNS_DIR, ModelDir, split_head
from fer_core.store.runs import (
    PROBABILITIES_NOTE,
    RunFormatError,
    RunInfo,
    load_run,
    remove_runs_of_other_weights,
    save_run,
)
from fer_core.vision.corruptions import corrupt

__all__ = [
    "DEFAULT_PAIRS",
    "DEFAULT_SIZES",
    "INTERPOLATIONS",
    "RunCollisionError",
    "apply_condition",
    "check_run_target",
    "corruption_conditions",
    "evaluate_classifier",
    "forget_runs_of_replaced_weights",
    "has_own_transform",
    "parse_condition",
    "resize_grid_conditions",
    "run_model_id",
    "write_run",
]

log = logging.getLogger(__name__)

INTERPOLATIONS = {name: getattr(cv2, f"INTER_{name.upper()}") for name in INTERPOLATION_NAMES}


def apply_condition(images: np.ndarray, condition: str, output_size: int | None) -> np.ndarray:
    """Images under a condition (:mod:`fer_core.evaluation.conditions`), at ``output_size`` px (what the model sees),
    or at their own size when None.

    Corruptions change the faces at the dataset's resolution, before the model's own resize, as a camera would.
    """
    parsed = parse_condition(condition)
    back = output_size or images.shape[1]
    if parsed is None:
        return images if output_size is None else _resized(images, output_size)
    if isinstance(parsed, Corruption):
        corrupted = corrupt(images, parsed.kind, parsed.value, seed=parsed.severity)
        return corrupted if output_size is None else _resized(corrupted, output_size)
    small = _resized(images, parsed.px, INTERPOLATIONS[parsed.down])
    return _resized(small, back, INTERPOLATIONS[parsed.up])


def _resized(images: np.ndarray, size: int, interpolation: int | None = None) -> np.ndarray:
    """A grey ``(N, H, W)`` stack (one OpenCV call) or a colour ``(N, H, W, 3)`` stack (image by image) at ``size``."""
    if images.ndim == 3:
        return resize_stack(images, size, interpolation)
    if images.shape[1:3] == (size, size):
        return images
    mode = interpolation if interpolation is not None else resize_interpolation(images.shape[1:3], size)
    return np.stack([cv2.resize(image, (size, size), interpolation=mode) for image in images])


def has_own_transform(clf) -> bool:
    """True when the model (or any member of an ensemble) converts images by its own transform rather than the
    project's 48 px grey one: it then gets the dataset's images as they are, in colour at their own size."""
    specs = [member.input_spec for member in getattr(clf, "members", None) or [clf]]
    return any(not spec.is_project_default for spec in specs)


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
        shown = apply_condition(images, condition, None if has_own_transform(clf) else clf.input_size)
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


def fused_answer(clf: AnyClassifier) -> str | None:
    """The name of the fused answer a classifier serves (its runs are stored beside the heads' runs), or None."""
    fusion = getattr(clf, "fusion", None)
    return None if fusion is None else fusion.name


def _software_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on, read from their metadata (nothing imported; absent ones left out)."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "opencv": cv2.__version__, "numpy": np.__version__}
    for name in ("torch", "timm", "transformers", "onnxruntime", "pillow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


class RunCollisionError(ValueError):
    """A new run would replace a stored run, or a card's test metrics, computed from other data."""


# What a run was computed from: a stored run is replaced only by a run of the same data (a re-evaluation).
RUN_SOURCE_KEYS = ("dataset", "layout", "split", "label_set", "num_samples")
# Readers of the same files: their runs are runs of one dataset.
SAME_LAYOUT = {"fer2013-csv": "fer2013"}


def _run_source(info: dict) -> dict:
    source = {key: info.get(key) for key in RUN_SOURCE_KEYS}
    layout = source["layout"] or source["dataset"]  # sidecars written before the layout was recorded
    source["layout"] = SAME_LAYOUT.get(layout, layout) if isinstance(layout, str) else layout
    return source


def _describe_source(source: dict) -> str:
    samples = source["num_samples"]
    count = f"{samples:,} samples" if isinstance(samples, int) else "? samples"
    return (
        f"dataset {source['dataset']!r} (layout {source['layout']}, split {source['split']}, "
        f"label set {source['label_set']}, {count})"
    )


def check_run_target(json_path: Path, new_run: dict, *, overwrite: bool = False) -> None:
    """Refuse to replace the stored run at ``json_path`` (and its parquet file) by a run of other data.

    ``new_run`` holds the new sidecar's :data:`RUN_SOURCE_KEYS`. Re-evaluating the same data (after retraining,
    or adding the resize grid) replaces the run; a run of another dataset, split, label set or size - an id
    collision such as an ImageFolder named ``fer2013`` - is a RunCollisionError naming both, unless ``overwrite``.
    """
    parquet_path = json_path.with_suffix(".parquet")
    if overwrite or not (json_path.exists() or parquet_path.exists()):
        return
    advice = "pass --overwrite to replace it, or --dataset-id to store the new run under another name"
    new = _describe_source(_run_source(new_run))
    try:
        stored = read_json_object(json_path)
    except ModelLoadError as error:
        raise RunCollisionError(
            f"{parquet_path} already exists and its sidecar cannot be read ({error}); the new run is of {new}; {advice}"
        ) from None
    if _run_source(stored) != _run_source(new_run):
        raise RunCollisionError(
            f"{parquet_path} holds a run of {_describe_source(_run_source(stored))}; the new run is of {new}; {advice}"
        )


def check_rows_storable(rows: pd.DataFrame) -> None:
    """A run needs samples, each at most once per condition (a reader listing a file twice is a bug to show)."""
    if rows.empty:
        raise ValueError("the run has no samples: nothing was evaluated, so nothing is stored")
    repeated = rows.duplicated(["sample_id", "condition"])
    if repeated.any():
        shown = ", ".join(map(str, rows.loc[repeated, "sample_id"].drop_duplicates().head(5)))
        raise ValueError(f"the run lists {int(repeated.sum())} samples twice under one condition (e.g. {shown})")


def _previous_rows(parquet_path: Path, weights_sha: str, sample_ids: pd.Series) -> tuple[pd.DataFrame, str] | None:
    """The rows of the run already at ``parquet_path`` when it scored the same weights on the same samples."""
    sidecar = parquet_path.with_suffix(".json")
    if not parquet_path.is_file() or not sidecar.is_file():
        return None
    try:
        previous = load_run(parquet_path)
    except (RunFormatError, OSError):
        return None
    if previous.info.get("weights_sha256") != weights_sha:
        return None
    same_samples = previous.rows.groupby("condition", observed=True)["sample_id"].apply(
        lambda ids: ids.astype(str).tolist() == sample_ids.astype(str).tolist()
    )
    if not bool(same_samples.all()):
        return None
    return previous.rows, str(previous.info.get("created_utc", "an earlier run"))


def keep_previous_conditions(
    rows: pd.DataFrame, parquet_path: Path, weights_sha: str
) -> tuple[pd.DataFrame, str | None]:
    """``rows`` plus the conditions of the stored run at ``parquet_path`` that ``rows`` does not have.

    Only when that run scored the same weights (hash) on the same samples in the same order: adding corruption
    conditions to a model's run then keeps its resize grid without evaluating it again. The second value names the
    run the kept conditions came from (its creation time), None when nothing was kept.
    """
    first = rows["condition"].astype(str) == rows["condition"].astype(str).iloc[0] if len(rows) else None
    found = _previous_rows(parquet_path, weights_sha, rows.loc[first, "sample_id"]) if first is not None else None
    if found is None:
        return rows, None
    previous, created = found
    new_conditions = [str(c) for c in rows["condition"].cat.categories]
    kept = previous[~previous["condition"].astype(str).isin(new_conditions)]
    if kept.empty:
        return rows, None
    order = list(dict.fromkeys([*map(str, previous["condition"].cat.categories), *new_conditions]))
    kept_conditions = set(kept["condition"].astype(str))
    order = [c for c in order if c in new_conditions or c in kept_conditions]
    merged = pd.concat([rows.astype({"condition": str}), kept.astype({"condition": str})], ignore_index=True)
    merged = merged[list(rows.columns)]
    merged["condition"] = pd.Categorical(merged["condition"], categories=order)
    return merged.sort_values("condition", kind="stable", ignore_index=True), created


def forget_runs_of_replaced_weights(model_dir: Path) -> list[str]:
    """Remove the folder's stored runs computed from weights it no longer has; their names.

    For whatever writes new weights (or new ensemble members) into a folder that may hold runs: they would go on
    being shown as this model's results. Lives here, not in the writers, because the hash needs a loaded model.
    """
    model_dir = Path(model_dir)
    removed = remove_runs_of_other_weights(model_dir, weights_sha256(model_dir))
    for ensemble_dir in _ensembles_containing(model_dir):
        removed += _forget_ensemble_runs(ensemble_dir, seen={model_dir.resolve()})
    return removed


def _ensembles_containing(model_dir: Path) -> list[Path]:
    """The ensemble folders beside ``model_dir`` that list it (any head) among their members."""
    found = []
    for sibling in sorted(p for p in model_dir.parent.iterdir() if p.is_dir() and p != model_dir):
        directory = ModelDir(sibling)
        try:
            card = directory.read_card() if directory.has_card() else None
        except ModelLoadError:
            continue
        if card is not None and card.is_ensemble and model_dir.name in {split_head(m)[0] for m in card.members or ()}:
            found.append(sibling)
    return found


def _forget_ensemble_runs(ensemble_dir: Path, seen: set[Path]) -> list[str]:
    """Runs of ``ensemble_dir`` (and of ensembles holding it) from members it no longer has; their names.

    An ensemble's hash covers its members' weights, so a member retrained in place leaves its runs stale. One that
    cannot be loaded any more keeps its runs: the leaderboard reports it broken, which says more than silence.
    """
    if ensemble_dir.resolve() in seen:
        return []
    seen.add(ensemble_dir.resolve())
    removed: list[str] = []
    if any((ensemble_dir / RUNS_DIR).glob("*.json")):
        try:
            removed += remove_runs_of_other_weights(ensemble_dir, weights_sha256(ensemble_dir))
        except (ModelLoadError, OSError) as err:
            log.warning("%s: runs kept, the ensemble does not load (%s)", ensemble_dir, err)
    for outer in _ensembles_containing(ensemble_dir):
        removed += _forget_ensemble_runs(outer, seen)
    return removed


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
    images: dict | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the parquet rows and the JSON sidecar into ``<model dir>/runs/``.

    ``scoring``: :meth:`SharedClasses.to_dict` when the dataset's classes differ from the model's; ``dropped``:
    images left out by label filters, per reason; ``layout``: the reader (``imagefolder`` ...) when the dataset id
    is another name; ``images_published``: the split's size in its release, to tell an incomplete copy; ``images``:
    how the dataset's images were read (colour, size). The sidecar records the model's preprocessing too. A stored
    run of other data is never replaced unless ``overwrite`` (:func:`check_run_target`); conditions of the run
    already there that this one did not evaluate are kept (:func:`keep_previous_conditions`).
    """
    check_rows_storable(rows)
    target = ModelDir(out_dir or clf.directory)
    weights_hash = weights_sha256(clf.directory)  # before any file is written: a model that cannot say leaves none
    parquet_path, json_path = target.run_paths(dataset, split, clf.tta, fused_answer(clf))
    check_run_target(
        json_path,
        {
            "dataset": dataset,
            "layout": layout or dataset,
            "split": split,
            "label_set": label_set,
            "num_samples": int(rows["sample_id"].nunique()),
        },
        overwrite=overwrite,
    )
    rows, kept_from = keep_previous_conditions(rows, parquet_path, weights_hash)
    info = RunInfo(
        model_id=run_model_id(clf),
        weights_sha256=weights_hash,
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
        probabilities=PROBABILITIES_NOTE,
        tta=clf.tta,
        backend=clf.backend,
        software=_software_versions(),
        machine={"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        throughput_samples_per_s=round(throughput, 1),
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        extra={"preprocessing": clf.input_spec.to_dict(), "images": images, "conditions_kept_from": kept_from},
    )
    return save_run(parquet_path, rows, info)
