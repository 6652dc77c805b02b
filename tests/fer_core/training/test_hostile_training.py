"""Hostile recipe values and broken training-state folders: a clear ValueError before training, never a traceback,
a runaway allocation or a NaN-filled model saved with success."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fer_core.training.loop import Head, HeadTargets, fit_heads
from fer_core.training.recipes import AugmentConfig, Recipe, load_recipe

HEAD = Head("a", ("x", "y"))


def _faces(n: int, seed: int) -> HeadTargets:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    targets = np.eye(2, dtype=np.float32)[labels]
    return HeadTargets(rng.integers(0, 256, (n, 48, 48)).astype(np.uint8), targets, (HEAD,))


def _recipe(**overrides) -> Recipe:
    base = dict(name="tiny", architecture="cnn", arch_args={"widths": (8,)}, epochs=1, batch_size=16)
    return Recipe(**{**base, "augment": AugmentConfig(flip=False, rotation=0, erasing=0), **overrides})


HOSTILE_VALUES = {
    # key: value (recipe JSON) -> what the message says
    "lr infinite": ({"lr": math.inf}, "lr must be finite"),
    "lr NaN": ({"lr": math.nan}, "lr must be finite"),
    "weight_decay NaN": ({"weight_decay": math.nan}, "weight_decay must be finite"),
    "lr negative": ({"lr": -1}, r"lr must be in \[0, 10\]"),
    "lr as text": ({"lr": "0.01"}, "lr must be a number"),
    "epochs as float": ({"epochs": 2.5}, "epochs must be an integer"),
    "epochs as bool": ({"epochs": True}, "epochs must be an integer"),
    "batch_size huge": ({"batch_size": 10**12}, r"batch_size must be in \[1, 65536\]"),
    "img_size huge": ({"img_size": 100_000}, r"img_size must be in \[8, 1024\]"),
    "channels 4": ({"channels": 4}, r"channels must be in \[1, 3\]"),
    "seed negative": ({"seed": -1}, "seed must be in"),
    "mix_prob 2": ({"mix_prob": 2}, r"mix_prob must be in \[0, 1\]"),
    "grad_clip NaN": ({"grad_clip": math.nan}, "grad_clip must be finite"),
    "nesterov as text": ({"nesterov": "yes"}, "nesterov must be true or false"),
    "arch_args a list": ({"arch_args": [1, 2]}, "arch_args must be an object"),
    "teachers a string": ({"teachers": "ensemble"}, "teachers must be an object"),
    "augment a list": ({"augment": [1]}, "augment must be an object"),
    "augment unknown key": ({"augment": {"sharpen": 1}}, "unknown recipe augment keys"),
    "augment shift NaN": ({"augment": {"shift": math.nan}}, "augment.shift must be finite"),
    "augment rotation 1e9": ({"augment": {"rotation": 1e9}}, r"augment.rotation must be in \[0, 180\]"),
    "augment scale one number": ({"augment": {"scale": 1.0}}, "augment.scale must be two numbers"),
    "augment scale huge": ({"augment": {"scale": [1, 1e9]}}, "augment.scale must be in"),
    "not an object": ([], "a recipe is a JSON object"),
}


@pytest.mark.parametrize(("data", "message"), HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_hostile_recipe_value_is_a_message_naming_the_file_and_key(tmp_path: Path, data, message: str) -> None:
    path = tmp_path / "hostile.json"
    if isinstance(data, dict):
        data = {"architecture": "cnn", **data}
    path.write_text(json.dumps(data))  # json writes NaN and Infinity, as a hand-edited file may hold them
    with pytest.raises(ValueError, match=message) as caught:
        load_recipe(path)
    assert str(path) in str(caught.value)


HUGE_NETWORKS = {
    "cnn width 10^6": {"widths": [1_000_000, 1_000_000]},
    "cnn 10^5 layers": {"widths": [8] * 100_000},
    "vit width 10^6": {"hidden_size": 1_000_000},
}


@pytest.mark.parametrize("arch_args", HUGE_NETWORKS.values(), ids=HUGE_NETWORKS.keys())
def test_runaway_network_is_refused_on_the_meta_device(arch_args: dict) -> None:
    from fer_core.training.recipes import check_model_size

    architecture = "vit" if "hidden_size" in arch_args else "cnn"
    with pytest.raises(ValueError, match=f"recipe 'huge': cannot build {architecture}"):
        check_model_size(Recipe(name="huge", architecture=architecture, arch_args=arch_args))


def test_state_dir_that_is_a_file_fails_before_training(tmp_path: Path) -> None:
    state_file = tmp_path / "state"
    state_file.write_text("not a folder")
    epochs: list[dict] = []
    with pytest.raises(ValueError, match="--state-dir must be a folder"):
        fit_heads(_recipe(), _faces(32, 0), _faces(16, 1), progress=False, state_dir=state_file, on_epoch=epochs.append)
    assert epochs == []


def test_diverging_training_saves_nothing(tmp_path: Path) -> None:
    """A learning rate that passes the bounds can still diverge: no state of a non-finite network is written."""
    train = _faces(32, 0)
    with pytest.raises(ValueError, match="weights are not finite"):
        fit_heads(_recipe(lr=10.0, grad_clip=0.0, weight_decay=0.0, optimizer="sgd", momentum=0.0, nesterov=False),
                  _poisoned(train), _faces(16, 1), progress=False, state_dir=tmp_path / "state")  # fmt: skip
    assert not (tmp_path / "state" / "model.safetensors").exists()


def _poisoned(targets: HeadTargets) -> HeadTargets:
    """Targets with an infinite entry: the loss, then the gradients and the weights, become non-finite."""
    poisoned = targets.targets.copy()
    poisoned[0, 0] = np.inf
    return HeadTargets(targets.images, poisoned, targets.heads)


def _saved_state(folder: Path) -> Path:
    fit_heads(_recipe(epochs=1), _faces(32, 0), _faces(16, 1), progress=False, state_dir=folder)
    return folder


def _truncate(name: str):
    def change(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])

    return change


def _edit_trainer(change):
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "trainer.json").read_text())
        change(meta)
        (folder / "trainer.json").write_text(json.dumps(meta))

    return edit


def _nan_weights(folder: Path) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in tensors.items()},
              str(folder / "model.safetensors"))  # fmt: skip


def _other_shapes(folder: Path) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({k: torch.zeros(3, *v.shape) for k, v in tensors.items()}, str(folder / "model.safetensors"))


BROKEN_STATES = {
    "model.safetensors truncated": (_truncate("model.safetensors"), "training state is unreadable"),
    "optimizer.safetensors truncated": (_truncate("optimizer.safetensors"), "training state is unreadable"),
    "optimizer.safetensors missing": (lambda f: (f / "optimizer.safetensors").unlink(), "state is unreadable"),
    "trainer.json not JSON": (lambda f: (f / "trainer.json").write_text("{"), "training state is unreadable"),
    "trainer.json a list": (lambda f: (f / "trainer.json").write_text("[]"), "training state is unreadable"),
    "trainer.json without epoch": (_edit_trainer(lambda m: m.pop("epoch")), "training state is unreadable"),
    "trainer.json epoch as text": (_edit_trainer(lambda m: m.update(epoch="one")), "training state is unreadable"),
    "trainer.json rng of another shape": (_edit_trainer(lambda m: m.update(rng=[])), "training state is unreadable"),
    "weights of another network": (_other_shapes, "does not fit this recipe's network"),
    "NaN weights": (_nan_weights, "weights are not finite"),
}


@pytest.mark.parametrize(("damage", "message"), BROKEN_STATES.values(), ids=BROKEN_STATES.keys())
def test_broken_state_folder_is_a_message_naming_it(tmp_path: Path, damage, message: str) -> None:
    folder = _saved_state(tmp_path / "state")
    damage(folder)
    with pytest.raises(ValueError, match=message) as caught:
        fit_heads(_recipe(epochs=1), _faces(32, 0), _faces(16, 1), progress=False, state_dir=folder, resume=True)
    assert str(folder) in str(caught.value)


GOOD_STATUS = {
    "recipe": "tiny",
    "epoch": 1,
    "epochs": 2,
    "done": False,
    "best_epoch": 1,
    "best_val_score": 0.5,
    "last_epoch": {"val_acc": 0.5},
    "eta_seconds": 60,
    "updated": "2026-01-01T00:00:00+0000",
}

HOSTILE_STATUS = {
    "not JSON": ("{", "not a JSON status file"),
    "a list": ([], "expected a JSON object"),
    "no recipe": ({k: v for k, v in GOOD_STATUS.items() if k != "recipe"}, "'recipe' must be str"),
    "eta as text": ({**GOOD_STATUS, "eta_seconds": "soon"}, "'eta_seconds' must be int or float"),
    "done as number": ({**GOOD_STATUS, "done": 1}, "'done' must be bool"),
    "last_epoch a list": ({**GOOD_STATUS, "last_epoch": [1]}, "'last_epoch' must be an object"),
}


@pytest.mark.parametrize(("content", "message"), HOSTILE_STATUS.values(), ids=HOSTILE_STATUS.keys())
def test_status_of_a_broken_status_file_is_one_message_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, content, message: str
) -> None:
    from fer_core.apps.cli import main

    (tmp_path / "status.json").write_text(content if isinstance(content, str) else json.dumps(content))
    assert main(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "status.json") in err and message in err


def test_status_shows_terminal_escape_codes_from_the_file_escaped(tmp_path: Path, capsys: pytest.CaptureFixture):
    from fer_core.apps.cli import main

    hostile = {**GOOD_STATUS, "recipe": "\x1b[2J\x1b]0;owned\x07tiny", "updated": "now\r\nfake line"}
    (tmp_path / "status.json").write_text(json.dumps(hostile))
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and out.count("\n") == 1
    assert "\\x1b[2J" in out and "tiny: epoch 1/2" in out
