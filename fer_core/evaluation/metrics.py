"""Metrics over stored-run rows: pure functions, numpy and pandas only.

Every function takes the rows of a stored run (``sample_id, condition, label, pred, p_<class>...`` plus metadata)
or a slice of them, and returns a number or a small table. Class names come from the ``p_<class>`` columns, so the
rows carry their own label set. Nothing filters by condition implicitly except ``leaderboard``,
``resize_robustness_table`` and ``accuracy_vs_size``; pass ``condition_rows(rows, "clean")`` to the others.

Conventions, chosen so that sparse subgroups never crash a page:
- an empty selection gives NaN, not an exception;
- precision of a class never predicted is 0 (as scikit-learn's ``zero_division=0``); recall of a class with no
  samples is NaN (undefined, shown blank), and so is its F1 unless the class was predicted (then 0);
- macro-F1 and balanced accuracy average over the classes that occur (in labels or predictions, resp. in labels),
  as scikit-learn does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fer_core.evaluation.conditions import CORRUPTIONS, Corruption, Resize, parse_condition
from fer_core.labels import PROB_PREFIX, labels_of_columns, prob_column

if TYPE_CHECKING:
    from fer_core.store.card import ModelCard
    from fer_core.store.runs import StoredRun

__all__ = [
    "CLEAN",
    "ECE_BINS",
    "UNKNOWN_GROUP",
    "accuracy",
    "accuracy_vs_severity",
    "accuracy_vs_size",
    "balanced_accuracy",
    "bootstrap_accuracy_ci",
    "bootstrap_balanced_accuracies",
    "bootstrap_scores_ci",
    "budget_note",
    "class_names",
    "classification_scores",
    "condition_rows",
    "confident_mistakes",
    "confusion_counts",
    "confusion_matrix",
    "corruption_summary",
    "corruption_table",
    "cross_dataset_table",
    "error_cell",
    "expected_calibration_error",
    "group_values",
    "leaderboard",
    "leaderboard_intervals",
    "macro_f1",
    "mcnemar_p",
    "mean_difference_interval",
    "metadata_columns",
    "paired_difference",
    "paired_macro_f1_difference",
    "paired_per_class",
    "paired_rows",
    "parse_resize_condition",
    "per_class_prf",
    "per_class_recall",
    "per_group_confusion",
    "prf_from_confusion",
    "reliability_table",
    "resize_robustness_table",
    "robustness_drop",
    "selection_score",
    "subgroup_accuracy_ci",
    "subgroup_gap_ci",
    "subgroup_gaps",
    "subgroup_table",
]

CLEAN = "clean"
# Guo et al. 2017 ("On Calibration of Modern Neural Networks", arXiv 1706.04599) report ECE with 15 equal-width bins.
ECE_BINS = 15
# Label for rows whose metadata value is missing: shown as its own group, never dropped.
UNKNOWN_GROUP = "unknown"


def class_names(rows: pd.DataFrame) -> tuple[str, ...]:
    """Class names in label-id order, read from the ``p_<class>`` probability columns."""
    return tuple(labels_of_columns(rows.columns))


def _num_classes(rows: pd.DataFrame, labels: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(labels) if labels is not None else class_names(rows)
    if not names:
        raise ValueError("rows have no p_<class> columns; pass labels=... to name the classes")
    return names


def _correct(rows: pd.DataFrame) -> np.ndarray:
    return rows["label"].to_numpy(np.int64) == rows["pred"].to_numpy(np.int64)


def condition_rows(rows: pd.DataFrame, condition: str = CLEAN) -> pd.DataFrame:
    """The rows of one condition (``clean`` or ``resize:<px>:<down>><up>``), index reset."""
    # Comparing the column itself (categorical as written by evaluate, or str) avoids a string copy of every row.
    return rows[(rows["condition"] == condition).to_numpy(bool)].reset_index(drop=True)


def parse_resize_condition(condition: str) -> tuple[int, str] | None:
    """``(px, "down>up")`` of a resize condition, None for anything else (``clean`` and corruptions included)."""
    parsed = parse_condition(condition, strict=False)
    return (parsed.px, parsed.pair) if isinstance(parsed, Resize) else None


def accuracy(rows: pd.DataFrame) -> float:
    """Share of rows with ``pred == label``; NaN for no rows."""
    return float(_correct(rows).mean()) if len(rows) else float("nan")


def confusion_matrix(
    rows: pd.DataFrame, labels: Sequence[str] | None = None, *, normalize: bool = False
) -> pd.DataFrame:
    """Counts with true classes as rows and predicted classes as columns.

    ``normalize=True`` divides each row by its support, so a row reads as "where did this class go"; rows with no
    samples become NaN (blank in a heatmap) rather than a misleading zero.
    """
    names = _num_classes(rows, labels)
    k = len(names)
    index = rows["label"].to_numpy(np.int64) * k + rows["pred"].to_numpy(np.int64)
    counts = np.bincount(index, minlength=k * k).reshape(k, k)
    if normalize:
        support = counts.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            counts = np.where(support > 0, counts / np.maximum(support, 1), np.nan)
    frame = pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
    return frame


def prf_from_confusion(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support of a confusion matrix (true rows, predicted columns).

    The one implementation of the conventions in the module doc; every score in the project (checkpoint
    selection, logit adjustment, quantisation checks, the dashboard) comes from here.
    """
    counts = np.asarray(counts)
    true_positive = np.diag(counts).astype(float)
    support = counts.sum(1)
    predicted = counts.sum(0)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.full_like(true_positive, np.nan), where=support > 0)
    denominator = precision + np.nan_to_num(recall)
    f1 = np.divide(
        2 * precision * np.nan_to_num(recall), denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )
    f1 = np.where((support == 0) & (predicted == 0), np.nan, f1)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)}


