"""A recipe's network with random weights, served the way a shipped model is (int8 ONNX), to time it before training.

Latency depends on the graph, not on the weights' values, so the question "would this trunk still be no slower than
`fer`'s model?" can be answered in seconds rather than after hours of training (``scripts/bench_peers.py
--recipe``). The network gets FER+'s 8 outputs whatever its recipe trains (a joint recipe has 15): the difference is
a few hundred multiply-adds of the last linear layer. Calibration uses random faces, which only sets the int8
scales; the int8 graph, and so its speed, is the one ``quantize`` writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fer_core.labels import FERPLUS
from fer_core.models import create_model
from fer_core.serving.classifier import Classifier, attach_onnx_file, load_model
from fer_core.serving.export import export_to_file
from fer_core.serving.quantize import INT8_FILE, write_int8
from fer_core.serving.torch_backend import save_model_dir
from fer_core.store.card import InputSpec, ModelCard
from fer_core.training.recipes import load_recipe

__all__ = ["untrained_int8_classifier"]

CALIBRATION_FACES = 64


def untrained_int8_classifier(recipe_name: str | Path, folder: Path, threads: int = 1) -> Classifier:
    """``recipe_name``'s network, seeded random weights, exported and quantised in ``folder``, on ONNX Runtime."""
    recipe = load_recipe(recipe_name)
    torch.manual_seed(recipe.seed)
    network = create_model(
        recipe.architecture,
        num_classes=len(FERPLUS),
        in_chans=recipe.channels,
        img_size=recipe.img_size,
        **recipe.arch_args,
    ).eval()
    card = ModelCard(
        id=f"{Path(recipe_name).stem} (untrained)",
        architecture=recipe.architecture,
        arch_args=dict(recipe.arch_args),
        labels=FERPLUS.names,
        label_set=FERPLUS.name,
        input=InputSpec(size=recipe.img_size, channels=recipe.channels),
    )
    directory = save_model_dir(network, folder / Path(recipe_name).stem, card=card)
    clf = load_model(directory, backend="torch")
    if not isinstance(clf, Classifier):  # a recipe builds one network; an ensemble would be a bug here
        raise TypeError(f"{recipe_name}: expected one network, loaded {type(clf).__name__}")
    export_to_file(clf, directory / "model.onnx")
    faces = np.random.default_rng(recipe.seed).integers(0, 256, (CALIBRATION_FACES, 48, 48), dtype=np.uint8)
    write_int8(clf, faces, directory / INT8_FILE)
    attach_onnx_file(clf, directory / INT8_FILE, threads=threads)
    return clf
