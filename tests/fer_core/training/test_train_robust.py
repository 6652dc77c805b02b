"""The long-training recipe's parts: webcam corruptions, EMA weights (resumable), milder class weights, precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from train_fixtures import separable_faces, straight_and_resumed, tiny_recipe

from fer_core.hardware import CpuInfo, training_precision
from fer_core.training.augment import corrupt_batch
from fer_core.training.loop import Head, HeadTargets, class_weights
from fer_core.training.recipes import CORRUPTIONS, AugmentConfig, Recipe, load_recipe
from fer_core.training.state import load_state


def _only(kind: str) -> AugmentConfig:
    return AugmentConfig(**{kind: 1.0})


def _faces(n: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 48, 48, generator=gen)


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_each_corruption_changes_faces_and_stays_in_range(kind: str) -> None:
    x = _faces()
    out = corrupt_batch(x, _only(kind), torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().mean() > 1e-3
    assert torch.equal(x, _faces()), "the input batch is not modified in place"


@pytest.mark.parametrize("kind", ["blur", "jpeg", "lowres"])
def test_filters_keep_a_flat_face_flat(kind: str) -> None:
    flat = torch.full((4, 1, 48, 48), 0.5)
    out = corrupt_batch(flat, _only(kind), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, flat, atol=2 / 255, rtol=0)


def test_zero_probabilities_draw_nothing_from_the_generator() -> None:
    gen = torch.Generator().manual_seed(3)
    x = _faces()
    assert torch.equal(corrupt_batch(x, AugmentConfig(), gen), x)
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(3).get_state())


def test_sqrt_class_weights_are_milder_than_inverse_frequency() -> None:
    labels = np.array([0] * 9 + [1])
    full, sqrt = class_weights(labels, 2), class_weights(labels, 2, power=0.5)
    assert full[1] / full[0] == pytest.approx(9)
    assert sqrt[1] / sqrt[0] == pytest.approx(3)


def test_old_recipes_keep_their_form_so_their_saved_states_still_resume() -> None:
    data = Recipe(name="old", architecture="cnn").to_dict()
    assert "ema_decay" not in data and "precision" not in data
    assert not set(CORRUPTIONS) & set(data["augment"])
    assert load_recipe("cnn_robust_joint").to_dict()["augment"]["jpeg"] > 0


@pytest.mark.parametrize(
    ("flags", "device", "requested", "expected"),
    [
        ("avx2 fma", "cpu", "auto", "fp32"),  # AVX2 emulates bf16: about 10x slower
        ("avx2 avx512f avx512_vnni", "cpu", "auto", "fp32"),
        ("avx2 avx512f avx512_bf16", "cpu", "auto", "bf16"),
        ("avx2 avx512f amx_bf16 amx_tile", "cpu", "auto", "bf16"),
        ("avx2", "cuda", "auto", "bf16"),
        ("avx2 avx512_bf16", "cpu", "fp32", "fp32"),
    ],
)
def test_precision_follows_the_cpu(monkeypatch, flags: str, device: str, requested: str, expected: str) -> None:
    import fer_core.hardware as hardware

    monkeypatch.setattr(hardware, "_this_cpu", lambda: CpuInfo("test CPU", frozenset(flags.split())))
    assert training_precision(requested, device) == expected


def _set(n: int, seed: int) -> HeadTargets:
    images, labels = separable_faces(n, seed)
    return HeadTargets(images, np.eye(2, dtype=np.float32)[labels], (Head("a", ("x", "y")),))


def _saved_with_ema_weights(state_dir: Path) -> None:
    assert load_state(state_dir).ema_model is not None


def test_ema_run_resumes_to_the_same_model_and_records_its_precision(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    recipe = tiny_recipe(
        "tiny_ema",
        epochs=2,
        ema_decay=0.9,
        precision="fp32",
        augment=AugmentConfig(blur=0.3, noise=0.3, jpeg=0.3, gamma=0.3, lowres=0.3),
    )
    train, val = _set(96, 0), _set(32, 1)
    straight, resumed = straight_and_resumed(recipe, train, val, tmp_path, _saved_with_ema_weights)
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert straight.extra["precision"] == "fp32"
