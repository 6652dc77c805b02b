"""fer_core.training.warm_start: a run starts from a trained model's weights, and only from the same network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_fixtures import separable_faces, tiny_recipe

from fer_core.errors import RecipeError
from fer_core.labels import FER2013
from fer_core.serving.classifier import load_model, weights_sha256
from fer_core.training.loop import Head, HeadTargets, fit_heads
from fer_core.training.recipes import AugmentConfig, Recipe
from fer_core.training.warm_start import load_warm_start

HEAD = Head(FER2013.name, FER2013.names)


def _faces(n: int, seed: int) -> HeadTargets:
    images, labels = separable_faces(n, seed)
    return HeadTargets.single(images, labels, HEAD)


def _source_recipe(**overrides) -> Recipe:
    """The network of the ``tiny_model_dir`` fixture: a CNN of widths 8-16 with FER2013's seven outputs."""
    return tiny_recipe("fine_tune", arch_args={"widths": [8, 16]}, **overrides)


def test_warm_start_carries_the_source_weights_and_names_them(tiny_model_dir: Path) -> None:
    warm = load_warm_start(_source_recipe(init_from=str(tiny_model_dir)))
    source = load_model(tiny_model_dir, backend="torch").module.state_dict()
    assert warm.state.keys() == source.keys()
    assert all(torch.equal(warm.state[key], source[key]) for key in source)
    assert warm.facts["weights_sha256"] == weights_sha256(tiny_model_dir)
    assert warm.facts["model"] == "tiny_cnn" and warm.outputs == len(FER2013)


def test_a_run_at_learning_rate_zero_ends_on_the_weights_it_started_from(tiny_model_dir: Path) -> None:
    """The warm start is what training starts from: with nothing learned, the parameters stay the source's
    (a from-scratch run's random ones differ)."""
    recipe = _source_recipe(epochs=1, lr=0.0, weight_decay=0.0, augment=AugmentConfig(), init_from=str(tiny_model_dir))
    warm = load_warm_start(recipe)
    train, val = _faces(32, 0), _faces(16, 1)
    started_model = fit_heads(recipe, train, val, progress=False, initial_state=warm.state).model
    started = started_model.state_dict()
    scratch = fit_heads(recipe, train, val, progress=False).model.state_dict()
    parameters = [name for name, _ in started_model.named_parameters()]  # BatchNorm's running stats do move
    assert all(torch.equal(started[name], warm.state[name]) for name in parameters)
    assert not all(torch.equal(scratch[name], warm.state[name]) for name in parameters)


@pytest.mark.parametrize(
    ("overrides", "outputs", "named"),
    [
        ({"arch_args": {"widths": [8, 32]}}, 7, "arch_args"),
        ({"architecture": "cnn_mha", "arch_args": {}}, 7, "architecture"),
        ({}, 8, "outputs: recipe 8, source 7"),
        ({"img_size": 64}, 7, "input"),
    ],
)
def test_another_network_is_refused_naming_what_differs(
    tiny_model_dir: Path, overrides: dict, outputs: int, named: str
) -> None:
    recipe = tiny_recipe("other", **{"arch_args": {"widths": [8, 16]}, **overrides, "init_from": str(tiny_model_dir)})
    with pytest.raises(RecipeError, match=f"another network.*{named}"):
        load_warm_start(recipe).check_outputs(outputs)


def test_recipe_without_init_from_keeps_its_saved_form() -> None:
    assert "init_from" not in Recipe(name="r", architecture="cnn").to_dict()
    assert Recipe(name="r", architecture="cnn", init_from="m").to_dict()["init_from"] == "m"
