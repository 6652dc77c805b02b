"""Synthetic model directories (card, history, stored runs) for the metrics, runs and dashboard tests.

The files follow the stored-run format of ``fer_core.evaluation.evaluate``; the values are random but seeded, and the
tests compare what the pages show against ``fer_core.evaluation.metrics`` computed on the very rows written here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.data.preprocess import InputSpec
from fer_core.labels import FER2013
from fer_core.store.card import ModelCard
from fer_core.store.model_dir import ModelDir

__all__ = [
    "AGE_GROUPS",
    "GRID_CONDITIONS",
    "synthetic_history",
    "synthetic_rows",
    "write_model_dir",
    "write_run_files",
]

# None stands for a sample whose age group was never annotated.
AGE_GROUPS = ("child", "adult", "adult", "unclear", None)
GRID_CONDITIONS = (
    "clean",
    *(f"resize:{px}:{pair}" for pair in ("cubic>cubic", "area>cubic") for px in (32, 16, 8)),
    *(f"{kind}:{severity}" for kind in ("blur", "eyes") for severity in (1, 2, 3)),
)


def _hit_rate(condition: str, skill: float) -> float:
    """Clean accuracy ``skill``, dropping as the resize target gets smaller or a corruption's severity grows (so
    tables have a visible trend)."""
    if condition == "clean":
        return skill
    kind, value = condition.split(":")[:2]
    if kind != "resize":
        return skill * (1 - 0.15 * int(value))
    px = int(value)
    return skill * (0.4 + 0.6 * px / 48)


def _probabilities(pred: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Rows summing to 1 whose argmax is ``pred``."""
    confidence = rng.uniform(0.35, 0.95, len(pred))
    probs = np.repeat(((1 - confidence) / (num_classes - 1))[:, None], num_classes, axis=1)
    probs[np.arange(len(pred)), pred] = confidence
    return probs.astype(np.float32)


def synthetic_rows(
    labels: Sequence[str] = FER2013.names,
    n: int = 60,
    conditions: Sequence[str] = GRID_CONDITIONS,
    *,
    skill: float = 0.7,
    seed: int = 0,
    truth_seed: int | None = None,
) -> pd.DataFrame:
    """Rows of a stored run: ``n`` samples under every condition, with an ``age_group`` metadata column.

    ``truth_seed`` draws the labels apart from the predictions, so models of one split share their labels.
    """
    rng = np.random.default_rng(seed)
    k = len(labels)
    truth = rng.integers(0, k, n)
    if truth_seed is not None:
        truth = np.random.default_rng(truth_seed).integers(0, k, n)
    frames = []
    for condition in conditions:
        hit = rng.random(n) < _hit_rate(condition, skill)
        pred = np.where(hit, truth, (truth + rng.integers(1, k, n)) % k)
        frame = pd.DataFrame(_probabilities(pred, k, rng), columns=[f"p_{name}" for name in labels])
        frame.insert(0, "pred", pred.astype(np.int16))
        frame.insert(0, "label", truth.astype(np.int16))
        frame.insert(0, "condition", condition)
        frame.insert(0, "sample_id", [f"s{i:04d}" for i in range(n)])
        frame["age_group"] = [AGE_GROUPS[i % len(AGE_GROUPS)] for i in range(n)]
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows["condition"] = pd.Categorical(rows["condition"], categories=list(conditions))
    return rows


def synthetic_history(epochs: int = 5) -> pd.DataFrame:
    """A plausible learning curve: losses falling, accuracies rising."""
    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame(
        {
            "epoch": epoch,
            "train_loss": 1.8 / epoch,
            "train_acc": 1 - 0.6 / epoch,
            "val_loss": 1.9 / epoch + 0.1,
            "val_acc": 0.9 - 0.5 / epoch,
            "lr": 1e-3 / epoch,
            "seconds": np.full(epochs, 2.0),
        }
    )


def write_run_files(
    model_dir: Path,
    rows: pd.DataFrame,
    *,
    dataset: str,
    split: str,
    labels: Sequence[str],
    label_set: str,
    info: Mapping[str, object] | None = None,
) -> Path:
    """Write ``runs/<dataset>-<split>.parquet`` and its sidecar (``info`` adds or replaces sidecar keys)."""
    runs_dir = model_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    parquet_path = runs_dir / f"{dataset}-{split}.parquet"
    rows.to_parquet(parquet_path, index=False)
    sidecar = {
        "model_id": model_dir.name,
        "weights_sha256": "0" * 64,
        "dataset": dataset,
        "split": split,
        "label_set": label_set,
        "labels": list(labels),
        "label_mode": "majority",
        "num_samples": int(rows["sample_id"].nunique()),
        "conditions": [str(c) for c in dict.fromkeys(rows["condition"].astype(str))],
        "tta": "none",
        "software": {},
        "machine": {},
        "throughput_samples_per_s": 1000.0,
        "created_utc": "2025-01-01T00:00:00+00:00",
        **(info or {}),
    }
    parquet_path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return parquet_path


def write_model_dir(
    root: Path,
    model_id: str,
    runs: Mapping[tuple[str, str], pd.DataFrame],
    *,
    labels: Sequence[str] = FER2013.names,
    label_set: str = "fer2013",
    params: int = 100_000,
    latency_ms: float | None = 1.5,
    history: bool = True,
) -> Path:
    """A model directory with card.json, optional history.csv and one stored run per ``(dataset, split)``."""
    model_dir = Path(root) / model_id
    model_dir.mkdir(parents=True, exist_ok=True)
    card = ModelCard(
        id=model_id,
        family="timm",
        architecture="cnn",
        arch_args={},
        labels=tuple(labels),
        label_set=label_set,
        input=InputSpec(size=48, channels=1, mean=(0.5,), std=(0.5,)),
        params=params,
        weights_mb=round(params * 2 / 1e6, 3),
        latency_ms_per_face=latency_ms,
        training={"dataset": label_set, "train_split": "train", "selection_split": "val", "epochs": 5},
        metrics={},
        license="MIT",
        provenance="synthetic test fixture",
    )
    ModelDir(model_dir).write_card(card)
    if history:
        synthetic_history().to_csv(model_dir / "history.csv", index=False)
    for (dataset, split), rows in runs.items():
        write_run_files(model_dir, rows, dataset=dataset, split=split, labels=labels, label_set=label_set)
    return model_dir
