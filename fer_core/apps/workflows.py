"""End-to-end workflows behind the CLI: dataset -> train -> model directory; model + dataset -> stored run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import settings
from fer_core.data import (
    COLOR_DATASETS,
    RUN_EXCLUDED_METADATA,
    default_dataset_id,
    load_split,
    published_size,
    restrict_to_label_set,
)
from fer_core.evaluation.evaluate import (
    RunCollisionError,
    check_run_target,
    corruption_conditions,
    evaluate_classifier,
    forget_runs_of_replaced_weights,
    fused_answer,
    has_own_transform,
    resize_grid_conditions,
    write_run,
)
from fer_core.labels import FER2013, FERPLUS, SharedClasses, label_set_of
from fer_core.serving.classifier import AnyClassifier, load_model, load_trained_model, refuse_ensemble, save_model_dir
from fer_core.store.card import HeadCard, ModelCard, TestMetrics
from fer_core.store.model_dir import Checkpoints, ModelDir, split_head
from fer_core.store.runs import RunInfo, read_run_info
from fer_core.training.loop import Head, HeadTargets, TrainResult, fit_heads
from fer_core.training.recipes import JOINT_DATASET, Recipe, check_model_size, load_recipe
from fer_core.training.state import check_state_dir
from fer_core.training.warm_start import load_warm_start

__all__ = [
    "balance_model",
    "evaluate_model",
    "iter_predictions",
    "matching_head",
    "predict_files",
    "quantize_model",
    "train_from_recipe",
    "training_card",
    "update_card_metrics",
]

DATASET_LABEL_SETS = {
    "fer2013": "fer2013",
    "fer2013-csv": "fer2013",
    "ferplus": "ferplus",
    "affectnet": "ferplus",
    "affectnet7": "fer2013",
    "rafdb": "fer2013",
}
SELECTION_SPLIT = {"fer2013": "PublicTest", "ferplus": "FER2013Valid", JOINT_DATASET: "PublicTest = FER2013Valid"}
TRAIN_SPLIT = {"fer2013": "Training", "ferplus": "FER2013Train", JOINT_DATASET: "Training = FER2013Train"}
LICENCES = {
    JOINT_DATASET: "FER2013 images and labels + FER+ labels (Microsoft, MIT licence), research use",
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
    state_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train on the train split, select on the validation split, save weights + card + history in ``out_dir``.

    ``pack`` (a file written by ``fer_core.data.pack``) replaces the dataset folders, e.g. on a remote GPU machine.
    A recipe on the joint dataset (``fer2013+ferplus``) reads ``dataset_root/fer2013`` and ``dataset_root/ferplus``
    and trains a FER2013-7 head and a FER+-8 head on one trunk. ``state_dir`` keeps per-epoch state; ``resume``
    continues from it.
    """
    recipe = load_recipe(recipe_name).with_overrides(epochs=epochs, batch_size=batch_size)
    check_state_dir(state_dir)  # before the data is read: a bad folder or a runaway network fails at once
    check_model_size(recipe)
    warm = load_warm_start(recipe) if recipe.init_from else None
    if recipe.dataset == JOINT_DATASET:
        train, val, facts = _joint_sets(Path(dataset_root), limit)
    else:
        train, val, facts = _single_sets(recipe, Path(dataset_root), pack, limit)
    teachers = None
    if recipe.teachers:
        from fer_core.training.distill import distill_run

        train, teachers = distill_run(
            train,
            recipe.teachers,
            recipe.distill_weight,
            state_dir=state_dir,
            resume=resume,
            cache_dir=data_cache_dir(),
        )
    if warm is not None:
        warm.check_outputs(sum(h.size for h in train.heads))
    result = fit_heads(
        recipe,
        train,
        val,
        device=device,
        state_dir=state_dir,
        resume=resume,
        progress=progress,
        initial_state=warm.state if warm else None,
    )
    if not result.is_main_process:  # under torchrun every rank trains; rank 0 alone writes the model directory
        return out_dir
    card = training_card(recipe, facts, result, model_id or out_dir.name, warm.facts if warm else None, teachers)
    save_model_dir(result.model, out_dir, card=card)
    result.write_history(ModelDir(out_dir).history_path)
    forget_runs_of_replaced_weights(out_dir)  # a model retrained into its own folder
    return out_dir


