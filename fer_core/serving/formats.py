"""The model formats users bring, and the card the project needs, derived from the model's own files.

Supported: a transformers ``save_pretrained`` directory (``config.json`` with ``model_type`` and
``preprocessor_config.json``), a timm directory (``config.json`` with ``architecture``, ``num_classes``,
``label_names``, ``model_args``, ``pretrained_cfg``, as timm's ``save_for_hf`` writes it), an ONNX file or a
directory holding one, and the project's own model directories. Keras and TensorFlow files are named and refused
with the conversion route. Everything here runs without torch (transformers and timm are asked for the
preprocessing of their own models only, and only when the model is theirs).

The derived card says where each fact came from (``provenance``) and is written beside the model on first use or by
``python -m fer_core import-model``; a card whose labels disagree with the model's own label names is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.labels import FER2013, FERPLUS, canonical_name
from fer_core.store.card import ModelCard
from fer_core.store.json_files import ModelLoadError, read_json_object
from fer_core.store.model_dir import CONFIG_FILE, ONNX_FILE, PREPROCESSOR_FILE, ModelDir

__all__ = [
    "KERAS_SUFFIXES",
    "SUPPORTED_FORMATS",
    "OnnxFacts",
    "card_for_hf_dir",
    "card_for_onnx",
    "card_for_timm_dir",
    "check_card_labels",
    "inspect_onnx",
    "model_label_names",
    "onnx_file_of",
    "outputs_kind",
    "refuse_unsupported_file",
]

log = logging.getLogger(__name__)

SUPPORTED_FORMATS = (
    "a transformers save_pretrained directory (config.json with model_type, preprocessor_config.json, "
    "model.safetensors); a timm directory (config.json with architecture, num_classes, label_names, pretrained_cfg, "
    "model.safetensors); an .onnx file or a directory holding one; a FER Studio model directory (card.json)"
)
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras", ".pb", ".tflite")
_TF2ONNX = (
    "convert it to ONNX with tf2onnx (pip install tf2onnx), e.g. python -m tf2onnx.convert --keras model.h5 "
    "--output model.onnx (a SavedModel folder: --saved-model DIR; TFLite: --tflite model.tflite), then load the .onnx"
)
_GENERIC_LABEL = "LABEL_"
_ONNX_LABEL_KEYS = ("labels", "label_names", "classes", "class_names")


def refuse_unsupported_file(path: Path) -> None:
    """A clear ModelLoadError for a Keras/TensorFlow file or folder, or any other file that is not a model."""
    is_saved_model = path.is_dir() and (path / "saved_model.pb").is_file()
    if is_saved_model or path.suffix.lower() in KERAS_SUFFIXES:
        raise ModelLoadError(
            f"{path}: Keras/TensorFlow models are not supported; {_TF2ONNX}. Supported: {SUPPORTED_FORMATS}"
        )
    if path.is_file() and path.suffix.lower() != ".onnx":
        raise ModelLoadError(f"{path}: not a model format FER Studio reads. Supported: {SUPPORTED_FORMATS}")


def onnx_file_of(directory: Path) -> Path | None:
    """The ONNX file of a directory without weights of its own: ``model.onnx``, else its only ``.onnx`` file."""
    if (directory / ONNX_FILE).is_file():
        return directory / ONNX_FILE
    found = sorted(directory.glob("*.onnx"))
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------------------------------------ labels


def _id2label_names(config: dict, path: Path) -> list[str]:
    id2label = config.get("id2label")
    if not isinstance(id2label, dict):
        return []
    try:
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        raise ModelLoadError(f"{path}: 'id2label' keys must be class indices 0, 1, ...") from None


def model_label_names(directory: ModelDir) -> list[str]:
    """The class names a model's own files give (transformers ``id2label``, timm ``label_names``); [] if none.

    transformers' placeholder names (``LABEL_0`` ...) count as none.
    """
    if not directory.config_path.is_file():
        return []
    config = directory.read_config()
    names = config.get("label_names") if "architecture" in config else _id2label_names(config, directory.config_path)
    names = [str(n) for n in names] if isinstance(names, list) else []
    return [] if any(n.startswith(_GENERIC_LABEL) for n in names) else names


def check_card_labels(card: ModelCard, own_names: list[str], where: Path) -> None:
    """Refuse a card whose labels are not the model's own label names (same classes, same output order)."""
    if card.heads or not card.labels or not own_names:
        return
    if [canonical_name(n) for n in card.labels] != [canonical_name(n) for n in own_names]:
        raise ModelLoadError(
            f"{where}: card.json labels {list(card.labels)} disagree with the model's own label names {own_names} "
            "(output order matters); fix card.json or delete it to have it derived again from the model's files"
        )


