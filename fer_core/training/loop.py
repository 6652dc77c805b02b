"""One training loop for every architecture family, with one or several label-set heads.

The whole uint8 training set is held as one tensor on the training device and augmented there in batches
(fer_core.training.augment), which keeps a GPU busy on 48x48 faces and costs nothing extra on a CPU. The checkpoint kept
is the epoch with the best score on the validation split (FER2013 PublicTest / FER+ Valid, by the recipe's
``selection_metric``); the test split is never looked at while training.

Several heads share one trunk as consecutive blocks of the model's outputs (a FER2013-7 block then a FER+-8 block
is exactly two linear heads on the same features). Each head's targets are probability rows; an all-zero row masks
the sample out of that head's loss (a face FER+ drops still trains the FER2013 head).

With a ``state_dir`` every epoch's full state is saved (fer_core.training.state) and ``resume=True`` continues from it
with the same result an uninterrupted run would give.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fer_core.data.preprocess import InputSpec, normalise, resize_stack
from fer_core.evaluation.metrics import classification_scores, selection_score
from fer_core.hardware import cpu_info, training_precision
from fer_core.models import create_model
from fer_core.training.augment import augment_batch, corrupt_batch, mix_batch
from fer_core.training.distributed import Distributed, from_environment
from fer_core.training.recipes import CORRUPTIONS, Recipe, check_model_size
from fer_core.training.state import TrainState, check_state_dir, load_state, save_state, write_status

__all__ = [
    "FitOptions",
    "Head",
    "HeadTargets",
    "TrainResult",
    "check_head_weights",
    "class_weights",
    "combine_head_losses",
    "fit",
    "fit_heads",
    "head_loss",
    "soft_cross_entropy",
    "train_targets",
]

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_score", "lr", "seconds")


@dataclass(frozen=True)
class Head:
    """One block of a model's outputs: the classes of one label set, at ``offset`` in the logits."""

    name: str
    labels: tuple[str, ...]
    offset: int = 0

    @property
    def size(self) -> int:
        return len(self.labels)

    @property
    def outputs(self) -> slice:
        return slice(self.offset, self.offset + self.size)

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "outputs": [self.offset, self.offset + self.size]}