def _single_sets(recipe: Recipe, root: Path, pack: Path | None, limit: int | None):
    mode = "soft" if recipe.soft_targets else recipe.label_mode
    if pack is not None:
        from fer_core.data.pack import read_pack

        splits = read_pack(pack, label_mode=mode)
        train, val = splits["train"], splits["val"]
    else:
        train = load_split(recipe.dataset, root, "train", label_mode=mode, progress=True, cache_dir=data_cache_dir())
        val = load_split(recipe.dataset, root, "val", label_mode=recipe.label_mode, progress=True)
    if limit:
        train = train.subset(np.arange(min(limit, len(train))))
    head = Head(train.label_set.name, tuple(train.label_set.names))
    soft = train.soft_targets if recipe.soft_targets else None
    facts = {"train_samples": len(train), "label_mode": mode, "label_set": train.label_set}
    return (
        HeadTargets.single(train.images, train.labels, head, soft),
        HeadTargets.single(val.images, val.labels, head),
        facts,
    )


def _joint_sets(root: Path, limit: int | None):
    """FER2013 train/PublicTest with FER+ votes joined: a FER2013 head and a FER+ head (fer_core.data.joint)."""
    from fer_core.data.joint import load_joint_split

    cache = data_cache_dir()
    train = load_joint_split(root / "fer2013", root / "ferplus", "train", cache_dir=cache, progress=True)
    val = load_joint_split(root / "fer2013", root / "ferplus", "val", cache_dir=cache, progress=True)
    if limit:
        train = train.subset(np.arange(min(limit, len(train))))
    heads = (Head(FER2013.name, FER2013.names), Head(FERPLUS.name, FERPLUS.names, offset=len(FER2013)))
    facts = {
        "train_samples": len(train),
        "label_mode": "fer2013 labels + FER+ vote distribution (faces FER+ drops are masked)",
        "label_set": FERPLUS,
        "ferplus_targets": int(train.ferplus_mask.sum()),
    }

    def targets(split) -> np.ndarray:
        return np.concatenate([np.eye(len(FER2013), dtype=np.float32)[split.fer2013.labels], split.ferplus_targets], 1)

    return (
        HeadTargets(train.fer2013.images, targets(train), heads),
        HeadTargets(val.fer2013.images, targets(val), heads),
        facts,
    )


def data_cache_dir() -> Path:
    """Where decoded dataset splits are cached (``$FER_CACHE_DIR`` or ``~/.cache/fer-studio/data``)."""
    return settings.cache_dir()


def training_card(
    recipe: Recipe,
    facts: dict,
    result: TrainResult,
    model_id: str,
    warm_start: dict[str, Any] | None = None,
    teachers: dict[str, dict] | None = None,
) -> ModelCard:
    """The card of a freshly trained model: labels, heads, input spec, data, selection split and the full recipe.

    ``warm_start`` (the source's facts, fer_core.training.warm_start) is recorded as ``training.init_from``;
    ``teachers`` (fer_core.training.distill.teacher_facts) as ``training.teachers``.
    """
    label_set = facts["label_set"]
    provenance = f"trained from scratch: python -m fer_core train --recipe {recipe.name} (no pretrained weights)"
    if warm_start:
        provenance = (
            f"fine-tuned by python -m fer_core train --recipe {recipe.name} from {warm_start['model']} "
            f"(weights sha256 {str(warm_start['weights_sha256'])[:12]}), itself trained here from scratch"
        )
    card = ModelCard(
        id=model_id,
        architecture=recipe.architecture,
        arch_args=recipe.arch_args,
        labels=tuple(label_set.names),
        label_set=label_set.name,
        input=result.input_spec,
        training={
            "dataset": recipe.dataset,
            "train_split": TRAIN_SPLIT.get(recipe.dataset, "train"),
            "train_samples": facts["train_samples"],
            "label_mode": facts["label_mode"],
            "selection_split": SELECTION_SPLIT.get(recipe.dataset, "val"),
            "selection_metric": recipe.selection_metric,
            "epochs": recipe.epochs,
            "best_epoch": result.best_epoch,
            "best_val_accuracy": round(result.best_val_acc, 5),
            "best_val": result.best_val,
            "seconds": round(result.seconds, 1),
            **training_cost(result),
            "device": result.device,
            **result.extra,
            **({"init_from": warm_start} if warm_start else {}),
            **({"teachers": teachers} if teachers else {}),
            "recipe": recipe.to_dict(),
        },
        metrics={},
        license=LICENCES.get(recipe.dataset, "see dataset licence"),
        provenance=provenance,
    )
    if len(result.heads) > 1:
        card.heads = {h.name: HeadCard.from_dict(h.to_dict()) for h in result.heads}
        card.default_head = label_set.name
        card.num_outputs = sum(h.size for h in result.heads)
    return card


