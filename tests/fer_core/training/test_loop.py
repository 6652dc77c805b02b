"""Recipes, batched augmentation and the training loop (tiny configs on CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from train_fixtures import separable_faces, tiny_recipe

from fer_core.data.preprocess import InputSpec, normalise
from fer_core.training.augment import augment_batch, mix_batch
from fer_core.training.loop import class_weights, fit, soft_cross_entropy, train_targets
from fer_core.training.recipes import AugmentConfig, Recipe, list_recipes, load_recipe


@pytest.mark.parametrize("name", list_recipes())
def test_shipped_recipes_load(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.name == name and recipe.epochs > 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"architecture": "cnn", "optimizer": "lion"}, "unknown optimizer 'lion'; known: adamw, sgd"),
        ({"architecture": "cnn", "colour": 1}, "unknown recipe keys"),
        ({"architecture": "cnn", "schedule": "step"}, "known: cosine, plateau, constant"),
    ],
)
def test_bad_recipes_name_the_valid_choices(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Recipe.from_dict({"name": "x", **data})


def test_recipe_file_round_trip(tmp_path: Path) -> None:
    recipe = Recipe(name="mine", architecture="cnn", augment=AugmentConfig(scale=(0.9, 1.1)))
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(recipe.to_dict()))
    assert load_recipe(path) == recipe


def test_train_targets_smoothing_and_soft_votes() -> None:
    hard = train_targets(np.array([1]), None, num_classes=4, smoothing=0.2)
    np.testing.assert_allclose(hard, [[0.05, 0.85, 0.05, 0.05]])
    soft = train_targets(np.array([0]), np.array([[0.5, 0.5, 0, 0]]), num_classes=4, smoothing=0.0)
    np.testing.assert_allclose(soft, [[0.5, 0.5, 0, 0]])


def test_class_weights_are_inverse_frequency() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert weights.mean() == pytest.approx(1.0)


def test_soft_cross_entropy_equals_hard_cross_entropy_for_one_hot() -> None:
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 2, 1, 1, 0])
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert soft_cross_entropy(logits, torch.eye(3)[labels]).item() == pytest.approx(expected.item(), rel=1e-5)


def test_augment_keeps_shape_and_changes_pixels() -> None:
    images = torch.randint(0, 256, (8, 48, 48), dtype=torch.uint8)
    x = normalise(images, InputSpec(mean=(0.5,), std=(0.25,)))
    out = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(0))
    assert out.shape == (8, 1, 48, 48) and torch.isfinite(out).all()
    assert not torch.allclose(out, x)


def test_identity_augmentation_is_identity() -> None:
    x = normalise(torch.randint(0, 256, (4, 48, 48), dtype=torch.uint8), InputSpec(mean=(0.5,), std=(0.25,)))
    still = AugmentConfig(scale=(1, 1), shift=0, rotation=0, flip=False, erasing=0, brightness=0)
    out = augment_batch(x, still, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.4, 0.0), (0.0, 1.0)])
def test_mixed_targets_stay_distributions(mixup: float, cutmix: float) -> None:
    x = torch.randn(6, 1, 48, 48)
    targets = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2])]
    mixed_x, mixed_t = mix_batch(x, targets, mixup_alpha=mixup, cutmix_alpha=cutmix, generator=torch.Generator())
    assert mixed_x.shape == x.shape
    torch.testing.assert_close(mixed_t.sum(1), torch.ones(6))


def test_fit_learns_and_selects_on_validation() -> None:
    torch.set_num_threads(1)
    x_train, y_train = separable_faces(256, 0)
    x_val, y_val = separable_faces(64, 1)
    recipe = tiny_recipe("tiny", epochs=3, augment=AugmentConfig(flip=False, rotation=0, erasing=0))
    result = fit(recipe, x_train, y_train, x_val, y_val, num_classes=2, progress=False)
    assert len(result.history) == 3
    best = max(result.history, key=lambda row: row["val_acc"])
    assert result.best_epoch == best["epoch"] and result.best_val_acc == best["val_acc"]
    assert result.best_val_acc > 0.9
    assert result.input_spec.size == 48 and 0 < result.input_spec.std[0] < 1


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_architecture_builds_at_its_input(name: str) -> None:
    from fer_core.models import architecture_info, create_model

    recipe = load_recipe(name)
    info = architecture_info(recipe.architecture)
    model = create_model(
        recipe.architecture, num_classes=8, in_chans=recipe.channels, img_size=recipe.img_size, **info.tiny_args
    ).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, recipe.channels, recipe.img_size, recipe.img_size))
    assert out.shape == (1, 8)


def test_training_cost_is_process_cpu_time_or_wall_time_for_older_runs() -> None:
    """CPU time does not grow while a busy machine keeps the run waiting; runs without it fall back to wall time."""
    from fer_core.apps.workflows import training_cost

    def result(history, device="cpu"):
        return SimpleNamespace(history=history, seconds=7200.0, device=device)

    measured = training_cost(result([{"cpu_seconds": 1800.0}, {"cpu_seconds": 1800.0}]))
    assert measured == {"cpu_hours": 1.0, "cpu_hours_from": "process CPU time"}
    older = training_cost(result([{"cpu_seconds": 1800.0}, {"seconds": 3600.0}]))
    assert older == {"cpu_hours": 2.0 * torch.get_num_threads(), "cpu_hours_from": "wall seconds x threads"}
    assert training_cost(result([{"cpu_seconds": 10.0}], device="cuda")) == {"cpu_hours": None}