# ------------------------------------------------------------------------------------------------ transformers


def _processor_spec(directory: Path, channels: int) -> dict[str, Any]:
    """The input transform of a transformers directory, read through its own image processor class."""
    from transformers import AutoImageProcessor

    try:
        proc = AutoImageProcessor.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    except Exception as err:  # unknown processor type, bad values ...
        raise ModelLoadError(f"{directory / PREPROCESSOR_FILE}: not a usable image processor ({err})") from None
    size, crop = _size_dict(proc.size), _size_dict(getattr(proc, "crop_size", None))
    crop_pct = getattr(proc, "crop_pct", None)
    if size.get("height") and size.get("width"):
        final = edge = _square(size, directory)
        resize = "squash"
        if getattr(proc, "do_center_crop", False) and crop:
            final = _square(crop, directory)
    elif size.get("shortest_edge"):
        edge = final = size["shortest_edge"]
        resize = "shortest_edge"
        if crop_pct is not None:  # ConvNeXt's rule: shortest edge to size / crop_pct, centre crop; warp from 384 px
            resize, edge = ("shortest_edge", int(final / crop_pct)) if final < 384 else ("squash", final)
        elif getattr(proc, "do_center_crop", False) and crop:
            final = _square(crop, directory)
    else:
        raise ModelLoadError(f"{directory / PREPROCESSOR_FILE}: 'size' {dict(size)!r:.120} is not a size this reads")
    resample = int(getattr(proc, "resample", 2) or 2)
    names = {code: name for name, code in _pil_filters().items()}
    return {
        "size": final,
        "channels": channels,
        "mean": list(proc.image_mean or [0.5]),
        "std": list(proc.image_std or [0.5]),
        "color": "rgb" if channels == 3 else "gray",
        "resize": resize,
        "resize_edge": edge if edge != final else None,
        "interpolation": names.get(resample, "bilinear"),
        "rescale": float(proc.rescale_factor) if proc.do_rescale else 1.0,
        "normalize": bool(proc.do_normalize),
        "crop_offset": "floor",
    }


def _pil_filters() -> dict[str, int]:
    from fer_core.data.preprocess import PIL_FILTERS

    return PIL_FILTERS


def _size_dict(size: Any) -> dict[str, int]:
    if size is None:
        return {}
    if isinstance(size, int):
        return {"height": size, "width": size}
    items = size.items() if hasattr(size, "items") else vars(size).items()
    return {k: v for k, v in items if isinstance(v, int)}


def _square(size: dict[str, int], directory: Path) -> int:
    if size["height"] != size["width"]:
        raise ModelLoadError(
            f"{directory / PREPROCESSOR_FILE}: input {size['height']}x{size['width']} is not square; FER Studio "
            "serves square inputs"
        )
    return size["height"]


def card_for_hf_dir(directory: Path, config: dict) -> ModelCard:
    """The card of a transformers ``save_pretrained`` image classifier: labels, input and its own transform.

    Without ``preprocessor_config.json`` the input size is unknown (224 px guessed for a 48 px model predicts
    nothing useful), so the directory is refused.
    """
    prep_path = directory / PREPROCESSOR_FILE
    if not prep_path.is_file():
        raise ModelLoadError(
            f"{directory}: no {PREPROCESSOR_FILE}, so the input size and normalisation are unknown; add one with "
            '{"size": {"height": n, "width": n}, "image_mean": [...], "image_std": [...]}'
        )
    read_json_object(prep_path)  # bounded, UTF-8, an object: checked before transformers reads it
    channels = config.get("num_channels", 3)
    if channels not in (1, 3):
        raise ModelLoadError(f"{directory / CONFIG_FILE}: 'num_channels' must be 1 or 3, got {channels!r:.40}")
    card = {
        "id": directory.name,
        "family": "hf",
        "architecture": config.get("model_type", "unknown"),
        "labels": _id2label_names(config, directory / CONFIG_FILE),
        "input": _processor_spec(directory, channels),
        "provenance": f"derived from a transformers directory's {CONFIG_FILE} and {PREPROCESSOR_FILE}",
    }
    return ModelCard.from_dict(card, directory / CONFIG_FILE)


