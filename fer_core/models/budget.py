"""The compute-budget zoo: counted FLOPs, measured training throughput and per-face latency on one CPU thread.

Every ``*_budget`` architecture is sized to about 100 MFLOPs per 48 px face or less and to train at about the speed
of ``cnn_budget`` on one thread, so that the same schedule (same images seen) costs every family about the same
time. Timings on a shared machine move with its load, so :func:`budget_table` measures all models in interleaved
rounds (per round and model: one timed training step, then a few timed single-face calls) and keeps medians: the
ratios between rows hold even when the absolute numbers drift with other work on the machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fer_core.models.factory import architecture_info, create_model, list_budget_variants
from fer_core.models.flops import count_mflops

__all__ = [
    "BUDGET_IMG_SIZE",
    "BUDGET_MFLOPS",
    "JOINT_OUTPUTS",
    "BudgetRow",
    "budget_table",
    "inference_ms",
    "train_step_seconds",
]

BUDGET_IMG_SIZE = 48  # every budget variant trains and is counted at 48x48 grey faces
BUDGET_MFLOPS = 100.0  # forward MFLOPs per face that a budget variant stays about at or under
JOINT_OUTPUTS = 15  # a FER2013-7 head and a FER+-8 head on one trunk, as the joint recipes train them


@dataclass(frozen=True)
class BudgetRow:
    """One budget variant: size, counted forward cost and measured speeds (medians over rounds)."""

    name: str
    budget_of: str
    img_size: int
    params: int
    mflops: float
    train_images_per_s: float
    ms_per_face: float


def train_step_seconds(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Wall time of one training forward + backward (cross-entropy, plus a model's auxiliary loss if it has one)."""
    model.train()
    started = time.perf_counter()
    loss = F.cross_entropy(model(images), labels)
    auxiliary_loss = getattr(model, "auxiliary_loss", None)
    if callable(auxiliary_loss):
        loss = loss + 0.1 * auxiliary_loss()
    model.zero_grad(set_to_none=True)
    loss.backward()
    return time.perf_counter() - started


def inference_ms(model: nn.Module, face: torch.Tensor) -> float:
    """Wall time of one eval-mode forward of ``face`` (a batch of one), in milliseconds."""
    model.eval()
    with torch.no_grad():
        started = time.perf_counter()
        model(face)
        return (time.perf_counter() - started) * 1000


def _build(name: str, img_size: int, num_classes: int) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, in_chans=1, img_size=img_size)


def budget_table(
    names: Sequence[str] | None = None,
    *,
    img_size: int = BUDGET_IMG_SIZE,
    num_classes: int = JOINT_OUTPUTS,
    batch_size: int = 128,
    rounds: int = 5,
    warmup: int = 2,
    calls_per_round: int = 10,
    threads: int = 1,
) -> list[BudgetRow]:
    """Measure ``names`` (default: every budget variant) in interleaved rounds on ``threads`` CPU threads.

    Training runs channels_last on a ``batch_size`` batch of random faces, as the training loop does; latency is a
    batch of one, contiguous, as the zoo serves a face.
    """
    names = list(names or list_budget_variants())
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(batch_size, 1, img_size, img_size, generator=generator)
        images = images.contiguous(memory_format=torch.channels_last)
        labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
        face = torch.randn(1, 1, img_size, img_size, generator=generator)
        trained = {name: _build(name, img_size, num_classes).to(memory_format=torch.channels_last) for name in names}
        served = {name: _build(name, img_size, num_classes) for name in names}
        for name in names:
            for _ in range(warmup):
                train_step_seconds(trained[name], images, labels)
                inference_ms(served[name], face)
        step_times: dict[str, list[float]] = {name: [] for name in names}
        latencies: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(rounds):
            for name in names:
                step_times[name].append(train_step_seconds(trained[name], images, labels))
                calls = [inference_ms(served[name], face) for _ in range(calls_per_round)]
                latencies[name].append(statistics.median(calls))
        return [
            BudgetRow(
                name=name,
                budget_of=architecture_info(name).budget_of,
                img_size=img_size,
                params=sum(p.numel() for p in served[name].parameters()),
                mflops=count_mflops(served[name], img_size),
                train_images_per_s=batch_size / statistics.median(step_times[name]),
                ms_per_face=statistics.median(latencies[name]),
            )
            for name in names
        ]
    finally:
        torch.set_num_threads(previous_threads)