def training_cost(result: TrainResult) -> dict[str, Any]:
    """The card's ``cpu_hours`` (None on a GPU) and how it was measured.

    Process CPU time summed over the epochs (times the processes of a distributed run) when every epoch recorded
    it; otherwise, for runs from before it was recorded, wall seconds x threads x processes, which counts the time
    a busy machine kept the run waiting.
    """
    if result.device != "cpu":
        return {"cpu_hours": None}
    import torch
    import torch.distributed as dist

    processes = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    cpu_seconds = [row.get("cpu_seconds") for row in result.history]
    counted = [float(value) for value in cpu_seconds if isinstance(value, int | float)]
    if cpu_seconds and len(counted) == len(cpu_seconds):
        return {"cpu_hours": round(sum(counted) * processes / 3600, 5), "cpu_hours_from": "process CPU time"}
    wall = result.seconds * torch.get_num_threads() * processes / 3600
    return {"cpu_hours": round(wall, 5), "cpu_hours_from": "wall seconds x threads"}


def _corruption_conditions(corruptions: bool | Sequence[str]) -> list[str]:
    """The corruption conditions asked for: none (False), every kind (True), or the kinds named."""
    if isinstance(corruptions, bool):
        return corruption_conditions() if corruptions else []
    return corruption_conditions(kinds=tuple(corruptions))