# ------------------------------------------------------------------------------------------------ timm


def _timm_spec(config: dict, path: Path) -> dict[str, Any]:
    """The input transform timm's own ``resolve_data_config`` + ``create_transform`` apply to this model."""
    from timm.data import resolve_data_config

    pretrained_cfg = config.get("pretrained_cfg") if isinstance(config.get("pretrained_cfg"), dict) else {}
    data = resolve_data_config(pretrained_cfg=pretrained_cfg)
    channels, height, width = data["input_size"]
    if height != width:
        raise ModelLoadError(f"{path}: input {height}x{width} is not square; FER Studio serves square inputs")
    mode = data.get("crop_mode") or "center"
    if mode not in ("center", "squash"):
        raise ModelLoadError(f"{path}: crop_mode {mode!r} is not supported; known: center, squash")
    edge = math.floor(height / (data.get("crop_pct") or 0.875))
    interpolation = data.get("interpolation") or "bilinear"
    return {
        "size": height,
        "channels": channels,
        "mean": list(data["mean"]),
        "std": list(data["std"]),
        "color": "rgb" if channels == 3 else "gray",
        "resize": "shortest_edge" if mode == "center" else "squash",
        "resize_edge": edge if edge != height else None,
        "interpolation": interpolation if interpolation in _pil_filters() else "bilinear",
    }


def card_for_timm_dir(directory: Path, config: dict) -> ModelCard:
    """The card of a timm directory (``save_for_hf`` layout): labels from ``label_names``, input from its config."""
    path = directory / CONFIG_FILE
    names = config.get("label_names")
    classes = config.get("num_classes")
    if not isinstance(names, list) or not names:
        raise ModelLoadError(
            f"{path}: no 'label_names' (the class names in output order, as timm's save_for_hf writes them); add "
            f'"label_names": [...] with {classes} names'
        )
    if classes is not None and classes != len(names):
        raise ModelLoadError(f"{path}: 'num_classes' is {classes} but 'label_names' has {len(names)} names")
    card = {
        "id": directory.name,
        "family": "timm",
        "architecture": config.get("architecture"),
        "labels": [str(n) for n in names],
        "input": _timm_spec(config, path),
        "provenance": f"derived from a timm directory's {CONFIG_FILE} (pretrained_cfg, label_names)",
    }
    return ModelCard.from_dict(card, path)


# ------------------------------------------------------------------------------------------------ ONNX


@dataclass(frozen=True)
class OnnxFacts:
    """What an ONNX model's graph says about its input and output."""

    layout: str  # "NCHW" or "NHWC"
    batch: int | None  # a fixed batch size, None when the batch dimension is free
    channels: int
    size: int | None  # None when the spatial size is free
    outputs: str = "logits"  # or "probabilities" (the graph ends in a softmax)

    def describe(self) -> str:
        batch = f"fixed batch {self.batch}" if self.batch else "dynamic batch"
        size = f"{self.size} px" if self.size else "free size"
        return f"{self.layout}, {self.channels} channel(s), {size}, {batch}, outputs {self.outputs}"

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "batch": self.batch, "outputs": self.outputs}


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def inspect_onnx(session: Any, path: Path) -> OnnxFacts:
    """Layout, batch and size of the session's input (its output kind is found by :func:`outputs_kind`)."""
    shape = list(session.get_inputs()[0].shape)
    if len(shape) != 4:
        raise ModelLoadError(f"{path}: input has shape {shape}; an image model takes 4 dimensions (NCHW or NHWC)")
    dims = [_fixed(d) for d in shape]
    nhwc = dims[3] in (1, 3) and dims[1] not in (1, 3)
    channels, height, width = (dims[3], dims[1], dims[2]) if nhwc else (dims[1], dims[2], dims[3])
    if channels not in (1, 3):
        raise ModelLoadError(f"{path}: input shape {shape} has no 1- or 3-channel axis (NCHW or NHWC expected)")
    if height and width and height != width:
        raise ModelLoadError(f"{path}: input {height}x{width} is not square; FER Studio serves square inputs")
    return OnnxFacts("NHWC" if nhwc else "NCHW", dims[0], channels, height or width)


