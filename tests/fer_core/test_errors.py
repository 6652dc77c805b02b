"""The one exception tree: every deliberate error is a FerError, still importable where it is raised."""

from __future__ import annotations

import importlib

import pytest

from fer_core import errors

# (module that raises it, class name, the built-in base callers may still catch)
RAISED_IN = [
    ("fer_core.store.json_files", "ModelLoadError", ValueError),
    ("fer_core.store.card", "CardError", ValueError),
    ("fer_core.store.runs", "RunFormatError", ValueError),
    ("fer_core.data.arrays", "DatasetError", ValueError),
    ("fer_core.vision.imageio", "ImageDecodeError", ValueError),
    ("fer_core.vision.video", "VideoError", RuntimeError),
    ("fer_core.training.recipes", "RecipeError", ValueError),
    ("fer_core.serving.classifier", "ModelLoadError", ValueError),
]


@pytest.mark.parametrize(("module", "name", "builtin"), RAISED_IN, ids=[f"{m}.{n}" for m, n, _ in RAISED_IN])
def test_error_is_a_fer_error_importable_where_it_is_raised(module: str, name: str, builtin: type) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert cls is getattr(errors, name)
    assert issubclass(cls, errors.FerError) and issubclass(cls, builtin)


def test_every_error_in_the_tree_derives_from_fer_error() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, errors.FerError) for cls in classes)