def evaluate_model(
    model: str,
    *,
    dataset: str,
    dataset_root: Path,
    split: str = "test",
    label_mode: str = "majority",
    resize_grid: bool = False,
    corruptions: bool | Sequence[str] = False,
    tta: str = "none",
    backend: str | None = None,
    out_dir: Path | None = None,
    label_set: str | None = None,
    dataset_id: str | None = None,
    overwrite: bool = False,
) -> tuple[Path, RunInfo]:
    """Evaluate a model on a split, write ``runs/<dataset id>-<split>.parquet`` + sidecar, update the card.

    ``dataset`` is any of :data:`fer_core.data.DATASETS`; one whose classes differ from the model's is scored on
    the classes both have (:class:`fer_core.labels.SharedClasses`). ``label_set`` names an ImageFolder's classes
    (default: the model's); ``dataset_id`` is the name the run is stored and shown under (default: the dataset,
    an ImageFolder's folder name). The card's test metrics come only from a dataset the model was trained on, read
    with that dataset's own reader. A stored run or card metrics of other data (another dataset, split or size)
    are replaced only with ``overwrite``; the check runs before the evaluation, so a refusal costs nothing.
    ``backend`` None: torch, or ONNX Runtime for a model that has only an ONNX file. A model with its own transform
    (colour, its own size) reads a colour dataset in colour at the dataset's own resolution; FER2013 and FER+ are
    48 px grey as published. ``corruptions``: True for every corruption kind, or the kinds to add.
    """
    if label_set is not None and dataset != "imagefolder":
        raise ValueError(f"--label-set names an ImageFolder's classes; the {dataset} layout has its own ({dataset})")
    corrupted = _corruption_conditions(corruptions)  # a kind misspelt is refused before any data is read
    if Path(split_head(model)[0]).is_file():
        raise ValueError(
            f"{model}: a stored run needs a model directory; make one first: python -m fer_core import-model {model}"
        )
    clf = load_model(model, backend=backend or "torch", tta=tta, head=matching_head(model, dataset, label_set))
    model_classes = label_set_of(clf.labels, clf.name)
    own_transform = has_own_transform(clf)
    arrays = load_split(
        dataset,
        dataset_root,
        split,
        label_mode=label_mode,
        label_set=label_set or model_classes,
        progress=True,
        image_size=None if own_transform and dataset in COLOR_DATASETS else 48,
        color=own_transform,
    )
    classes = SharedClasses(arrays.label_set, model_classes)
    scored = restrict_to_label_set(arrays, classes.label_set)
    run_dataset = dataset_id or default_dataset_id(dataset, dataset_root)
    run_split = scored.split or split
    planned = {
        "dataset": run_dataset,
        "layout": dataset,
        "split": run_split,
        "label_set": classes.label_set.name,
        "num_samples": len(scored),
    }
    target = ModelDir(out_dir or clf.directory)
    check_run_target(
        target.run_paths(run_dataset, run_split, clf.tta, fused_answer(clf))[1], planned, overwrite=overwrite
    )
    home = out_dir is None and tta == "none" and split == "test" and is_home_run(clf, dataset, run_dataset, classes)
    if home and not overwrite:
        check_card_metrics(clf, planned)
    conditions = [
        "clean",
        *(resize_grid_conditions() if resize_grid else []),
        *corrupted,
    ]
    metadata = scored.metadata.drop(columns=list(RUN_EXCLUDED_METADATA), errors="ignore")
    rows, throughput = evaluate_classifier(
        clf, scored.images, scored.labels, scored.sample_ids, metadata, conditions=conditions, classes=classes
    )
    counts = dict(zip(arrays.label_set.names, arrays.class_counts().tolist(), strict=True))
    parquet_path, json_path = write_run(
        clf,
        rows,
        dataset=run_dataset,
        split=scored.split or split,
        label_set=classes.label_set.name,
        label_mode=label_mode,
        throughput=throughput,
        out_dir=out_dir,
        scoring=None if classes.is_identity else classes.to_dict(counts),
        dropped=scored.dropped,
        layout=dataset,
        images_published=published_size(dataset, split),
        images={"color": scored.images.ndim == 4, "size": list(scored.images.shape[1:3])},
        overwrite=overwrite,
    )
    if home:
        update_card_metrics(clf.directory, rows, dataset=run_dataset, split=split, label_mode=label_mode, head=clf.head)
    return parquet_path, read_run_info(json_path)


def is_home_run(clf: AnyClassifier, layout: str, run_dataset: str, classes: SharedClasses) -> bool:
    """True when a run may set the card's test metrics: the model's own training dataset, read by that dataset's
    reader under its own name, on the model's own classes (an ImageFolder named ``fer2013`` is not FER2013)."""
    own_reader = layout != "imagefolder" and default_dataset_id(layout, ".") == run_dataset
    real_head = fused_answer(clf) is None  # a fused answer's runs never set a head's card metrics
    return own_reader and real_head and clf.card.trained_on(run_dataset) and classes.is_identity


def check_card_metrics(clf: AnyClassifier, planned: dict) -> None:
    """Refuse to rewrite the card's test metrics (of the served head) with a run of another dataset, split or size."""
    card = clf.card
    entry = card.heads.get(clf.head) if clf.head and card.heads else card
    test = (getattr(entry, "metrics", None) or {}).get("test")
    if test is None or test.samples is None:
        return
    stored = (test.dataset, test.split, test.samples)
    new = (planned["dataset"], planned["split"], planned["num_samples"])
    if stored != new:
        raise RunCollisionError(
            f"{clf.directory / 'card.json'}: its test metrics come from {test.dataset} {test.split} "
            f"({test.samples:,} samples); the new run is of {new[0]} {new[1]} ({new[2]:,} samples); pass "
            "--overwrite to replace them, or --dataset-id to store the new run under another name"
        )


def matching_head(model: str, dataset: str, label_set: str | None = None) -> str | None:
    """The head of a multi-head model whose label set is the dataset's, or ``label_set`` (an ImageFolder's);
    None: the model's own default head. A ``name@head`` model keeps its head."""
    name, head = split_head(model)
    if head is not None:
        return head
    directory = Checkpoints.at().resolve(name)
    heads = directory.read_card().head_names() if directory.has_card() else []
    wanted = label_set or DATASET_LABEL_SETS.get(dataset)
    return wanted if wanted in heads else None


