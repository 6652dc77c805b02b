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
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fer_core.store.files import atomic_path, read_regular_file, write_bytes_atomic

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


def check_state_dir(folder: Path | None) -> None:
    """Refuse at once a ``--state-dir`` that exists but is not a folder (else the first epoch's save fails)."""
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: --state-dir must be a folder (it is created when missing); this is a file")


def load_state(folder: Path) -> TrainState | None:
    """The state saved in ``folder``, or None when the folder holds no completed epoch."""
    meta_path = folder / TRAINER_FILE
    if not meta_path.is_file():
        return None
    try:
        return _read_state(folder, meta_path)
    except Exception as err:  # truncated safetensors, JSON of another shape: many unrelated types
        raise ValueError(
            f"{folder}: training state is unreadable ({type(err).__name__}: {err}); delete the folder to start over"
        ) from None


def _read_state(folder: Path, meta_path: Path) -> TrainState:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    model = load_file(str(folder / "model.safetensors"))
    best_path = folder / "best.safetensors"
    best = load_file(str(best_path)) if best_path.is_file() else None
    ema_path = folder / "ema.safetensors"
    ema = load_file(str(ema_path)) if ema_path.is_file() else None
    rng = {**meta["rng"], **{k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}}
    return TrainState(
        epoch=int(meta["epoch"]),
        step=int(meta["step"]),
        model=model,
        best_model=best,
        optimizer=_join_optimizer(tensors, meta["optimizer"]),
        rng=rng,
        history=list(meta["history"]),
        best_epoch=int(meta["best_epoch"]),
        best_score=float(meta["best_score"]),
        plateau=meta.get("plateau"),
        recipe_fingerprint=meta.get("recipe_fingerprint", ""),
        seconds=float(meta.get("seconds", 0.0)),
        extra=meta.get("extra", {}),
        ema_model=ema,
    )


RECENT_EPOCHS = 5  # epochs the time estimate looks back on


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
    epoch_seconds: Sequence[float] = (),
) -> None:
    """A small progress file: how far the run is, its best validation score, a time estimate.

    The estimate takes the median of the last few epochs' durations (``epoch_seconds``, oldest first) when given:
    a run resumed on a quieter or busier machine goes at its present pace, which the mean over all its epochs
    hides for hours.
    """
    recent = [float(s) for s in epoch_seconds[-RECENT_EPOCHS:]]
    per_epoch = statistics.median(recent) if recent else seconds / max(epoch, 1)
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


STATUS_FIELDS: dict[str, tuple[type, ...]] = {
    "recipe": (str,),
    "epoch": (int,),
    "epochs": (int,),
    "done": (bool,),
    "best_epoch": (int,),
    "best_val_score": (int, float),
    "eta_seconds": (int, float),
    "updated": (str,),
}
MAX_STATUS_BYTES = 2**20


def read_status(folder: Path) -> dict[str, Any]:
    """The progress file of a state folder; every way it can be wrong is a ValueError naming it (missing: a
    FileNotFoundError saying what the folder lacks)."""
    path = Path(folder) / STATUS_FILE
    try:
        status = json.loads(read_regular_file(path, MAX_STATUS_BYTES, "status file").decode("utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no {STATUS_FILE} (not a training state folder, or no epoch done)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: not a JSON status file ({err})") from None
    if not isinstance(status, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(status).__name__}")
    for key, kinds in STATUS_FIELDS.items():
        value = status.get(key)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise ValueError(f"{path}: {key!r} must be {' or '.join(k.__name__ for k in kinds)}, found {value!r}")
    if not isinstance(status.get("last_epoch") or {}, dict):
        raise ValueError(f"{path}: 'last_epoch' must be an object, found {status['last_epoch']!r}")
    return status
