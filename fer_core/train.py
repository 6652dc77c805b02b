"""One training loop for every architecture family.

The whole uint8 training set is held as one tensor on the training device and augmented there in batches
(fer_core.augment), which keeps a GPU busy on 48x48 faces and costs nothing extra on a CPU. The checkpoint kept is
the epoch with the best accuracy on the validation split (FER2013 PublicTest / FER+ Valid); the test split is never
looked at while training.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fer_core.augment import augment_batch, mix_batch, normalise
from fer_core.models import create_model
from fer_core.preprocess import InputSpec
from fer_core.recipes import Recipe

__all__ = ["TrainResult", "class_weights", "fit", "soft_cross_entropy", "train_targets"]

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class TrainResult:
    """The selected model (best validation epoch), its history and the facts the card records."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_acc: float
    input_spec: InputSpec
    seconds: float
    device: str
    extra: dict[str, Any] = field(default_factory=dict)

    def write_history(self, path: Path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
            writer.writeheader()
            writer.writerows(self.history)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against probability rows (soft labels, smoothed or mixed targets)."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def train_targets(labels: np.ndarray, soft: np.ndarray | None, num_classes: int, smoothing: float) -> np.ndarray:
    """Target rows: the vote distribution when given, else one-hot; then label smoothing."""
    targets = soft.astype(np.float32) if soft is not None else np.eye(num_classes, dtype=np.float32)[labels]
    return targets * (1 - smoothing) + smoothing / num_classes


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights normalised to mean 1 (FER2013's disgust class is ~1.5 % of the data)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = counts.sum() / (num_classes * np.maximum(counts, 1))
    return (weights / weights.mean()).astype(np.float32)


def _pick_device(device: str | None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # No weight decay on biases and norm parameters (standard practice for AdamW and SGD alike).
    decay = [p for p in model.parameters() if p.ndim > 1 and p.requires_grad]
    no_decay = [p for p in model.parameters() if p.ndim <= 1 and p.requires_grad]
    groups = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)
    return torch.optim.AdamW(groups, lr=recipe.lr)


def _cosine_lr(recipe: Recipe, step: int, total_steps: int, warmup_steps: int) -> float:
    if step < warmup_steps:
        return recipe.lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _epoch_order(labels: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """Sample order of one epoch; with ``oversample`` classes are drawn with equal probability."""
    if recipe.balancing != "oversample":
        return rng.permutation(len(labels))
    weights = 1.0 / np.bincount(labels)[labels]
    return rng.choice(len(labels), size=len(labels), replace=True, p=weights / weights.sum())


@torch.no_grad()
def _evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: InputSpec, batch: int):
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(images), batch):
        x = normalise(images[start : start + batch], spec.mean[0], spec.std[0], spec.channels)
        y = labels[start : start + batch]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    n = max(len(images), 1)
    return total_loss / n, correct / n


def fit(
    recipe: Recipe,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    num_classes: int,
    *,
    train_soft: np.ndarray | None = None,
    device: str | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``recipe.architecture`` from scratch; keep the epoch with the best validation accuracy."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    dev = _pick_device(device)
    generator = torch.Generator(device=dev).manual_seed(recipe.seed)
    spec = _input_spec(train_images, recipe)
    model = create_model(
        recipe.architecture,
        num_classes=num_classes,
        in_chans=recipe.channels,
        img_size=recipe.img_size,
        **recipe.arch_args,
    ).to(dev, memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU, neutral elsewhere
    x_train = _resized_tensor(train_images, recipe.img_size, dev)
    x_val = _resized_tensor(val_images, recipe.img_size, dev)
    y_val = torch.as_tensor(val_labels, dtype=torch.long, device=dev)
    soft = train_soft if recipe.soft_targets else None
    targets = torch.as_tensor(train_targets(train_labels, soft, num_classes, recipe.label_smoothing), device=dev)
    weights = None
    if recipe.balancing == "class_weights":
        weights = torch.as_tensor(class_weights(train_labels, num_classes), device=dev)
    optimizer = _make_optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(train_labels) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    plateau = None
    if recipe.schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=recipe.plateau_patience
        )
    history: list[dict[str, float]] = []
    best = {"acc": -1.0, "epoch": 0, "state": None}
    started = time.perf_counter()
    step = 0
    for epoch in range(1, recipe.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.as_tensor(_epoch_order(train_labels, recipe, rng), device=dev)
        sums = {"loss": 0.0, "correct": 0.0, "n": 0}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{recipe.epochs}", disable=not progress, leave=False)
        for i in bar:
            idx = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            if recipe.schedule == "cosine":
                lr = _cosine_lr(recipe, step, total_steps, recipe.warmup_epochs * steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            loss, correct = _train_step(model, optimizer, recipe, spec, x_train[idx], targets[idx], weights, generator)
            sums["loss"] += loss * len(idx)
            sums["correct"] += correct
            sums["n"] += len(idx)
            step += 1
            if i % 20 == 0:
                bar.set_postfix(loss=f"{loss:.3f}")
        val_loss, val_acc = _evaluate(model, x_val, y_val, spec, 512)
        if plateau is not None:
            plateau.step(val_acc)
        row = {
            "epoch": epoch,
            "train_loss": round(sums["loss"] / sums["n"], 5),
            "train_acc": round(sums["correct"] / sums["n"], 5),
            "val_loss": round(val_loss, 5),
            "val_acc": round(val_acc, 5),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - epoch_start, 2),
        }
        history.append(row)
        if val_acc > best["acc"]:
            best = {"acc": val_acc, "epoch": epoch, "state": _cpu_state(model)}
        if progress:
            tqdm.write(
                f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
                f"val loss {val_loss:.4f} acc {val_acc:.4f} | {row['seconds']:.1f}s"
            )
        if on_epoch is not None:
            on_epoch(row)
    model.load_state_dict(best["state"])
    model = model.cpu().eval()
    return TrainResult(
        model=model,
        history=history,
        best_epoch=int(best["epoch"]),
        best_val_acc=float(best["acc"]),
        input_spec=spec,
        seconds=time.perf_counter() - started,
        device=str(dev),
    )


def _train_step(model, optimizer, recipe, spec, images_u8, targets, weights, generator) -> tuple[float, float]:
    x = normalise(images_u8, spec.mean[0], spec.std[0], spec.channels)
    x = augment_batch(x, recipe.augment, generator)
    if recipe.mix_prob > 0 and torch.rand(1, generator=generator, device=x.device).item() < recipe.mix_prob:
        x, targets = mix_batch(
            x, targets, mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha, generator=generator
        )
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        logits = model(x)
    loss_rows = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if weights is not None:
        loss_rows = loss_rows * weights[targets.argmax(1)]
    loss = loss_rows.mean()
    aux = getattr(model, "auxiliary_loss", None)
    if aux is not None and recipe.aux_loss_weight > 0:
        loss = loss + recipe.aux_loss_weight * aux()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    correct = (logits.argmax(1) == targets.argmax(1)).sum().item()
    return loss.item(), correct


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _input_spec(train_images: np.ndarray, recipe: Recipe) -> InputSpec:
    """Normalisation statistics measured on the training images (grey, so one mean/std for every channel)."""
    sample = train_images[:: max(1, len(train_images) // 5000)].astype(np.float64) / 255.0
    mean, std = round(float(sample.mean()), 4), round(float(sample.std()), 4)
    return InputSpec(size=recipe.img_size, channels=recipe.channels, mean=(mean,), std=(std,))


def _resized_tensor(images: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    tensor = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.uint8)
    if tensor.shape[-1] != size:
        resized = F.interpolate(tensor[:, None].float(), size=(size, size), mode="bilinear", antialias=True)
        tensor = resized[:, 0].round().clamp(0, 255).to(torch.uint8)
    return tensor.to(device)