def balance_model(model: str, *, data_root: Path, metric: str = "acc_f1") -> dict[str, dict]:
    """Choose each head's post-hoc logit adjustment on its validation split and store it in the card.

    The class prior is the training split's label distribution (mean vote distribution for FER+). Returns the
    card entries written, per head (label set).
    """
    from fer_core.data.preprocess import prepare_batch
    from fer_core.evaluation.balance import choose_logit_bias

    refuse_ensemble(model, "balance")
    directory = Checkpoints.at().resolve(split_head(model)[0])
    card = directory.read_card()
    heads = card.head_names() or [str(card.label_set)]
    written = {}
    for head in heads:
        clf = load_trained_model(directory.path, action="balance", backend="torch", head=head if card.heads else None)
        clf.logit_bias = None
        val = load_split(head, data_root / head, "val", cache_dir=data_cache_dir())
        logits = clf.head_logits(prepare_batch(val.images, clf.input_spec))
        choice = choose_logit_bias(logits, val.labels, _train_prior(head, data_root), metric=metric)
        written[head] = {"logit_bias": [round(float(b), 5) for b in choice.bias], **choice.to_dict(clf.labels)}
    directory.update_card(lambda card: _store_balance(card, written))
    return written


def _train_prior(label_set: str, data_root: Path) -> np.ndarray:
    mode = "soft" if label_set == "ferplus" else "majority"
    train = load_split(label_set, data_root / label_set, "train", label_mode=mode, cache_dir=data_cache_dir())
    if train.soft_targets is not None:
        return train.soft_targets.mean(axis=0)
    return train.class_counts() / len(train)


def _store_balance(card: ModelCard, written: dict[str, dict]) -> None:
    """Each head's chosen logit bias and how it was chosen, in its head entry (or the card, for one head)."""
    for head, entry in written.items():
        target = card.heads[head] if card.heads else card
        target.logit_bias = tuple(entry["logit_bias"])
        target.balance = {k: v for k, v in entry.items() if k != "logit_bias"}


def quantize_model(model: str, *, data_root: Path, calibration_faces: int = 512, seed: int = 0) -> dict:
    """Int8-quantise a model's ONNX export, calibrated on training faces, checked on every head's validation split.

    A head is named after its label set, so each head is checked on that dataset's validation split.
    """
    from fer_core.serving.quantize import HeadCheck, quantize_int8

    refuse_ensemble(model, "quantize")
    name, _ = split_head(model)
    card = Checkpoints.at().read_card(name)
    dataset = card.training_fact("dataset") or card.label_set
    train_set = "fer2013" if dataset == JOINT_DATASET else str(dataset)
    heads = list(card.heads) if card.heads else [None]
    checks = []
    for head in heads:
        val_set = str(head or card.label_set)
        val = load_split(val_set, data_root / val_set, "val", cache_dir=data_cache_dir())
        checks.append(HeadCheck(head, val.images, val.labels))
    train = load_split(train_set, data_root / train_set, "train", cache_dir=data_cache_dir())
    picked = np.random.default_rng(seed).choice(len(train), size=min(calibration_faces, len(train)), replace=False)
    return quantize_int8(name, train.images[np.sort(picked)], checks)


def update_card_metrics(
    model_dir: Path, rows, *, dataset: str, split: str, label_mode: str, head: str | None = None
) -> dict:
    """Write the headline metrics of the clean rows into the card (so the card always equals the run).

    A multi-head model keeps each head's metrics in its ``heads`` entry; the default head's are also the card's.
    """
    from fer_core.evaluation import metrics

    clean = metrics.condition_rows(rows, "clean")
    headline = TestMetrics(
        dataset=dataset,
        split=split,
        label_mode=label_mode,
        samples=len(clean),
        accuracy=round(float(metrics.accuracy(clean)), 5),
        balanced_accuracy=round(float(metrics.balanced_accuracy(clean)), 5),
        macro_f1=round(float(metrics.macro_f1(clean)), 5),
        run=ModelDir.run_reference(dataset, split),
    )

    def record(card: ModelCard) -> None:
        if head is not None and card.heads is not None:
            entry = card.heads[head]
            entry.metrics = {**(entry.metrics or {}), "test": headline}
        if head is None or head == card.default_head:
            card.metrics = {**(card.metrics or {}), "test": headline}

    ModelDir(model_dir).update_card(record)
    return headline.to_dict()


