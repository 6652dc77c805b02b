"""Milliseconds per training step of a recipe's network in fp32 and in bf16 autocast, on this CPU, 1 thread.

    python scripts/bench_train_step.py --recipe cnn_robust_joint [--steps 8]

Decides whether ``precision: auto`` should take bf16 here (fer_core.hardware): the two precisions are timed in
alternating rounds (forward, loss, backward, AdamW step on one random batch), so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import torch

from fer_core.hardware import cpu_info, training_precision
from fer_core.models import create_model
from fer_core.training.recipes import load_recipe


def step_ms(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x, y, bf16: bool, steps: int) -> float:
    """Mean milliseconds of ``steps`` training steps (after one untimed warm-up step)."""
    for i in range(steps + 1):
        if i == 1:
            started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="cnn_robust_joint")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    recipe = load_recipe(args.recipe)
    model = create_model(
        recipe.architecture, num_classes=15, in_chans=recipe.channels, img_size=recipe.img_size, **recipe.arch_args
    ).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(recipe.batch_size, recipe.channels, recipe.img_size, recipe.img_size)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 15, (recipe.batch_size,))
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for name in times:
            times[name].append(step_ms(model, optimizer, x, y, name == "bf16", args.steps))
    info = cpu_info()
    print(f"CPU: {info.describe() if info else 'unknown'}; precision auto -> {training_precision('auto', 'cpu')}")
    for name, values in times.items():
        print(f"{name}: {statistics.median(values):.0f} ms per step (batch {recipe.batch_size}, 1 thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