def outputs_kind(run: Any, facts: OnnxFacts, size: int) -> str:
    """``probabilities`` when the model's outputs on two random inputs are non-negative rows summing to 1."""
    rng = np.random.default_rng(0)
    shape = (facts.batch or 2, size, size, facts.channels) if facts.layout == "NHWC" else None
    shape = shape or (facts.batch or 2, facts.channels, size, size)
    outputs = [np.asarray(run(rng.normal(size=shape).astype(np.float32))) for _ in range(2)]
    simplex = all(o.ndim == 2 and o.min() >= 0 and np.allclose(o.sum(axis=1), 1.0, atol=1e-4) for o in outputs)
    return "probabilities" if simplex else "logits"


def _metadata_json(text: str, key: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ModelLoadError(f"{path}: metadata {key!r} is not valid JSON: {text!r:.80}") from None


def _onnx_labels(metadata: dict[str, str], num_outputs: int, path: Path) -> tuple[list[str], str]:
    """Class names from the file's metadata (``labels`` as JSON or comma-separated), else FER2013/FER+ by count."""
    for key in _ONNX_LABEL_KEYS:
        if key in metadata:
            text = metadata[key].strip()
            names = _metadata_json(text, key, path) if text.startswith("[") else [n.strip() for n in text.split(",")]
            return [str(n) for n in names], f"metadata '{key}'"
    by_count = {len(FER2013.names): FER2013, len(FERPLUS.names): FERPLUS}
    if num_outputs in by_count:
        label_set = by_count[num_outputs]
        return list(label_set.names), f"assumed {label_set.name} order ({num_outputs} outputs)"
    raise ModelLoadError(
        f"{path}: {num_outputs} outputs and no class names in its metadata; give them: python -m fer_core "
        f"import-model {path} --labels name1,name2,..."
    )


def card_for_onnx(path: Path, session: Any, facts: OnnxFacts, overrides: dict[str, Any] | None = None) -> ModelCard:
    """The card of a bare ONNX file: input from its graph, labels from its metadata (or ``overrides``).

    An ONNX file does not say how its pixels were scaled: unless ``overrides`` (or its metadata ``mean``/``std``)
    say otherwise, inputs are taken as pixels / 255 (no mean/std), colour for 3 channels, and the card says so.
    """
    overrides = dict(overrides or {})
    metadata = dict(session.get_modelmeta().custom_metadata_map or {})
    size = overrides.pop("size", None) or facts.size or (48 if facts.channels == 1 else None)
    if size is None:
        raise ModelLoadError(f"{path}: the input size is free in the graph; give it: import-model {path} --size N")
    input_name = session.get_inputs()[0].name
    kind = outputs_kind(lambda x: session.run(None, {input_name: x})[0], facts, size)
    facts = dataclasses.replace(facts, outputs=kind)
    num_outputs = _fixed(session.get_outputs()[0].shape[-1])
    labels = overrides.pop("labels", None)
    source = "given"
    if labels is None:
        labels, source = _onnx_labels(metadata, num_outputs or 0, path)
    mean = overrides.pop("mean", None) or _metadata_json(metadata.get("mean", "null"), "mean", path) or [0.0]
    std = overrides.pop("std", None) or _metadata_json(metadata.get("std", "null"), "std", path) or [1.0]
    spec = {
        "size": size,
        "channels": facts.channels,
        "mean": mean,
        "std": std,
        "color": overrides.pop("color", None) or ("gray" if facts.channels == 1 else "rgb"),
        "interpolation": overrides.pop("interpolation", None) or ("area_linear" if size <= 64 else "bilinear"),
        "normalize": mean != [0.0] or std != [1.0],
    }
    card = {
        "id": overrides.pop("id", None) or path.stem,
        "family": "onnx",
        "architecture": "onnx",
        "labels": labels,
        "input": spec,
        "onnx": {"file": path.name, **facts.to_dict()},
        "provenance": f"derived from the ONNX file {path.name}: {facts.describe()}; labels {source}",
    }
    return ModelCard.from_dict(card, path)
