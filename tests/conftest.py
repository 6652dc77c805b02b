"""Shared fixtures: tiny model directories built in tmp_path, the real-data location."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from fer_core import settings
from fer_core.data.preprocess import InputSpec
from fer_core.labels import FER2013, FERPLUS
from fer_core.store.card import ModelCard

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = settings.data_dir()


@pytest.fixture(scope="session", autouse=True)
def private_data_cache(tmp_path_factory: pytest.TempPathFactory):
    """Decoded-split and teacher caches of the test run go to a temporary folder, not the user's ~/.cache."""
    previous = os.environ.get("FER_CACHE_DIR")
    os.environ["FER_CACHE_DIR"] = str(tmp_path_factory.mktemp("fer-cache"))
    yield
    if previous is None:
        os.environ.pop("FER_CACHE_DIR", None)
    else:
        os.environ["FER_CACHE_DIR"] = previous


def make_tiny_model_dir(directory: Path, *, labels=FER2013.names, channels: int = 1, size: int = 48) -> Path:
    """A randomly initialised tiny CNN saved as a complete model directory (card + weights).

    Torch is imported here, not at the top, so that the light install (no torch) can run the page tests.
    """
    import torch

    from fer_core.models import create_model
    from fer_core.serving.classifier import save_model_dir

    torch.manual_seed(0)
    model = create_model("cnn", num_classes=len(labels), in_chans=channels, img_size=size, widths=(8, 16)).eval()
    card = ModelCard(
        id=directory.name,
        architecture="cnn",
        arch_args={"widths": [8, 16]},
        labels=tuple(labels),
        label_set="fer2013" if len(labels) == 7 else "ferplus",
        input=InputSpec(size=size, channels=channels),
        metrics={},
    )
    return save_model_dir(model, directory, card=card)


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    return make_tiny_model_dir(tmp_path / "tiny_cnn")


@pytest.fixture(scope="session")
def split_cache_dir(request: pytest.FixtureRequest) -> Path | None:
    """pytest's cache folder for decoded real splits (kept between runs); None under ``-p no:cacheprovider``."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("fer-data") if cache is not None else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets (FER2013, FER+); tests that need them skip with a reason when absent."""
    if not (DATA_ROOT / "fer2013").is_dir() or not (DATA_ROOT / "ferplus").is_dir():
        pytest.skip(f"real datasets not found under {DATA_ROOT} (set FER_DATA_DIR)")
    return DATA_ROOT


def edit_json(path: Path, change) -> None:
    """Rewrite the JSON file at ``path`` after ``change(data)`` edited it in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def hub_vit_dir(directory: Path, *, preprocessor: dict | None = None, **config_changes) -> Path:
    """A tiny transformers ViT image classifier in ``save_pretrained`` layout, as downloaded from the hub."""
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "happy", 1: "sad", 2: "neutral"},
        label2id={"happy": 0, "sad": 1, "neutral": 2},
    )
    ViTForImageClassification(config).save_pretrained(directory, safe_serialization=True)
    if preprocessor is None:
        preprocessor = {"size": {"height": 32, "width": 32}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    if preprocessor:
        (directory / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    if config_changes:
        edit_json(directory / "config.json", lambda data: data.update(config_changes))
    return directory


def load_script(name: str):
    """A script of ``scripts/`` imported as a module (scripts are files, not a package).

    Registered in ``sys.modules`` under its name, as an import would: dataclasses look their module up there.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_two_head_dir(directory: Path, *, bias: list[float] | None = None) -> Path:
    """A randomly initialised two-head tiny CNN (FER2013-7 then FER+-8 outputs) saved as a model directory."""
    import torch

    from fer_core.models import create_model
    from fer_core.serving.classifier import save_model_dir
    from fer_core.store.card import HeadCard
    from fer_core.training.loop import Head

    heads_spec = (Head(FER2013.name, FER2013.names), Head(FERPLUS.name, FERPLUS.names, offset=7))
    torch.manual_seed(0)
    model = create_model("cnn", num_classes=15, widths=(8, 16)).eval()
    heads = {h.name: HeadCard.from_dict(h.to_dict()) for h in heads_spec}
    if bias is not None:
        heads["fer2013"].logit_bias = tuple(bias)
    card = ModelCard(
        id=directory.name,
        architecture="cnn",
        arch_args={"widths": [8, 16]},
        labels=FERPLUS.names,
        label_set="ferplus",
        heads=heads,
        default_head="ferplus",
        num_outputs=15,
        input=InputSpec(size=48, channels=1),
        metrics={},
    )
    return save_model_dir(model, directory, card=card)
