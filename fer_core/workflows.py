"""End-to-end workflows behind the CLI: dataset -> train -> model directory; model + dataset -> stored run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_core.data import FaceArrays, load_split
from fer_core.evaluate import evaluate_classifier, resize_grid_conditions, write_run
from fer_core.recipes import Recipe, load_recipe
from fer_core.train import TrainResult, fit
from fer_core.zoo import load_model, save_model_dir

__all__ = ["evaluate_model", "predict_images", "train_from_recipe", "training_card", "update_card_metrics"]

SELECTION_SPLIT = {"fer2013": "PublicTest", "ferplus": "FER2013Valid"}
TRAIN_SPLIT = {"fer2013": "Training", "ferplus": "FER2013Train"}
LICENCES = {
    "fer2013": "FER2013 (Goodfellow et al. 2013, ICML 2013 challenge), research use",
    "ferplus": "FER+ labels (Microsoft, MIT licence) on FER2013 images, research use",
}


def train_from_recipe(
    recipe_name: str,
    *,
    dataset_root: Path,
    out_dir: Path,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    model_id: str | None = None,
    limit: int | None = None,
    pack: Path | None = None,
) -> Path:
    """Train on the train split, select on the validation split, save weights + card + history in ``out_dir``.

    ``pack`` (a file written by ``fer_core.data.pack``) replaces the dataset folders, e.g. on a remote GPU machine.
    """
    recipe = load_recipe(recipe_name).with_overrides(epochs=epochs, batch_size=batch_size)
    mode = "soft" if recipe.soft_targets else recipe.label_mode
    if pack is not None:
        from fer_core.data.pack import read_pack

        splits = read_pack(pack, label_mode=mode)
        train, val = splits["train"], splits["val"]
    else:
        train = load_split(recipe.dataset, dataset_root, "train", label_mode=mode, progress=True)
        val = load_split(recipe.dataset, dataset_root, "val", label_mode=recipe.label_mode, progress=True)
    if limit:
        train = train.subset(np.arange(min(limit, len(train))))
    result = fit(
        recipe,
        train.images,
        train.labels,
        val.images,
        val.labels,
        len(train.label_set),
        train_soft=train.soft_targets,
        device=device,
    )
    card = training_card(recipe, train, result, model_id or out_dir.name)
    save_model_dir(result.model, out_dir, card=card)
    result.write_history(out_dir / "history.csv")
    return out_dir


def training_card(recipe: Recipe, train: FaceArrays, result: TrainResult, model_id: str) -> dict:
    """The card of a freshly trained model: labels, input spec, data, selection split and the full recipe."""
    mode = "soft" if recipe.soft_targets else recipe.label_mode
    return {
        "id": model_id,
        "architecture": recipe.architecture,
        "arch_args": recipe.arch_args,
        "labels": list(train.label_set.names),
        "label_set": train.label_set.name,
        "input": result.input_spec.to_dict(),
        "training": {
            "dataset": recipe.dataset,
            "train_split": TRAIN_SPLIT.get(recipe.dataset, "train"),
            "train_samples": len(train),
            "label_mode": mode,
            "selection_split": SELECTION_SPLIT.get(recipe.dataset, "val"),
            "selection_metric": "accuracy",
            "epochs": recipe.epochs,
            "best_epoch": result.best_epoch,
            "best_val_accuracy": round(result.best_val_acc, 5),
            "seconds": round(result.seconds, 1),
            "device": result.device,
            "recipe": recipe.to_dict(),
        },
        "metrics": {},
        "license": LICENCES.get(recipe.dataset, "see dataset licence"),
        "provenance": f"trained from scratch: python -m fer_core train --recipe {recipe.name} (no pretrained weights)",
    }


def evaluate_model(
    model: str,
    *,
    dataset: str,
    dataset_root: Path,
    split: str = "test",
    label_mode: str = "majority",
    resize_grid: bool = False,
    tta: str = "none",
    backend: str = "torch",
    out_dir: Path | None = None,
) -> tuple[Path, dict]:
    """Evaluate a model on a split, write ``runs/<dataset>-<split>.parquet`` + sidecar, update the card."""
    clf = load_model(model, backend=backend, tta=tta)
    arrays = load_split(dataset, dataset_root, split, label_mode=label_mode, progress=True)
    label_set = arrays.label_set
    if tuple(label_set.names) != clf.labels:
        raise ValueError(
            f"model {clf.name} predicts {', '.join(clf.labels)} but {dataset} has {', '.join(label_set.names)}"
        )
    conditions = ["clean", *(resize_grid_conditions() if resize_grid else [])]
    metadata = arrays.metadata.drop(columns=["split"], errors="ignore")
    rows, throughput = evaluate_classifier(
        clf, arrays.images, arrays.labels, arrays.sample_ids, metadata, conditions=conditions
    )
    parquet_path, json_path = write_run(
        clf,
        rows,
        dataset=dataset,
        split=split,
        label_set=label_set.name,
        label_mode=label_mode,
        throughput=throughput,
        out_dir=out_dir,
    )
    if out_dir is None and split == "test" and tta == "none":
        update_card_metrics(clf.directory, rows, dataset=dataset, split=split, label_mode=label_mode)
    return parquet_path, json.loads(json_path.read_text())


def update_card_metrics(model_dir: Path, rows, *, dataset: str, split: str, label_mode: str) -> dict:
    """Write the headline metrics of the clean rows into the card (so the card always equals the run)."""
    from fer_core import metrics

    clean = metrics.condition_rows(rows, "clean")
    headline = {
        "dataset": dataset,
        "split": split,
        "label_mode": label_mode,
        "samples": len(clean),
        "accuracy": round(float(metrics.accuracy(clean)), 5),
        "balanced_accuracy": round(float(metrics.balanced_accuracy(clean)), 5),
        "macro_f1": round(float(metrics.macro_f1(clean)), 5),
        "run": f"runs/{dataset}-{split}.parquet",
    }
    card_path = Path(model_dir) / "card.json"
    card = json.loads(card_path.read_text())
    card.setdefault("metrics", {})["test"] = headline
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return headline


def predict_images(model: str, paths: Sequence[str], detector: str = "haar") -> list[dict]:
    """Detect and classify the faces of image files; one record per face (JSON-ready)."""
    import cv2

    from fer_core.detect import create_detector
    from fer_core.pipeline import FacePipeline, PipelineSettings

    clf = load_model(model)
    pipeline = FacePipeline(clf, create_detector(detector), PipelineSettings(smoothing=0.0))
    records = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            records.append({"image": str(path), "error": "unreadable image"})
            continue
        pipeline.reset()
        result = pipeline.process(image)
        for record in result.to_records():
            records.append({"image": str(path), **_jsonable(record)})
        if not result.faces:
            records.append({"image": str(path), "faces": 0})
    return records


def _jsonable(record: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
