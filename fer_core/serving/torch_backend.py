"""The torch side of serving: save a model directory, build a directory's torch module, run it.

Imported only when a torch model is saved or served, so that serving an ONNX model needs no torch (nor timm or
transformers). Three layouts are built: the project's own timm-layout directories (``config.json`` names a ``fer_*``
entrypoint of the catalogue), a user's timm directory (``config.json`` with ``architecture``, ``num_classes``,
``model_args``, ``pretrained_cfg``, as timm's ``save_for_hf`` writes it: built with ``timm.create_model`` itself,
never pretrained) and transformers ``save_pretrained`` directories. Every build goes through
:mod:`fer_core.serving.model_guard` first (sizes bounded on the meta device, shapes compared with the weights).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fer_core.data.preprocess import InputSpec
from fer_core.models import architecture_info, create_model, list_architectures
from fer_core.models.hf import HFImageClassifier
from fer_core.serving.model_guard import (
    ModelLoadError,
    build_on_meta,
    built_or_refused,
    check_finite,
    check_shapes,
    check_value_count,
    timm_build_args,
    timm_hub_build_args,
    weights_header,
)
from fer_core.store.card import ModelCard
from fer_core.store.model_dir import CONFIG_FILE, EXPORTED_FILES, WEIGHTS_FILE, ModelDir

__all__ = ["build_module", "count_parameters", "forward_mflops", "is_catalogue_timm", "run_module", "save_model_dir"]

log = logging.getLogger(__name__)


def run_module(module: nn.Module, batch: np.ndarray) -> np.ndarray:
    """Logits of a torch module for a float32 ``(N, C, H, W)`` batch."""
    with torch.inference_mode():
        return module(torch.from_numpy(batch)).float().numpy()


def is_catalogue_timm(config: dict) -> bool:
    """True when a timm-layout config names one of the project's own entrypoints (``fer_*``), not timm's."""
    try:
        architecture_info(str(config.get("architecture")))
    except KeyError:
        return False
    return True


def save_model_dir(
    model: nn.Module,
    directory: str | Path,
    *,
    card: ModelCard,
    half: bool = True,
) -> Path:
    """Write ``model`` and its ``card`` into ``directory`` in the layout of its family.

    ``card`` must hold at least ``id``, ``architecture``, ``labels`` and ``input``; ``family``, ``params`` and
    ``weights_mb`` are filled in here. Weights are stored in float16 when ``half`` (halves the repo size; loading
    converts back to float32).
    """
    target = ModelDir(Path(directory))
    target.path.mkdir(parents=True, exist_ok=True)
    architecture, _, spec = _saved_fields(card)
    _remove_stale_exports(target.path)
    info = architecture_info(architecture)
    card = dataclasses.replace(
        card, family=info.family, params=count_parameters(model), mflops=forward_mflops(model, spec)
    )
    if info.family == "hf":
        _save_hf(model, target.path, half)
    else:
        _save_timm(model, target, card, half)
    weights = sorted(target.path.glob("*.safetensors"))
    card.weights_mb = round(sum(p.stat().st_size for p in weights) / 2**20, 3)
    target.write_card(card)
    return target.path


def _remove_stale_exports(directory: Path) -> None:
    """ONNX files exported from the weights about to be replaced: ``backend="auto"`` serves an ONNX file first, so
    a model retrained into the same folder would go on answering with its old weights."""
    for name in EXPORTED_FILES:
        path = directory / name
        if path.is_file():
            path.unlink()
            log.warning("%s removed: it was exported from the weights being replaced (run export again)", path)


def _saved_fields(card: ModelCard) -> tuple[str, tuple[str, ...], InputSpec]:
    """The card's ``architecture``, ``labels`` and ``input``; a ValueError names the first field (or ``id``) missing."""
    architecture, labels, spec = card.architecture, card.labels, card.input
    if card.id is None or architecture is None or labels is None or spec is None:
        missing = next(key for key in ("id", "architecture", "labels", "input") if getattr(card, key) is None)
        raise ValueError(f"card is missing {missing!r}")
    return architecture, labels, spec


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_mflops(model: nn.Module, spec: InputSpec) -> float | None:
    """Counted forward MFLOPs for one face at the card's input size (None where the counter cannot run the model)."""
    from fer_core.models.flops import count_mflops

    size, channels = spec.size, spec.channels
    device = next(model.parameters()).device
    try:
        return round(count_mflops(model.to("cpu"), size, channels), 2)
    except (RuntimeError, TypeError, ValueError) as error:
        log.warning("could not count the forward FLOPs: %s", error)
        return None
    finally:
        model.to(device)