@dataclass
class HeadTargets:
    """Images with probability-row targets per head, ``targets`` ``(N, sum of head sizes)``; zero rows = masked."""

    images: np.ndarray
    targets: np.ndarray
    heads: tuple[Head, ...]

    def __post_init__(self) -> None:
        width = sum(h.size for h in self.heads)
        if self.targets.shape != (len(self.images), width):
            raise ValueError(f"targets must be ({len(self.images)}, {width}), got {self.targets.shape}")

    def labels(self, head: Head) -> np.ndarray:
        """Majority class per sample for ``head``; -1 where the head has no target."""
        block = self.targets[:, head.outputs]
        return np.where(block.sum(axis=1) > 0, block.argmax(axis=1), -1)

    @classmethod
    def single(cls, images: np.ndarray, labels: np.ndarray, head: Head, soft: np.ndarray | None = None):
        """One head from class ids (or vote distributions when ``soft`` is given)."""
        rows = soft.astype(np.float32) if soft is not None else np.eye(head.size, dtype=np.float32)[labels]
        return cls(images, rows, (head,))


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
    heads: tuple[Head, ...] = ()
    best_val: dict[str, float] = field(default_factory=dict)
    is_main_process: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def write_history(self, path: Path) -> None:
        columns = list(dict.fromkeys([*HISTORY_COLUMNS, *(k for row in self.history for k in row)]))
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.history)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against probability rows (soft labels, smoothed or mixed targets)."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def head_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Soft cross-entropy of one head, averaged over the rows that have a target (row mass > 0).

    Rows are weighted by their mass, so a mixed pair where only one face has a target counts by its share.
    """
    rows = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if weights is not None:
        rows = rows * weights[targets.argmax(1)]
    return rows.sum() / targets.sum().clamp(min=1.0)


def train_targets(labels: np.ndarray, soft: np.ndarray | None, num_classes: int, smoothing: float) -> np.ndarray:
    """Target rows: the vote distribution when given, else one-hot; then label smoothing."""
    targets = soft.astype(np.float32) if soft is not None else np.eye(num_classes, dtype=np.float32)[labels]
    return _smooth(targets, smoothing)


def _smooth(targets: np.ndarray, smoothing: float) -> np.ndarray:
    """Label smoothing that keeps masked (all-zero) rows at zero."""
    mass = targets.sum(axis=1, keepdims=True)
    return (targets * (1 - smoothing) + mass * smoothing / targets.shape[1]).astype(np.float32)


def class_weights(labels: np.ndarray, num_classes: int, power: float = 1.0) -> np.ndarray:
    """Inverse-frequency weights to the ``power``, normalised to mean 1 (FER2013's disgust is ~1.5 % of the data).

    ``power=0.5`` (inverse square root) is the milder form: it lifts rare classes without letting a 1.5 % class
    weigh 17x a frequent one, which costs overall accuracy (Mahajan et al. 2018 use square-root resampling).
    """
    labels = labels[labels >= 0]
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = (counts.sum() / (num_classes * np.maximum(counts, 1))) ** power
    return (weights / weights.mean()).astype(np.float32)


BALANCING_POWER = {"class_weights": 1.0, "sqrt_class_weights": 0.5}


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
    """Sample order of one epoch; with ``oversample`` classes (of the first head) are drawn evenly."""
    if recipe.balancing != "oversample":
        return rng.permutation(len(labels))
    weights = 1.0 / np.bincount(labels)[labels]
    return rng.choice(len(labels), size=len(labels), replace=True, p=weights / weights.sum())


@dataclass
class _Run:
    """Everything one training run holds on the device while it trains."""

    recipe: Recipe
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    plateau: Any
    spec: InputSpec
    heads: tuple[Head, ...]
    x_train: torch.Tensor
    targets: torch.Tensor
    first_labels: np.ndarray
    weights: list[torch.Tensor | None]
    x_val: torch.Tensor
    val_labels: list[torch.Tensor]
    rng: np.random.Generator
    generator: torch.Generator
    steps_per_epoch: int
    dist: Distributed = field(default_factory=Distributed)
    trained: nn.Module | None = None  # what the train step calls: the model, or its DDP wrapper
    step: int = 0
    precision: str = "fp32"  # fp32 or bf16 (autocast), fer_core.hardware.training_precision
    ema: nn.Module | None = None  # the weights' exponential moving average, when the recipe asks for one

    @property
    def evaluated(self) -> nn.Module:
        """The network validation scores and checkpoint selection use: the EMA when there is one."""
        return self.ema if self.ema is not None else self.model


def _build_run(
    recipe: Recipe,
    train: HeadTargets,
    val: HeadTargets,
    dev: torch.device,
    dist: Distributed | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> _Run:
    dist = dist or Distributed()
    torch.manual_seed(recipe.seed)  # identical initial weights on every rank (DDP also broadcasts rank 0's)
    heads = train.heads
    model = create_model(
        recipe.architecture,
        num_classes=sum(h.size for h in heads),
        in_chans=recipe.channels,
        img_size=recipe.img_size,
        **recipe.arch_args,
    ).to(dev, memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stub lacks this form
    if initial_state is not None:  # a warm start (fer_core.training.warm_start): every tensor must fit
        model.load_state_dict(initial_state, strict=True)
    optimizer = _make_optimizer(model, recipe)
    plateau = None
    if recipe.schedule == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=recipe.plateau_patience
        )
    targets = np.concatenate([_smooth(train.targets[:, h.outputs], recipe.label_smoothing) for h in heads], axis=1)
    power = BALANCING_POWER.get(recipe.balancing)
    weights = [
        torch.as_tensor(class_weights(train.labels(h), h.size, power), device=dev) if power is not None else None
        for h in heads
    ]
    first = train.labels(heads[0])
    return _Run(
        recipe=recipe,
        device=dev,
        model=model,
        optimizer=optimizer,
        plateau=plateau,
        spec=_input_spec(train.images, recipe),
        heads=heads,
        x_train=_resized_tensor(train.images, recipe.img_size, dev),
        targets=torch.as_tensor(targets, device=dev),
        first_labels=np.where(first >= 0, first, 0),
        weights=weights,
        x_val=_resized_tensor(val.images, recipe.img_size, dev),
        val_labels=[torch.as_tensor(val.labels(h), dtype=torch.long, device=dev) for h in heads],
        rng=np.random.default_rng(recipe.seed),
        generator=torch.Generator(device=dev).manual_seed(recipe.seed + 1000 * dist.rank),
        steps_per_epoch=math.ceil(len(train.images) / recipe.batch_size),
        dist=dist,
        trained=dist.wrap(model, dev),
        precision=training_precision(recipe.precision, dev.type),
        ema=_ema_copy(model) if recipe.ema_decay > 0 else None,
    )


def _ema_copy(model: nn.Module) -> nn.Module:
    ema = copy.deepcopy(model)
    for param in ema.parameters():
        param.requires_grad_(False)
    return ema


@torch.no_grad()
def _update_ema(run: _Run) -> None:
    """ema <- d * ema + (1 - d) * weights; d ramps up over the first steps (early weights are poor averages)."""
    if run.ema is None:
        return
    decay = min(run.recipe.ema_decay, (1 + run.step) / (10 + run.step))
    ema_state, state = run.ema.state_dict(), run.model.state_dict()
    for key, value in ema_state.items():
        if value.dtype.is_floating_point:
            value.lerp_(state[key], 1 - decay)
        else:
            value.copy_(state[key])  # BatchNorm's batch counters


def train_one_epoch(run: _Run, epoch: int, progress: bool) -> dict[str, float]:
    """One pass over the training set; returns mean loss and first-head accuracy."""
    recipe, model = run.recipe, run.model
    model.train()
    order = torch.as_tensor(_epoch_order(run.first_labels, recipe, run.rng), device=run.device)
    total_steps = run.steps_per_epoch * recipe.epochs
    sums = {"loss": 0.0, "correct": 0.0, "n": 0.0}
    bar = tqdm(range(run.steps_per_epoch), desc=f"epoch {epoch}/{recipe.epochs}", disable=not progress, leave=False)
    for i in bar:
        idx = run.dist.shard(order[i * recipe.batch_size : (i + 1) * recipe.batch_size])
        if recipe.schedule == "cosine":
            lr = _cosine_lr(recipe, run.step, total_steps, recipe.warmup_epochs * run.steps_per_epoch)
            for group in run.optimizer.param_groups:
                group["lr"] = lr
        loss, correct, counted = _train_step(run, run.x_train[idx], run.targets[idx])
        sums["loss"] += loss * len(idx)
        sums["correct"] += correct
        sums["n"] += counted
        sums["rows"] = sums.get("rows", 0) + len(idx)
        run.step += 1
        if i % 20 == 0:
            bar.set_postfix(loss=f"{loss:.3f}")
    rows = max(sums.get("rows", 0), 1)
    return {"train_loss": sums["loss"] / rows, "train_acc": sums["correct"] / max(sums["n"], 1)}


def _train_step(run: _Run, images_u8: torch.Tensor, targets: torch.Tensor) -> tuple[float, float, float]:
    recipe, model = run.recipe, run.model
    x = _training_input(run, images_u8)
    x = augment_batch(x, recipe.augment, run.generator)
    if recipe.mix_prob > 0 and torch.rand(1, generator=run.generator, device=x.device).item() < recipe.mix_prob:
        x, targets = mix_batch(
            x, targets, mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha, generator=run.generator
        )
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"):
        logits = (run.trained or model)(x)
    pairs = zip(run.heads, run.weights, strict=True)
    losses = [head_loss(logits[:, h.outputs], targets[:, h.outputs], w) for h, w in pairs]
    loss = combine_head_losses(losses, run.heads, recipe.head_weights)
    aux = getattr(model, "auxiliary_loss", None)
    if aux is not None and recipe.aux_loss_weight > 0:
        loss = loss + recipe.aux_loss_weight * aux()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    run.optimizer.step()
    if run.ema is not None:
        _update_ema(run)
    first = run.heads[0].outputs
    has_target = targets[:, first].sum(1) > 0.5
    hits = (logits[:, first].argmax(1) == targets[:, first].argmax(1)) & has_target
    return loss.item(), hits.sum().item(), has_target.sum().item()


def _training_input(run: _Run, images_u8: torch.Tensor) -> torch.Tensor:
    """Normalised channels-last batch; with corruptions in the recipe they act on [0, 1] pixels first."""
    cfg, spec = run.recipe.augment, run.spec
    if not any(getattr(cfg, name) > 0 for name in CORRUPTIONS):
        return normalise(images_u8, spec).contiguous(memory_format=torch.channels_last)
    x01 = corrupt_batch(images_u8.unsqueeze(1).to(torch.float32) / 255.0, cfg, run.generator)
    x = normalise(torch.round(x01.squeeze(1) * 255.0).to(torch.uint8), spec)
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def evaluate_heads(run: _Run, batch: int = 512) -> dict[str, float]:
    """Validation loss and scores per head (``val_<metric>_<head>``), plus their means over heads."""
    model, spec = run.evaluated, run.spec
    model.eval()
    chunks = []
    for start in range(0, len(run.x_val), batch):
        x = normalise(run.x_val[start : start + batch], spec).contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"):
            chunks.append(model(x).float())
    logits = torch.cat(chunks) if chunks else torch.zeros(0, sum(h.size for h in run.heads))
    row: dict[str, float] = {}
    for head, labels in zip(run.heads, run.val_labels, strict=True):
        block, keep = logits[:, head.outputs], labels >= 0
        loss = F.cross_entropy(block[keep], labels[keep]).item() if keep.any() else 0.0
        scores = classification_scores(labels.cpu().numpy(), block.argmax(1).cpu().numpy(), head.size)
        row[f"val_loss_{head.name}"] = loss
        row.update({f"val_{k}_{head.name}": v for k, v in scores.items()})
        row[f"val_score_{head.name}"] = selection_score(scores, run.recipe.selection_metric)
    for key in ("loss", "accuracy", "score"):
        row[f"val_{key}"] = float(np.mean([row[f"val_{key}_{h.name}"] for h in run.heads]))
    return row


def recipe_fingerprint(recipe: Recipe, train: HeadTargets) -> str:
    """Identifies the recipe and training set a saved state belongs to (resume refuses a mismatch)."""
    data = f"|{train.images.shape}|{train.targets.sum():.3f}"
    text = json.dumps(recipe.to_dict(), sort_keys=True, default=str) + data
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rng_state(run: _Run) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "generator": run.generator.get_state(),
        "numpy": run.rng.bit_generator.state,
    }


def _restore(run: _Run, state: TrainState) -> None:
    run.model.load_state_dict(state.model)
    if run.ema is not None:
        if state.ema_model is None:
            raise ValueError("the saved state has no EMA weights, but the recipe averages them")
        run.ema.load_state_dict(state.ema_model)
    run.optimizer.load_state_dict(state.optimizer)
    if run.plateau is not None and state.plateau is not None:
        run.plateau.load_state_dict(state.plateau)
    torch.set_rng_state(state.rng["torch"])
    run.generator.set_state(state.rng["generator"])
    if run.dist.rank > 0:  # the state holds rank 0's augmentation stream; give the others their own again
        run.generator.manual_seed(run.recipe.seed + 1000 * run.dist.rank + state.epoch)
    run.rng.bit_generator.state = state.rng["numpy"]
    run.step = state.step


@dataclass
class _Progress:
    """Where a run stands between epochs: its history, the best epoch so far with its weights, seconds spent."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -1.0
    best_weights: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0

    def record(self, row: dict[str, float], model: nn.Module) -> None:
        """Add one epoch's row; its weights become the best when its validation score is the highest yet."""
        self.history.append(row)
        self.seconds += row["seconds"]
        if row["val_score"] > self.best_score:
            self.best_epoch, self.best_score, self.best_weights = int(row["epoch"]), row["val_score"], _cpu_state(model)


def combine_head_losses(
    losses: list[torch.Tensor], heads: tuple[Head, ...], head_weights: dict[str, float]
) -> torch.Tensor:
    """The training loss of a multi-head step: each head's loss times its recipe weight (1 when not named)."""
    loss = head_weights.get(heads[0].name, 1.0) * losses[0]
    for head, head_term in zip(heads[1:], losses[1:], strict=True):
        loss = loss + head_weights.get(head.name, 1.0) * head_term
    return loss


def check_head_weights(recipe: Recipe, heads: tuple[Head, ...]) -> None:
    """A weight for a head the run does not train is a typo that would silently train at weight 1: refuse it."""
    unknown = sorted(set(recipe.head_weights) - {head.name for head in heads})
    if unknown:
        known = ", ".join(head.name for head in heads)
        raise ValueError(
            f"recipe {recipe.name!r}: head_weights names heads this run does not train {unknown}; its heads: {known}"
        )


def fit_heads(
    recipe: Recipe,
    train: HeadTargets,
    val: HeadTargets,
    *,
    device: str | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    state_dir: Path | None = None,
    resume: bool = False,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``recipe.architecture`` with one block of outputs per head; keep the best val epoch.

    The network starts from random weights, or from ``initial_state`` (a warm start). The loop:
    :func:`train_one_epoch`, :func:`evaluate_heads`, keep the best, save the epoch's state.
    """
    check_state_dir(state_dir)
    check_head_weights(recipe, train.heads)
    check_model_size(recipe, sum(head.size for head in train.heads))
    dist = from_environment(torch.device(device) if device else None)
    dev = dist.device(device)
    run = _build_run(recipe, train, val, dev, dist, initial_state)
    progress = progress and dist.is_main  # every rank may read a state to resume; only rank 0 writes
    fingerprint = recipe_fingerprint(recipe, train)
    done = _start_or_resume(run, state_dir, fingerprint, progress) if resume else _Progress()
    for epoch in range(len(done.history) + 1, recipe.epochs + 1):
        row = _run_epoch(run, epoch, progress)
        check_finite_weights(run, f"after epoch {epoch}")
        done.record(row, run.evaluated)
        if progress:
            tqdm.write(_epoch_line(row))
        if state_dir is not None and dist.is_main:
            _save_epoch(state_dir, run, epoch, done, fingerprint)
        if on_epoch is not None:
            on_epoch(row)
    return _result(run, done, dist)


def _start_or_resume(run: _Run, state_dir: Path | None, fingerprint: str, progress: bool) -> _Progress:
    """The progress saved in ``state_dir`` with the run restored to it, or a fresh start when there is none."""
    state = _resumable_state(state_dir, fingerprint)
    if state is None:
        return _Progress()
    try:
        _restore(run, state)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:  # weights of another shape, odd RNG states
        raise ValueError(
            f"{state_dir}: training state does not fit this recipe's network ({type(err).__name__}: {err}); "
            "delete the folder to start over"
        ) from None
    check_finite_weights(run, f"in {state_dir}")
    if state.best_model is not None and not _all_finite(state.best_model.values()):
        raise NonFiniteWeightsError(f"{state_dir}: the saved best weights are not finite (NaN or infinity)")
    if progress:
        tqdm.write(f"resumed {run.recipe.name} after epoch {state.epoch}")
    return _Progress(list(state.history), state.best_epoch, state.best_score, state.best_model, state.seconds)


class NonFiniteWeightsError(ValueError):
    """Training produced (or a saved state holds) NaN or infinite weights: nothing is saved from it."""


def _all_finite(tensors) -> bool:
    return all(bool(torch.isfinite(tensor).all()) for tensor in tensors if tensor.is_floating_point())


def check_finite_weights(run: _Run, when: str) -> None:
    """Stop before a non-finite network is saved (a state, a best epoch or the model directory): the recipe's
    learning rate or data diverged, and a NaN model would answer every face with the same class."""
    networks = [run.model] + ([run.ema] if run.ema is not None else [])
    if not all(_all_finite(network.state_dict().values()) for network in networks):
        raise NonFiniteWeightsError(
            f"recipe {run.recipe.name!r}: the weights are not finite (NaN or infinity) {when}; nothing was saved "
            f"from it - lower the learning rate (lr {run.recipe.lr}) or check the data"
        )


def _run_epoch(run: _Run, epoch: int, progress: bool) -> dict[str, float]:
    """Train one epoch and validate: the history row (losses, scores, learning rate, wall and CPU seconds).

    ``cpu_seconds`` is this process's CPU time over all its threads, so it does not grow when other work on the
    machine slows the epoch down, as its wall ``seconds`` do.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    row = {"epoch": epoch, **train_one_epoch(run, epoch, progress), **evaluate_heads(run)}
    if run.plateau is not None:
        run.plateau.step(row["val_score"])
    row.update(
        lr=run.optimizer.param_groups[0]["lr"],
        seconds=round(time.perf_counter() - started, 2),
        cpu_seconds=round(time.process_time() - cpu_started, 2),
    )
    row = {k: (round(v, 5) if isinstance(v, float) and k not in ("lr",) else v) for k, v in row.items()}
    row["val_acc"] = row.pop("val_accuracy")
    return row


def _result(run: _Run, done: _Progress, dist: Distributed) -> TrainResult:
    """The best epoch's model (on the CPU, eval mode) and what the card records about the run."""
    if done.best_weights is None:
        raise RuntimeError("training ended before any epoch was evaluated")
    run.model.load_state_dict(done.best_weights)  # the EMA's weights when it was the evaluated network
    if not _all_finite(done.best_weights.values()):
        raise NonFiniteWeightsError(f"recipe {run.recipe.name!r}: the best epoch's weights are not finite")
    best_row = done.history[done.best_epoch - 1]
    return TrainResult(
        model=run.model.cpu().eval(),
        history=done.history,
        best_epoch=done.best_epoch,
        best_val_acc=float(best_row["val_acc"]),
        input_spec=run.spec,
        seconds=done.seconds,
        device=str(run.device),
        heads=run.heads,
        best_val={k: v for k, v in best_row.items() if k.startswith("val_")},
        is_main_process=dist.is_main,
        extra=_machine_facts(run),
    )


def _machine_facts(run: _Run) -> dict[str, Any]:
    """The precision the run trained in and, on a CPU, which CPU: bf16 speed and results depend on both."""
    facts: dict[str, Any] = {"precision": run.precision}
    info = cpu_info() if run.device.type == "cpu" else None
    if info is not None:
        facts["cpu"] = info.describe()
    return facts


def _resumable_state(state_dir: Path | None, fingerprint: str) -> TrainState | None:
    if state_dir is None:
        raise ValueError("resume needs a state_dir")
    state = load_state(state_dir)
    if state is not None and state.recipe_fingerprint != fingerprint:
        raise ValueError(
            f"{state_dir}: saved state belongs to another recipe or training set; use another --state-dir "
            "or delete this one to start over"
        )
    return state


def _save_epoch(state_dir: Path, run: _Run, epoch: int, done: _Progress, fingerprint: str) -> None:
    """Everything needed to resume after ``epoch`` (safetensors + JSON), and the status file."""
    plateau = run.plateau.state_dict() if run.plateau is not None else None
    save_state(
        state_dir,
        TrainState(
            epoch=epoch,
            step=run.step,
            model=_cpu_state(run.model),
            best_model=done.best_weights,
            ema_model=_cpu_state(run.ema) if run.ema is not None else None,
            optimizer=run.optimizer.state_dict(),
            rng=_rng_state(run),
            history=done.history,
            best_epoch=done.best_epoch,
            best_score=done.best_score,
            plateau=plateau,
            recipe_fingerprint=fingerprint,
            seconds=done.seconds,
        ),
    )
    write_status(
        state_dir,
        recipe=run.recipe.name,
        epoch=epoch,
        epochs=run.recipe.epochs,
        best_epoch=done.best_epoch,
        best_score=done.best_score,
        last=done.history[-1],
        seconds=done.seconds,
        done=epoch == run.recipe.epochs,
        epoch_seconds=[row["seconds"] for row in done.history if "seconds" in row],
    )


def _epoch_line(row: dict[str, float]) -> str:
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
        f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f} score {row['val_score']:.4f} | "
        f"{row['seconds']:.1f}s"
    )