def iter_predictions(model: str, paths: Sequence[str], detector: str = "haar") -> Iterator[list[dict]]:
    """Detect and classify the faces of image and video files exactly as the Image and Video pages do, one file
    at a time: the records of each file are yielded as soon as that file is done.

    Photos go through ``fer_core.apps.photo`` (one face-table row per face, boxes in the pixels of the upright
    original; an image without a face gets one record saying why it may be), clips (by extension) through
    ``fer_core.apps.video`` (the Video page's timeline rows). A file that fails - unreadable, not a regular file,
    too large, or any error inside the pipeline - gives one record with its ``error`` and the next file goes on.
    """
    from fer_core.apps.photo import photo_detector, predict_photo_files
    from fer_core.apps.video import is_video_name, predict_video_file, video_detector

    clf = load_model(model)
    for path in paths:
        video = is_video_name(str(path))
        try:
            if video:
                yield predict_video_file(clf, path, video_detector(detector))
            else:
                yield list(predict_photo_files(clf, [path], photo_detector(detector)))
        except Exception as error:  # one file's failure must not lose the other files' results
            yield [{"video" if video else "image": str(path), "error": f"{path}: {type(error).__name__}: {error}"}]


def predict_files(model: str, paths: Sequence[str], detector: str = "haar") -> list[dict]:
    """Every record of :func:`iter_predictions`, in file order."""
    return [record for records in iter_predictions(model, paths, detector) for record in records]


def choose_served_answer_for(model: str, *, data_root: Path, write: bool = False, split: str = "val") -> dict:
    """Score a two-head model's candidate answers on both validation splits; with ``write`` the card serves the
    winner (``default_head``, and a ``fusion`` entry when a fusion wins). See fer_core.evaluation.served_answer.

    ``split="test"`` scores the same candidates on the test splits, to report them; it never writes (the choice
    is made on validation only).
    """
    if write and split != "val":
        raise ValueError("the served answer is chosen on the validation splits only; --write needs split val")
    from fer_core.data.preprocess import prepare_batch
    from fer_core.evaluation.served_answer import ValidationSet, choose_served_answer

    directory = Checkpoints.at().resolve(split_head(model)[0])
    card = directory.read_card()
    heads = tuple(card.head_names())
    if len(heads) != 2:
        raise ValueError(f"{directory.path}: a served-answer choice needs a model with two heads, got {heads}")
    classifiers = {h: load_trained_model(directory.path, action="choosing a served answer", head=h) for h in heads}
    sets = []
    for dataset in heads:
        val = load_split(dataset, data_root / dataset, split, cache_dir=data_cache_dir())
        batch = prepare_batch(val.images, classifiers[heads[0]].input_spec)
        probs = {h: clf.predict_prepared(batch) for h, clf in classifiers.items()}
        labels = {h: clf.labels for h, clf in classifiers.items()}
        sets.append(ValidationSet(dataset, tuple(val.label_set.names), val.labels, probs, labels))
    answer_labels = max((clf.labels for clf in classifiers.values()), key=len)
    choice = choose_served_answer(sets, heads, answer_labels)
    if write:
        directory.update_card(lambda card: _serve(card, choice, answer_labels))
    return choice


def _serve(card: ModelCard, choice: dict, answer_labels: tuple[str, ...]) -> None:
    from fer_core.evaluation.served_answer import fusion_entry

    if len(choice["weights"]) == 1:
        card.default_head = next(iter(choice["weights"]))
        card.extra.pop("fusion", None)
        card.extra["served_answer"] = {
            key: choice[key] for key in ("rule", "best_answer", "standard_error", "candidates")
        }
        return
    card.extra.pop("served_answer", None)
    card.extra["fusion"] = fusion_entry(choice, answer_labels)
    card.default_head = card.extra["fusion"]["name"]