def confusion_counts(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` counts of class ids, true rows and predicted columns; rows with ``label < 0`` are left out."""
    labels, preds = np.asarray(labels, np.int64), np.asarray(preds, np.int64)
    keep = labels >= 0
    index = labels[keep] * num_classes + preds[keep]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_scores(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy, macro-F1 and balanced accuracy of class-id arrays (rows with ``label < 0`` left out).

    Same numbers as :func:`accuracy`, :func:`macro_f1` and :func:`balanced_accuracy` on the equivalent run rows;
    NaN when no row has a label.
    """
    counts = confusion_counts(labels, preds, num_classes)
    if counts.sum() == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "balanced_accuracy": float("nan")}
    prf = prf_from_confusion(counts)
    return {
        "accuracy": float(np.trace(counts) / counts.sum()),
        "macro_f1": float(np.nanmean(prf["f1"])),
        "balanced_accuracy": float(np.nanmean(prf["recall"])),
    }


def per_class_recall(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> list[float]:
    """Recall of each class; NaN for a class without samples (undefined, as in :func:`per_class_prf`)."""
    return [float(r) for r in prf_from_confusion(confusion_counts(labels, preds, num_classes))["recall"]]


SELECTION_METRICS = ("accuracy", "macro_f1", "balanced_accuracy", "acc_f1")


def selection_score(scores: dict[str, float], metric: str) -> float:
    """The number checkpoint selection maximises; ``acc_f1`` is the mean of accuracy and macro-F1."""
    if metric == "acc_f1":
        return (scores["accuracy"] + scores["macro_f1"]) / 2
    return scores[metric]


def per_class_prf(rows: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (index: class names), with the conventions in the module doc."""
    prf = prf_from_confusion(confusion_matrix(rows, labels).to_numpy())
    return pd.DataFrame(prf, index=pd.Index(_num_classes(rows, labels), name="class"))


def balanced_accuracy(rows: pd.DataFrame, labels: Sequence[str] | None = None) -> float:
    """Mean recall over the classes that have samples; NaN for no rows."""
    if not len(rows):
        return float("nan")
    return float(np.nanmean(per_class_prf(rows, labels)["recall"].to_numpy()))


def macro_f1(rows: pd.DataFrame, labels: Sequence[str] | None = None) -> float:
    """Unweighted mean F1 over the classes that occur as labels or predictions; NaN for no rows."""
    if not len(rows):
        return float("nan")
    return float(np.nanmean(per_class_prf(rows, labels)["f1"].to_numpy()))


def expected_calibration_error(rows: pd.DataFrame, n_bins: int = ECE_BINS) -> float:
    """ECE: support-weighted gap between accuracy and mean confidence over equal-width bins of the max probability.

    Bins are right-closed, ``((i-1)/n_bins, i/n_bins]``, as in Guo et al. 2017; ``ECE_BINS`` (15) by default.
    """
    if not len(rows):
        return float("nan")
    probs = rows[[prob_column(name) for name in class_names(rows)]].to_numpy(np.float64)
    confidence = probs.max(1)
    correct = _correct(rows).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / count.sum())


_LEADERBOARD_COLUMNS = (
    "model",
    "dataset",
    "split",
    "n",
    "accuracy",
    "balanced accuracy",
    "macro-F1",
    "ECE",
    "params",
    "weights MB",
    "CPU latency ms",
    "MFLOPs",
    "train CPU-h",
    "images seen (M)",
    "selection split",
)


def _images_seen_millions(card: ModelCard) -> float | None:
    """Training budget as images seen: epochs x training images (the zoo's common budget), in millions."""
    epochs, samples = card.training_fact("epochs"), card.training_fact("train_samples")
    if not isinstance(epochs, int | float) or not isinstance(samples, int | float):
        return None
    return round(epochs * samples / 1e6, 3)


def leaderboard(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per stored run, clean condition only: headline metrics next to the model's size and speed."""
    records = []
    for run in runs:
        clean = condition_rows(run.rows, CLEAN)
        records.append(
            {
                "model": run.model_id,
                "dataset": run.dataset,
                "split": run.split,
                "n": len(clean),
                "accuracy": accuracy(clean),
                "balanced accuracy": balanced_accuracy(clean),
                "macro-F1": macro_f1(clean),
                "ECE": expected_calibration_error(clean),
                "params": run.card.params,
                "weights MB": run.card.weights_mb,
                "CPU latency ms": run.card.latency_of(run.info.tta)[0],
                "MFLOPs": run.card.mflops,
                "train CPU-h": run.card.training_fact("cpu_hours"),
                "images seen (M)": _images_seen_millions(run.card),
                "selection split": run.card.training_fact("selection_split"),
            }
        )
    board = pd.DataFrame.from_records(records, columns=list(_LEADERBOARD_COLUMNS))
    for column in ("params", "weights MB", "CPU latency ms", "MFLOPs", "train CPU-h", "images seen (M)"):
        board[column] = pd.to_numeric(board[column], errors="coerce")
    return board.sort_values("accuracy", ascending=False, ignore_index=True)


def _dataset_order(key: tuple[str, str]) -> tuple:
    """Columns of the cross-dataset table: each dataset's test split first, then its other splits."""
    dataset, split = key
    return (dataset, split != "test", split)


def cross_dataset_table(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """Every model's clean accuracy and macro-F1 on every dataset split it has a run for (blank: no run).

    One row per model (index ``model``), a ``trained on`` column from its card, then ``<dataset> <split>
    accuracy`` and ``<dataset> <split> macro-F1`` per dataset split. Each run is scored on its own classes (a
    run on a dataset with other classes holds only the shared ones).
    """
    cells: dict[str, dict[str, object]] = {}
    splits = sorted({(run.dataset, run.split) for run in runs}, key=_dataset_order)
    for run in runs:
        clean = condition_rows(run.rows, CLEAN)
        row = cells.setdefault(run.model_id, {"trained on": run.card.training_fact("dataset")})
        row[f"{run.dataset} {run.split} accuracy"] = accuracy(clean)
        row[f"{run.dataset} {run.split} macro-F1"] = macro_f1(clean)
    columns = ["trained on", *(f"{d} {s} {m}" for d, s in splits for m in ("accuracy", "macro-F1"))]
    table = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns).sort_index()
    table.index.name = "model"
    return table


def _accuracy_by_condition(rows: pd.DataFrame) -> pd.Series:
    correct = pd.Series(_correct(rows), index=rows.index)
    by_condition = correct.groupby(rows["condition"], sort=False, observed=True).mean()
    by_condition.index = by_condition.index.astype(str)
    return by_condition


def resize_robustness_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per interpolation pair ``down>up`` (rows) and target size in px (columns, descending).

    A first column ``clean`` repeats the clean accuracy on every row as the reference (NaN when the run has no
    clean condition). Pairs keep the order the run lists them in.
    """
    by_condition = _accuracy_by_condition(rows)
    cells = []
    for condition, value in by_condition.items():
        parsed = parse_resize_condition(condition)
        if parsed is not None:
            cells.append({"pair": parsed[1], "size": parsed[0], "accuracy": value})
    if not cells:
        return pd.DataFrame(columns=[CLEAN], index=pd.Index([], name="pair"), dtype=float)
    long = pd.DataFrame(cells)
    table = long.pivot(index="pair", columns="size", values="accuracy")
    table = table.reindex(index=list(dict.fromkeys(long["pair"])), columns=sorted(table.columns, reverse=True))
    table.insert(0, CLEAN, by_condition.get(CLEAN, np.nan))
    table.columns.name = "size px"
    return table


def robustness_drop(table: pd.DataFrame) -> pd.DataFrame:
    """Each size column of a ``resize_robustness_table`` minus the clean reference (negative = accuracy lost)."""
    sizes = [c for c in table.columns if c != CLEAN]
    return table[sizes].sub(table[CLEAN], axis=0)


def accuracy_vs_size(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """Long table for curves across models: model, dataset, split, pair, size, accuracy, clean accuracy."""
    frames = []
    for run in runs:
        table = resize_robustness_table(run.rows)
        if table.shape[1] < 2:
            continue
        long = table.drop(columns=CLEAN).rename_axis(columns="size").stack().rename("accuracy").reset_index()
        long = long.merge(table[CLEAN].rename("clean accuracy"), left_on="pair", right_index=True)
        long.insert(0, "split", run.split)
        long.insert(0, "dataset", run.dataset)
        long.insert(0, "model", run.model_id)
        frames.append(long)
    columns = ["model", "dataset", "split", "pair", "size", "accuracy", "clean accuracy"]
    if not frames:
        return pd.DataFrame(columns=columns)
    long = pd.concat(frames, ignore_index=True)[columns]
    long["size"] = long["size"].astype(int)
    return long


def group_values(rows: pd.DataFrame, column: str) -> pd.Series:
    """The metadata column as strings, with missing values (NaN, None, empty) named ``UNKNOWN_GROUP``."""
    if column not in rows.columns:
        raise KeyError(f"no metadata column {column!r}; available: {', '.join(map(str, rows.columns)) or 'none'}")
    values = rows[column]
    text = values.astype(object).where(values.notna(), UNKNOWN_GROUP).astype(str).str.strip()
    return text.mask(text.isin(["", "nan", "None", "<NA>"]), UNKNOWN_GROUP)


def metadata_columns(rows: pd.DataFrame, max_groups: int = 20) -> list[str]:
    """Columns riding along with a run that can split it into groups (at most ``max_groups`` distinct values)."""
    core = {"sample_id", "condition", "label", "pred"}
    return [
        str(c)
        for c in rows.columns
        if c not in core and not str(c).startswith(PROB_PREFIX) and rows[c].nunique(dropna=False) <= max_groups
    ]


def _ordered_groups(groups: pd.Series) -> list[str]:
    """Known groups alphabetically, then the ones that are not really a group (unclear, unknown) last."""
    vague = {"unclear", UNKNOWN_GROUP}
    present = set(groups)
    return sorted(present - vague) + [g for g in ("unclear", UNKNOWN_GROUP) if g in present]


def subgroup_table(rows: pd.DataFrame, column: str = "age_group", labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Per metadata group: n, accuracy, macro-F1 and recall of every class (``recall <class>``).

    Missing values form the ``unknown`` group, and ``unclear`` stays a group of its own: nothing is dropped.
    """
    names = _num_classes(rows, labels)
    groups = group_values(rows, column)
    records = []
    for group in _ordered_groups(groups):
        part = rows[groups.to_numpy() == group]
        recall = per_class_prf(part, names)["recall"]
        record = {"group": group, "n": len(part), "accuracy": accuracy(part), "macro-F1": macro_f1(part, names)}
        record.update({f"recall {name}": value for name, value in recall.items()})
        records.append(record)
    columns = ["group", "n", "accuracy", "macro-F1", *(f"recall {name}" for name in names)]
    return pd.DataFrame.from_records(records, columns=columns).set_index("group")


def _bootstrap_accuracies(correct: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Accuracies of ``n_boot`` resamples with replacement of a 0/1 vector.

    The number of hits in a resample of n items drawn with replacement is exactly Binomial(n, hits/n), so drawing
    that count is the same bootstrap as indexing, in O(n_boot) instead of O(n_boot * n).
    """
    n = len(correct)
    return rng.binomial(n, correct.mean(), size=n_boot) / n


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def _group_correct(rows: pd.DataFrame, column: str, group: str) -> np.ndarray:
    return _correct(rows)[group_values(rows, column).to_numpy() == group]


def subgroup_gap_ci(
    rows: pd.DataFrame,
    column: str,
    group_a: str,
    group_b: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Accuracy of ``group_a`` minus ``group_b`` with a bootstrap percentile interval.

    Each group is resampled within itself (stratified bootstrap), so the group sizes stay as observed. All NaN when
    either group has no rows.
    """
    correct_a = _group_correct(rows, column, group_a)
    correct_b = _group_correct(rows, column, group_b)
    if not len(correct_a) or not len(correct_b):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    gaps = _bootstrap_accuracies(correct_a, n_boot, rng) - _bootstrap_accuracies(correct_b, n_boot, rng)
    lo, hi = _percentile_interval(gaps, confidence)
    return float(correct_a.mean() - correct_b.mean()), lo, hi


def bootstrap_accuracy_ci(
    rows: pd.DataFrame, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Accuracy with a bootstrap percentile interval: ``(accuracy, lo, hi)``; all NaN for no rows."""
    correct = _correct(rows)
    if not len(correct):
        return float("nan"), float("nan"), float("nan")
    lo, hi = _percentile_interval(_bootstrap_accuracies(correct, n_boot, np.random.default_rng(seed)), confidence)
    return float(correct.mean()), lo, hi


def subgroup_accuracy_ci(
    rows: pd.DataFrame, column: str = "age_group", n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """Per group: n, accuracy and its bootstrap interval (columns ``n, accuracy, lo, hi``), for error bars."""
    groups = group_values(rows, column)
    records = []
    for group in _ordered_groups(groups):
        part = rows[groups.to_numpy() == group]
        value, lo, hi = bootstrap_accuracy_ci(part, n_boot, seed, confidence)
        records.append({"group": group, "n": len(part), "accuracy": value, "lo": lo, "hi": hi})
    return pd.DataFrame.from_records(records, columns=["group", "n", "accuracy", "lo", "hi"]).set_index("group")


def per_group_confusion(
    rows: pd.DataFrame,
    column: str = "age_group",
    labels: Sequence[str] | None = None,
    *,
    normalize: bool = False,
) -> dict[str, pd.DataFrame]:
    """A confusion matrix per metadata group (missing values as ``unknown``), in the subgroup-table order."""
    names = _num_classes(rows, labels)
    groups = group_values(rows, column)
    return {
        group: confusion_matrix(rows[groups.to_numpy() == group], names, normalize=normalize)
        for group in _ordered_groups(groups)
    }


def budget_note(board: pd.DataFrame) -> str:
    """Which rows had the same training budget (images seen), read from the cards, never assumed."""
    seen = board.dropna(subset=["images seen (M)"])
    if seen.empty:
        return "No card here records its training budget."
    groups = seen.groupby("images seen (M)")["model"].apply(list).sort_index(ascending=False)
    if len(groups) == 1:
        return f"Every model with a recorded budget saw the same {groups.index[0]:.2f} M training images."
    parts = [f"{budget:.2f} M: {', '.join(models)}" for budget, models in groups.items()]
    return "Training budgets (images seen) differ: " + "; ".join(parts) + "."


# --- Differences with confidence: bootstrap intervals, paired comparisons, McNemar -------------------------------


def _resampled_confusions(
    labels: np.ndarray, preds: np.ndarray, k: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``(n_boot, k, k)`` confusion counts of ``n_boot`` resamples (with replacement) of the (label, pred) pairs."""
    cells = np.asarray(labels, np.int64) * k + np.asarray(preds, np.int64)
    picks = cells[rng.integers(0, len(cells), (n_boot, len(cells)))]
    offsets = (np.arange(n_boot) * k * k)[:, None]
    return np.bincount((picks + offsets).ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k)


def _macro_f1_of_confusions(confusions: np.ndarray) -> np.ndarray:
    """Macro-F1 of each confusion matrix in a stack, with the conventions of :func:`prf_from_confusion`."""
    tp = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    predicted, support = confusions.sum(1), confusions.sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
    return np.nanmean(f1, axis=1)


def bootstrap_balanced_accuracies(
    labels: np.ndarray, preds: np.ndarray, num_classes: int, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """Balanced accuracy of each of ``n_boot`` resamples (with replacement) of class-id arrays (``label < 0`` left
    out), with :func:`classification_scores`' convention: the mean recall over the classes a resample holds."""
    keep = np.asarray(labels) >= 0
    rng = np.random.default_rng(seed)
    confusions = _resampled_confusions(np.asarray(labels)[keep], np.asarray(preds)[keep], num_classes, n_boot, rng)
    hits = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    support = confusions.sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
    return np.nanmean(recall, axis=1)


def bootstrap_scores_ci(
    rows: pd.DataFrame, labels: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Accuracy and macro-F1, each ``(value, lo, hi)`` with a bootstrap percentile interval over the rows.

    Samples are resampled with replacement and both scores recomputed on each resample (Efron's percentile
    bootstrap); all NaN for no rows.
    """
    if not len(rows):
        nan = (float("nan"),) * 3
        return {"accuracy": nan, "macro-F1": nan}
    k = len(_num_classes(rows, labels))
    confusions = _resampled_confusions(rows["label"], rows["pred"], k, n_boot, np.random.default_rng(seed))
    accuracies = np.trace(confusions, axis1=1, axis2=2) / len(rows)
    return {
        "accuracy": (accuracy(rows), *_percentile_interval(accuracies, confidence)),
        "macro-F1": (macro_f1(rows, labels), *_percentile_interval(_macro_f1_of_confusions(confusions), confidence)),
    }


def leaderboard_intervals(runs: Sequence[StoredRun], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per run (index: model id) the 95 % bootstrap bounds of clean accuracy and macro-F1.

    Columns ``accuracy lo``, ``accuracy hi``, ``macro-F1 lo``, ``macro-F1 hi``.
    """
    records = {}
    for run in runs:
        scores = bootstrap_scores_ci(condition_rows(run.rows, CLEAN), run.labels, n_boot, seed)
        records[run.model_id] = {
            f"{name} {end}": scores[name][i] for name in scores for i, end in ((1, "lo"), (2, "hi"))
        }
    return pd.DataFrame.from_dict(records, orient="index")


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (A right and B wrong, and the reverse).

    Under the null both models are equally often right on the samples where they disagree, so ``only_a`` is
    Binomial(only_a + only_b, 1/2); the p-value is twice the smaller tail, capped at 1 (1 when they never disagree).
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    low = min(only_a, only_b)
    # log-space binomial tail: exact for any n without huge integers or a statistics package
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(low + 1)
    ]
    peak = max(log_terms)
    tail = math.exp(peak) * sum(math.exp(t - peak) for t in log_terms)
    return min(1.0, 2 * tail)


def paired_rows(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> pd.DataFrame:
    """Clean rows of two runs on the same samples joined by ``sample_id``: ``label, pred_a, pred_b``.

    ValueError when the runs disagree on a sample's label (they were not scored on the same data).
    """
    a = condition_rows(rows_a)[["sample_id", "label", "pred"]]
    b = condition_rows(rows_b)[["sample_id", "label", "pred"]]
    joined = a.merge(b, on="sample_id", suffixes=("_a", "_b"))
    if (joined["label_a"] != joined["label_b"]).any():
        raise ValueError("the two runs give different labels to the same sample ids; compare runs of one dataset split")
    return joined.rename(columns={"label_a": "label"}).drop(columns="label_b")


def mean_difference_interval(
    delta: np.ndarray, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-sample differences (paired: both sides resampled together).

    ``delta`` is A minus B per sample: 1/0/-1 for right-or-wrong, or a fraction when a sample's correctness is
    averaged over several conditions.
    """
    n = len(delta)
    picks = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    return _percentile_interval(np.asarray(delta, float)[picks].mean(1), confidence)


def paired_difference(
    paired: pd.DataFrame, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, float]:
    """Accuracy of A minus B on the same samples, its paired bootstrap interval, McNemar's test and the agreement.

    Keys: ``n``, ``accuracy a``, ``accuracy b``, ``difference``, ``lo``, ``hi``, ``only a right``, ``only b right``,
    ``p``, ``agreement`` (share of samples with the same prediction). NaN (and p 1) for no samples.
    """
    right_a = (paired["pred_a"] == paired["label"]).to_numpy()
    right_b = (paired["pred_b"] == paired["label"]).to_numpy()
    n = len(paired)
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    result = {"n": n, "only a right": only_a, "only b right": only_b, "p": mcnemar_p(only_a, only_b)}
    if not n:
        nan = float("nan")
        return {
            **result,
            "accuracy a": nan,
            "accuracy b": nan,
            "difference": nan,
            "lo": nan,
            "hi": nan,
            "agreement": nan,
        }
    delta = right_a.astype(float) - right_b
    lo, hi = mean_difference_interval(delta, n_boot, seed, confidence)
    agreement = float((paired["pred_a"] == paired["pred_b"]).mean())
    return {
        **result,
        "accuracy a": float(right_a.mean()),
        "accuracy b": float(right_b.mean()),
        "difference": float(delta.mean()),
        "lo": lo,
        "hi": hi,
        "agreement": agreement,
    }


def paired_macro_f1_difference(
    paired: pd.DataFrame, labels: Sequence[str], n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Macro-F1 of A minus B with a paired bootstrap interval (both models scored on the same resample)."""
    if not len(paired):
        return float("nan"), float("nan"), float("nan")
    k = len(labels)
    picks = np.random.default_rng(seed).integers(0, len(paired), (n_boot, len(paired)))
    offsets = (np.arange(n_boot) * k * k)[:, None]
    truth = paired["label"].to_numpy(np.int64)
    stacks = []
    for column in ("pred_a", "pred_b"):
        cells = (truth * k + paired[column].to_numpy(np.int64))[picks] + offsets
        stacks.append(np.bincount(cells.ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k))
    deltas = _macro_f1_of_confusions(stacks[0]) - _macro_f1_of_confusions(stacks[1])
    observed = [
        np.nanmean(prf_from_confusion(confusion_counts(truth, paired[c].to_numpy(np.int64), k))["f1"])
        for c in ("pred_a", "pred_b")
    ]
    lo, hi = _percentile_interval(deltas, confidence)
    return float(observed[0] - observed[1]), lo, hi


def paired_per_class(paired: pd.DataFrame, labels: Sequence[str], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per true class: n, recall of A and of B, their difference with a paired bootstrap interval, McNemar's p."""
    records = []
    for class_id, name in enumerate(labels):
        part = paired[paired["label"].to_numpy() == class_id]
        diff = paired_difference(part, n_boot, seed)
        records.append(
            {
                "class": name,
                "n": diff["n"],
                "recall a": diff["accuracy a"],
                "recall b": diff["accuracy b"],
                "difference": diff["difference"],
                "lo": diff["lo"],
                "hi": diff["hi"],
                "p": diff["p"],
            }
        )
    return pd.DataFrame.from_records(records).set_index("class")


# --- Errors, calibration and corruptions ------------------------------------------------------------------------


def _confidences(rows: pd.DataFrame) -> np.ndarray:
    probs = rows[[prob_column(name) for name in class_names(rows)]].to_numpy(np.float64)
    return probs.max(1) if probs.size else np.zeros(len(rows))


def error_cell(rows: pd.DataFrame, true_id: int, pred_id: int) -> pd.DataFrame:
    """The clean rows with label ``true_id`` predicted as ``pred_id``, most confident first (``confidence`` added)."""
    clean = condition_rows(rows)
    cell = clean[(clean["label"].to_numpy() == true_id) & (clean["pred"].to_numpy() == pred_id)].copy()
    cell["confidence"] = _confidences(cell)
    return cell.sort_values("confidence", ascending=False, kind="stable", ignore_index=True)


def confident_mistakes(rows: pd.DataFrame, limit: int = 24) -> pd.DataFrame:
    """The ``limit`` wrong clean predictions with the highest confidence, across every cell (``confidence`` added)."""
    clean = condition_rows(rows)
    wrong = clean[~_correct(clean)].copy()
    wrong["confidence"] = _confidences(wrong)
    return wrong.sort_values("confidence", ascending=False, kind="stable", ignore_index=True).head(limit)


def reliability_table(rows: pd.DataFrame, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Per confidence bin (the bins of :func:`expected_calibration_error`): n, mean confidence, accuracy.

    Only bins with samples are listed; ``lo`` and ``hi`` are the bin's edges. The support-weighted mean of
    ``|accuracy - confidence|`` over these rows is the ECE.
    """
    confidence = _confidences(rows)
    correct = _correct(rows).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
    edges = np.arange(n_bins + 1) / n_bins
    table = pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "n": count, "confidence": mean_conf, "accuracy": acc})
    return table[table["n"] > 0].reset_index(drop=True)


def corruption_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per corruption kind (rows, in the grammar's order) and severity (columns 1..3), plus ``clean``.

    Empty (no rows) when the run has no corruption conditions.
    """
    by_condition = _accuracy_by_condition(rows)
    cells = []
    for condition, value in by_condition.items():
        parsed = parse_condition(condition, strict=False)
        if isinstance(parsed, Corruption):
            cells.append({"corruption": parsed.kind, "severity": parsed.severity, "accuracy": value})
    if not cells:
        return pd.DataFrame(columns=[CLEAN], index=pd.Index([], name="corruption"), dtype=float)
    long = pd.DataFrame(cells)
    table = long.pivot(index="corruption", columns="severity", values="accuracy")
    order = [kind for kind in CORRUPTIONS if kind in table.index]
    table = table.reindex(index=order, columns=sorted(table.columns))
    table.insert(0, CLEAN, by_condition.get(CLEAN, np.nan))
    table.columns.name = "severity"
    return table


def corruption_summary(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per run with corruption conditions: clean accuracy, mean accuracy over every corruption condition,
    that mean relative to clean, the worst corruption kind (lowest mean over its severities), and each kind's mean.

    Sorted by mean corrupted accuracy, best first.
    """
    records = []
    for run in runs:
        table = corruption_table(run.rows)
        if table.shape[1] < 2:
            continue
        per_kind = table.drop(columns=CLEAN).mean(axis=1)
        corrupted = float(np.nanmean(table.drop(columns=CLEAN).to_numpy(dtype=float)))
        clean = float(table[CLEAN].iloc[0])
        record = {
            "model": run.model_id,
            "clean": clean,
            "mean corrupted": corrupted,
            "relative": corrupted / clean if clean else float("nan"),
            "worst": str(per_kind.idxmin()),
        }
        record.update(per_kind.to_dict())
        records.append(record)
    columns = ["model", "clean", "mean corrupted", "relative", "worst", *CORRUPTIONS]
    summary = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    summary = summary.dropna(axis=1, how="all") if records else summary
    return summary.sort_values("mean corrupted", ascending=False, ignore_index=True)


def accuracy_vs_severity(runs: Sequence[StoredRun], kind: str) -> pd.DataFrame:
    """Long table for curves: model, severity (0 = clean), accuracy under corruption ``kind``."""
    records = []
    for run in runs:
        table = corruption_table(run.rows)
        if kind not in table.index:
            continue
        row = table.loc[kind]
        records.append({"model": run.model_id, "severity": 0, "accuracy": float(row[CLEAN])})
        records.extend(
            {"model": run.model_id, "severity": int(s), "accuracy": float(row[s])} for s in table.columns if s != CLEAN
        )
    return pd.DataFrame.from_records(records, columns=["model", "severity", "accuracy"])


def subgroup_gaps(
    runs: Sequence[StoredRun], column: str, group_a: str, group_b: str, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Every run's clean accuracy gap ``group_a`` minus ``group_b`` with its stratified bootstrap interval.

    Columns ``model, n a, n b, gap, lo, hi``; runs without the column or either group are left out.
    """
    records = []
    for run in runs:
        clean = condition_rows(run.rows)
        if column not in clean.columns:
            continue
        groups = group_values(clean, column)
        n_a, n_b = int((groups == group_a).sum()), int((groups == group_b).sum())
        if not n_a or not n_b:
            continue
        gap, lo, hi = subgroup_gap_ci(clean, column, group_a, group_b, n_boot=n_boot, seed=seed)
        records.append({"model": run.model_id, "n a": n_a, "n b": n_b, "gap": gap, "lo": lo, "hi": hi})
    return pd.DataFrame.from_records(records, columns=["model", "n a", "n b", "gap", "lo", "hi"])
