"""Per-epoch training state on disk, so an interrupted run continues exactly where it stopped.

A state folder (outside the repository, e.g. ``~/.cache/fer-studio/runs/<model>``) holds, after every epoch:

- ``model.safetensors`` / ``best.safetensors``: current and best-so-far weights (float32); ``ema.safetensors``, the
  weights' moving average, when the recipe keeps one;
- ``optimizer.safetensors``: the optimizer's tensors (AdamW moments, SGD momentum buffers) and the RNG states;
- ``trainer.json``: everything else - epoch, step, history, best epoch and score, optimizer scalars, NumPy's bit
  generator state, plateau scheduler state, a fingerprint of the recipe;
- ``status.json``: a small human-readable progress file (``python -m fer_core status <folder>``).

Only safetensors and JSON are written and read: no pickle. Every file is written to a temporary name and renamed,
so a kill during a save leaves the previous epoch's state intact.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fer_core.store.files import atomic_path, write_bytes_atomic

__all__ = ["TrainState", "load_state", "read_status", "save_state", "write_status"]

TRAINER_FILE = "trainer.json"
STATUS_FILE = "status.json"


@dataclass
class TrainState:
    """What a training loop needs to continue: weights, optimizer, RNGs, history, best epoch."""

    epoch: int
    step: int
    model: dict[str, torch.Tensor]
    best_model: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    history: list[dict[str, float]]
    best_epoch: int = 0
    best_score: float = -1.0
    plateau: dict[str, Any] | None = None
    recipe_fingerprint: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    ema_model: dict[str, torch.Tensor] | None = None


def _atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))


def _split_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, slots in state_dict["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(folder: Path, state: TrainState) -> None:
    """Write ``state`` into ``folder`` (created if needed), each file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_save_tensors(folder / "model.safetensors", state.model)
    if state.best_model is not None:
        _atomic_save_tensors(folder / "best.safetensors", state.best_model)
    if state.ema_model is not None:
        _atomic_save_tensors(folder / "ema.safetensors", state.ema_model)
    opt_tensors, opt_meta = _split_optimizer(state.optimizer)
    rng_tensors = {f"rng.{k}": v for k, v in state.rng.items() if torch.is_tensor(v)}
    _atomic_save_tensors(folder / "optimizer.safetensors", {**opt_tensors, **rng_tensors})
    meta = {
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "plateau": state.plateau,
        "recipe_fingerprint": state.recipe_fingerprint,
        "seconds": state.seconds,
        "optimizer": opt_meta,
        "rng": {k: v for k, v in state.rng.items() if not torch.is_tensor(v)},
        "extra": state.extra,
    }
    write_bytes_atomic(folder / TRAINER_FILE, (json.dumps(meta) + "\n").encode())


def load_state(folder: Path) -> TrainState | None:
    """The state saved in ``folder``, or None when the folder holds no completed epoch."""
    meta_path = folder / TRAINER_FILE
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "optimizer.safetensors"))
        model = load_file(str(folder / "model.safetensors"))
        best_path = folder / "best.safetensors"
        best = load_file(str(best_path)) if best_path.is_file() else None
        ema_path = folder / "ema.safetensors"
        ema = load_file(str(ema_path)) if ema_path.is_file() else None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{folder}: training state is unreadable ({err}); delete the folder to start over") from err
    rng = {**meta["rng"], **{k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}}
    return TrainState(
        epoch=meta["epoch"],
        step=meta["step"],
        model=model,
        best_model=best,
        optimizer=_join_optimizer(tensors, meta["optimizer"]),
        rng=rng,
        history=meta["history"],
        best_epoch=meta["best_epoch"],
        best_score=meta["best_score"],
        plateau=meta.get("plateau"),
        recipe_fingerprint=meta.get("recipe_fingerprint", ""),
        seconds=meta.get("seconds", 0.0),
        extra=meta.get("extra", {}),
        ema_model=ema,
    )


def write_status(
    folder: Path,
    *,
    recipe: str,
    epoch: int,
    epochs: int,
    best_epoch: int,
    best_score: float,
    last: dict[str, float] | None,
    seconds: float,
    done: bool,
) -> None:
    """A small progress file: how far the run is, its best validation score, a time estimate."""
    per_epoch = seconds / max(epoch, 1)
    status = {
        "recipe": recipe,
        "epoch": epoch,
        "epochs": epochs,
        "done": done,
        "best_epoch": best_epoch,
        "best_val_score": round(best_score, 5),
        "last_epoch": last,
        "train_seconds": round(seconds, 1),
        "eta_seconds": 0 if done else round(per_epoch * (epochs - epoch), 1),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / STATUS_FILE, (json.dumps(status, indent=2) + "\n").encode())


def read_status(folder: Path) -> dict[str, Any]:
    """The progress file of a state folder; the error says what the folder is missing."""
    path = Path(folder) / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no {STATUS_FILE} (not a training state folder, or no epoch done)") from None