class FitOptions(TypedDict, total=False):
    """The keyword options of :func:`fit_heads` that :func:`fit` passes on."""

    device: str | None
    progress: bool
    on_epoch: Callable[[dict[str, float]], None] | None
    state_dir: Path | None
    resume: bool


def fit(
    recipe: Recipe,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    num_classes: int,
    *,
    train_soft: np.ndarray | None = None,
    label_names: tuple[str, ...] | None = None,
    head_name: str = "main",
    **options: Unpack[FitOptions],
) -> TrainResult:
    """Single-head training from class ids (and FER+ vote rows when the recipe trains on soft targets);
    ``options`` go to :func:`fit_heads` as they are."""
    head = Head(head_name, label_names or tuple(str(i) for i in range(num_classes)))
    soft = train_soft if recipe.soft_targets else None
    train = HeadTargets.single(train_images, train_labels, head, soft)
    val = HeadTargets.single(val_images, val_labels, head)
    return fit_heads(recipe, train, val, **options)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _input_spec(train_images: np.ndarray, recipe: Recipe) -> InputSpec:
    """Normalisation statistics measured on the training images (grey, so one mean/std for every channel)."""
    sample = train_images[:: max(1, len(train_images) // 5000)].astype(np.float64) / 255.0
    mean, std = round(float(sample.mean()), 4), round(float(sample.std()), 4)
    return InputSpec(size=recipe.img_size, channels=recipe.channels, mean=(mean,), std=(std,))


def _resized_tensor(images: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """The uint8 faces at the model's input size (the serving resize rule), on ``device``."""
    resized = resize_stack(np.asarray(images, np.uint8), size)
    return torch.as_tensor(np.ascontiguousarray(resized), dtype=torch.uint8).to(device)
