"""The train command runs unchanged under torchrun: two CPU processes (Gloo), one model directory written."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]


def _separable_tree(root: Path, per_class: int) -> None:
    """A Kaggle-layout FER2013 tree of two easy classes: bright top half (angry) vs bright bottom half (happy)."""
    rng = np.random.default_rng(0)
    for usage, folder in (("Training", "train"), ("PublicTest", "test")):
        for label, rows in (("angry", slice(0, 24)), ("happy", slice(24, 48))):
            for i in range(per_class):
                image = rng.integers(0, 60, (48, 48)).astype(np.uint8)
                image[rows] += 150
                path = root / folder / label / f"{usage}_{label}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), image)


@pytest.mark.slow
def test_train_under_torchrun_with_two_cpu_processes(tmp_path: Path) -> None:
    data = tmp_path / "fer2013"
    _separable_tree(data, per_class=128)
    recipe = tmp_path / "tiny_ddp.json"
    recipe.write_text(
        json.dumps(
            {
                "architecture": "cnn",
                "arch_args": {"widths": [8, 16]},
                "dataset": "fer2013",
                "epochs": 4,
                "warmup_epochs": 0,
                "batch_size": 32,
                "lr": 0.01,
                "augment": {"rotation": 0, "erasing": 0, "flip": False},
            }
        )
    )
    out = tmp_path / "model"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "fer_core", "train", "--recipe", str(recipe), "--out", str(out), "--dataset-path", str(data)]
    command += ["--threads", "1", "--device", "cpu", "--state-dir", str(tmp_path / "state")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "FER_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    with open(out / "history.csv") as fh:
        history = list(csv.DictReader(fh))
    assert len(history) == 4 and card["training"]["best_epoch"] >= 1
    assert max(float(row["val_acc"]) for row in history) > 0.9
    assert json.loads((tmp_path / "state" / "status.json").read_text())["done"] is True