def _state_for_saving(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value.half() if half and value.is_floating_point() else value.clone()
    return state


def _save_timm(model: nn.Module, directory: ModelDir, card: ModelCard, half: bool) -> None:
    architecture, labels, spec = _saved_fields(card)
    config = {  # timm's own create_model(**config) rebuilds it: the entrypoint's name, not the catalogue's
        "architecture": architecture_info(architecture).timm_name,
        "num_classes": int(card.num_outputs or len(labels)),
        "in_chans": spec.channels,
        "img_size": spec.size,
        "model_args": card.arch_args or {},
        "label_names": list(labels),
    }
    directory.write_json(CONFIG_FILE, config)
    save_file(_state_for_saving(model, half), str(directory.weights_path), metadata={"format": "pt"})


def _save_hf(model: nn.Module, directory: Path, half: bool) -> None:
    from transformers import PreTrainedModel

    hf_model = getattr(model, "hf_model", None)
    if not isinstance(hf_model, PreTrainedModel):
        raise TypeError(f"{type(model).__name__} is not a transformers-family model: it holds no 'hf_model'")
    save_pretrained_dir = getattr(model, "save_pretrained_dir", None)  # wrappers with extra parts (a head) save them
    if half:
        hf_model = hf_model.half()
    try:
        if save_pretrained_dir is not None:
            save_pretrained_dir(directory)
        else:
            hf_model.save_pretrained(directory, safe_serialization=True)
    finally:
        if half:
            hf_model.float()


# ----------------------------------------------------------------------------------------------- loading


def _load_state(directory: Path) -> dict[str, torch.Tensor]:
    try:
        state = load_file(str(directory / WEIGHTS_FILE))
    except Exception as err:  # safetensors raises several types for corrupt headers/truncation
        raise ModelLoadError(f"{directory / WEIGHTS_FILE}: unreadable safetensors file ({err})") from err
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _build_timm(directory: Path, config: dict) -> nn.Module:
    """A timm-layout model: config checked, shapes compared with the weights on the meta device, then built."""
    config_path = ModelDir(directory).config_path
    args = timm_build_args(config, config_path)
    try:
        architecture_info(args["architecture"])
    except KeyError as err:
        raise ModelLoadError(f"{config_path}: {err.args[0]}") from None

    def build() -> nn.Module:
        return create_model(**args)

    return _checked_build(build, directory)


def _checked_build(build: Callable[[], nn.Module], directory: Path) -> nn.Module:
    """``build()`` once its tensor shapes, built on the meta device, match the weights' header; then the weights."""
    config_path, weights_path = ModelDir(directory).config_path, ModelDir(directory).weights_path
    header = weights_header(weights_path)
    check_shapes(build_on_meta(build, header, config_path), header, weights_path)
    model = built_or_refused(build, config_path)
    try:
        model.load_state_dict(_load_state(directory))
    except RuntimeError as err:
        raise ModelLoadError(f"{weights_path}: weights do not match the architecture ({err})") from err
    return model


def _build_timm_hub(directory: Path, config: dict) -> nn.Module:
    """A user's timm directory: ``timm.create_model`` with the config's own arguments, never pretrained weights."""
    import timm

    config_path = ModelDir(directory).config_path
    args = timm_hub_build_args(config, config_path)
    name = args.pop("architecture")
    if not timm.is_model(name):
        raise ModelLoadError(
            f"{config_path}: unknown architecture {name!r}: neither a timm model (timm.list_models()) nor one of "
            f"FER Studio's; known: {', '.join(list_architectures())}"
        )

    def build() -> nn.Module:
        return timm.create_model(name, pretrained=False, **args)

    return _checked_build(build, directory)


def _hf_tower_class(config_path: Path, *, image_classifier: bool):
    """The transformers config of a directory and the model class to rebuild it with (never remote code).

    A hub directory must be an image classifier; a card's wrapper may hold a bare tower (CLIP vision).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

    try:
        config = AutoConfig.from_pretrained(config_path.parent, local_files_only=True, trust_remote_code=False)
    except Exception as err:  # unknown model_type, bad field values ...
        raise ModelLoadError(f"{config_path}: not a usable transformers config ({type(err).__name__}: {err})") from None
    for auto in (AutoModelForImageClassification, *(() if image_classifier else (AutoModel,))):
        if type(config) in auto._model_mapping:
            return config, auto._model_mapping[type(config)]
    raise ModelLoadError(f"{config_path}: model_type {config.model_type!r} is not an image-classification model")


def _check_hf_weights(directory: Path, *, image_classifier: bool) -> None:
    """Build the directory's transformers model on the meta device and compare it with the weights' header."""
    config_path, weights_path = ModelDir(directory).config_path, ModelDir(directory).weights_path
    config, model_class = _hf_tower_class(config_path, image_classifier=image_classifier)
    header = weights_header(weights_path)
    expected = build_on_meta(lambda: model_class._from_config(config), header, config_path)
    check_value_count(expected, header, weights_path)


def _build_hf(directory: Path, card: ModelCard | None) -> nn.Module:
    card_path = ModelDir(directory).card_path
    if card is not None:
        if card.architecture is None:
            raise ModelLoadError(f"{card_path}: missing 'architecture'; known: {', '.join(list_architectures())}")
        try:
            info = architecture_info(card.architecture)
        except KeyError as err:
            raise ModelLoadError(f"{card_path}: {err.args[0]}") from None
        _check_hf_weights(directory, image_classifier=False)
        wrapper = info.wrapper
        if wrapper is None:
            raise ModelLoadError(f"{card_path}: architecture {info.name!r} is not a transformers family")
        return built_or_refused(lambda: wrapper.from_pretrained_dir(directory), directory)
    from transformers import AutoModelForImageClassification

    _check_hf_weights(directory, image_classifier=True)
    hf_model, info = built_or_refused(
        lambda: AutoModelForImageClassification.from_pretrained(
            directory,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=False,
            dtype=torch.float32,
            output_loading_info=True,
        ),
        directory,
    )
    _refuse_partial_load(info, directory / WEIGHTS_FILE)
    return HFImageClassifier(hf_model.float())  # the same wrapper the catalogue's transformers families use


def _refuse_partial_load(info: dict, weights_path: Path) -> None:
    """transformers fills missing or mismatched tensors with random values: such a model predicts noise."""
    missing = sorted(info.get("missing_keys") or [])
    mismatched = sorted(str(item[0] if isinstance(item, tuple) else item) for item in info.get("mismatched_keys") or [])
    if missing or mismatched:
        shown = ", ".join([*missing, *mismatched][:3])
        raise ModelLoadError(
            f"{weights_path}: weights do not match the architecture in config.json ({len(missing)} missing, "
            f"{len(mismatched)} of another shape: {shown})"
        )


def build_module(directory: Path, card: ModelCard) -> nn.Module:
    """The torch module of a directory, its weights checked for NaN and infinity once loaded."""
    module = _build_unchecked(directory, card)
    check_finite(module.state_dict(), directory / WEIGHTS_FILE)
    return module


def _build_unchecked(directory: Path, card: ModelCard) -> nn.Module:
    config = ModelDir(directory).read_config()
    if "model_type" in config:
        return _build_hf(directory, card if card.arch_args is not None else None)
    if "architecture" in config:
        return _build_timm(directory, config) if is_catalogue_timm(config) else _build_timm_hub(directory, config)
    raise ModelLoadError(f"{directory / CONFIG_FILE}: neither 'architecture' (timm) nor 'model_type' (hf)")
