"""Checks that keep a model directory from running code, allocating at will, or loading a model that cannot predict.

Everything in a model directory is user-supplied: a directory downloaded from a hub or sent by a colleague is as
trustworthy as any upload. So the loader works in this order, and each step raises :class:`ModelLoadError` naming
the file and the reason:

1. JSON files are read as UTF-8 objects of bounded size (:mod:`fer_core.store.json_files`); ``auto_map``
   (transformers' hook for running Python files shipped in the directory) is refused outright.
2. The safetensors header is read without loading any tensor: it says exactly how many values the weights hold.
3. The architecture the config describes is built on the meta device (no memory) under a budget derived from that
   header, so a config asking for 10^9 classes or 10^5 layers stops after the first oversized parameter instead of
   allocating gigabytes or running for minutes; its tensor shapes are then compared with the header.
4. Only then is the model built for real and its weights read; non-finite weights are refused, and a zero batch of
   the card's input must come out as one finite probability per label.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from fer_core.store.card import InputSpec
from fer_core.store.json_files import MAX_LABELS, ModelLoadError

if TYPE_CHECKING:  # torch is imported where a torch model is checked: the ONNX path runs without it
    import torch
    from torch import nn

__all__ = [
    "MAX_PARAMETERS",
    "ModelLoadError",
    "build_on_meta",
    "built_or_refused",
    "check_finite",
    "check_predicts",
    "check_shapes",
    "check_value_count",
    "count_on_meta",
    "timm_build_args",
    "timm_hub_build_args",
    "weights_header",
]

MAX_PARAMETERS = 350_000_000  # ~1.4 GB in float32: above ViT-L (304 M), far below what a hostile config can ask for
# Set by the loader from config.json's own fields, or timm bookkeeping: never accepted inside model_args.
RESERVED_MODEL_ARGS = ("num_classes", "in_chans", "img_size", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")
_CONFIG_INTS = {"num_classes": (None, 1, MAX_LABELS), "in_chans": (1, 1, 3), "img_size": (48, 8, 512)}


# ------------------------------------------------------------------------------------------------ weights


def weights_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header (no tensor is read); bounded by :data:`MAX_PARAMETERS`."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error type, OSError and others for damaged files
        raise ModelLoadError(f"{path}: unreadable safetensors file ({err})") from err
    if not header:
        raise ModelLoadError(f"{path}: holds no tensors")
    total = header_values(header)
    if total > MAX_PARAMETERS:
        raise ModelLoadError(f"{path}: holds {total:,} values, more than the {MAX_PARAMETERS:,} a model may have")
    return header


def header_values(header: Mapping[str, Sequence[int]]) -> int:
    """Number of values (parameters and stored buffers) in a header."""
    return sum(int(np.prod(shape, dtype=np.int64)) for shape in header.values())


# ------------------------------------------------------------------------------------------------ config fields


def _int_field(config: Mapping, key: str, path: Path) -> int:
    default, low, high = _CONFIG_INTS[key]
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ModelLoadError(f"{path}: {key!r} must be an integer in {low}..{high}, got {value!r:.100}")
    return value


def timm_build_args(config: Mapping, path: Path) -> dict[str, Any]:
    """``create_model`` keyword arguments from a timm-layout ``config.json``, every field checked first."""
    architecture = config.get("architecture")
    if not isinstance(architecture, str):
        raise ModelLoadError(f"{path}: 'architecture' must be a name, got {architecture!r:.100}")
    model_args = config.get("model_args", {})
    if not isinstance(model_args, dict):
        raise ModelLoadError(f"{path}: 'model_args' must be a JSON object of keyword arguments, got {model_args!r:.80}")
    reserved = sorted(set(model_args) & set(RESERVED_MODEL_ARGS))
    if reserved:
        raise ModelLoadError(
            f"{path}: 'model_args' may not set {', '.join(reserved)} (the loader sets num_classes, in_chans and "
            "img_size from config.json, and never loads pretrained weights)"
        )
    ints = {key: _int_field(config, key, path) for key in _CONFIG_INTS}
    return {"architecture": architecture, **ints, **model_args}


def timm_hub_build_args(config: Mapping, path: Path) -> dict[str, Any]:
    """``timm.create_model`` keyword arguments from a user's timm ``config.json`` (timm's ``save_for_hf`` layout).

    ``num_classes`` and ``in_chans`` come from the config (``in_chans`` else ``pretrained_cfg.input_size[0]``);
    ``model_args`` pass through, except the ones the loader owns; ``img_size`` only where the config names it
    (most timm architectures take no such argument).
    """
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or not architecture:
        raise ModelLoadError(f"{path}: 'architecture' must be a timm model name, got {architecture!r:.100}")
    model_args = config.get("model_args") or {}
    if not isinstance(model_args, dict):
        raise ModelLoadError(f"{path}: 'model_args' must be a JSON object of keyword arguments, got {model_args!r:.80}")
    owned = sorted(set(model_args) & {"pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path"})
    if owned:
        raise ModelLoadError(f"{path}: 'model_args' may not set {', '.join(owned)} (nothing pretrained is loaded)")
    pretrained_cfg = config.get("pretrained_cfg")
    cfg = pretrained_cfg if isinstance(pretrained_cfg, dict) else {}
    input_size = cfg.get("input_size") or [3]
    fields = {
        **config,
        "num_classes": config.get("num_classes", model_args.get("num_classes")),
        "in_chans": model_args.get("in_chans", config.get("in_chans", input_size[0])),
    }
    args = {"architecture": architecture, **{k: _int_field(fields, k, path) for k in ("num_classes", "in_chans")}}
    if model_args.get("num_classes", args["num_classes"]) != args["num_classes"]:
        raise ModelLoadError(
            f"{path}: 'num_classes' is {args['num_classes']} but 'model_args' says {model_args['num_classes']!r:.20}"
        )
    if "img_size" in config:
        args["img_size"] = _int_field(config, "img_size", path)
    return {**model_args, **args}


# ------------------------------------------------------------------------------------------------ building


class _OverBudget(Exception):
    """Raised inside a model's constructor once it registers more than the directory's weights can fill."""


@contextmanager
def _registration_budget(max_values: int, max_modules: int) -> Iterator[None]:
    """Abort a model constructor (in this thread) once its parameters, buffers or submodules exceed the limits.

    torch calls the global registration hooks for every ``nn.Module`` attribute assignment, before the module
    goes on to build the next layer, so an absurd config stops at its first oversized layer.
    """
    from torch.nn.modules import module as torch_module

    thread = threading.get_ident()
    counts = {"values": 0, "modules": 0}

    def on_tensor(module: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
        if tensor is not None and threading.get_ident() == thread:
            counts["values"] += tensor.numel()
            if counts["values"] > max_values:
                raise _OverBudget(f"more than {max_values:,} values")

    def on_module(parent: nn.Module, name: str, child: nn.Module | None) -> None:
        if threading.get_ident() == thread:
            counts["modules"] += 1
            if counts["modules"] > max_modules:
                raise _OverBudget(f"more than {max_modules:,} layers")

    handles = [
        torch_module.register_module_parameter_registration_hook(on_tensor),
        torch_module.register_module_buffer_registration_hook(on_tensor),
        torch_module.register_module_module_registration_hook(on_module),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def build_on_meta(
    build: Callable[[], nn.Module], header: Mapping[str, Sequence[int]], config_path: Path
) -> dict[str, tuple[int, ...]]:
    """Tensor shapes of the model ``build()`` makes, built on the meta device under a budget set by ``header``.

    The budget (twice the header's values plus a margin for non-persistent buffers, and a layer count in
    proportion to its tensors) is far above any model that matches its weights, and far below what would hurt.
    """
    import torch

    max_values = min(MAX_PARAMETERS, 2 * header_values(header) + 1_000_000)
    max_modules = 20 * len(header) + 1000
    try:
        with _registration_budget(max_values, max_modules), torch.device("meta"):
            model = build()
    except _OverBudget as err:
        raise ModelLoadError(
            f"{config_path}: describes a model larger than its weights ({err}, while the weights hold "
            f"{header_values(header):,} values in {len(header)} tensors)"
        ) from None
    except Exception as err:  # a builder given odd arguments can raise anything
        reason = f"{type(err).__name__}: {err}"
        raise ModelLoadError(f"{config_path}: cannot build the model it describes ({reason})") from None
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def count_on_meta(build: Callable[[], nn.Module], max_values: int, max_modules: int = 100_000) -> int:
    """The number of parameters of the model ``build()`` makes, built on the meta device (no memory); ValueError
    once it registers more than ``max_values`` values or ``max_modules`` layers (checked layer by layer)."""
    import torch

    try:
        with _registration_budget(max_values, max_modules), torch.device("meta"):
            model = build()
    except _OverBudget as err:
        raise ValueError(f"the network would hold {err}") from None
    return sum(parameter.numel() for parameter in model.parameters())


Built = TypeVar("Built")


def built_or_refused(build: Callable[[], Built], where: Path) -> Built:
    """``build()``, with any exception turned into a ModelLoadError naming ``where``."""
    try:
        return build()
    except ModelLoadError:
        raise
    except Exception as err:  # constructors and from_pretrained raise many unrelated types for odd inputs
        raise ModelLoadError(f"{where}: cannot build the model ({type(err).__name__}: {err})") from err


def _listed(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} and {len(keys) - limit} more" if len(keys) > limit else shown


def check_shapes(
    expected: Mapping[str, Sequence[int]],
    header: Mapping[str, Sequence[int]],
    weights_path: Path,
    *,
    allow_unused: bool = False,
) -> None:
    """Every tensor the model needs is in the weights with the same shape (and, unless ``allow_unused``, no others)."""
    missing = [key for key in expected if key not in header]
    common = [key for key in expected if key in header]
    wrong = [
        f"{key} {tuple(header[key])} vs {tuple(expected[key])}"
        for key in common
        if tuple(header[key]) != tuple(expected[key])
    ]
    unused = [] if allow_unused else [key for key in header if key not in expected]
    if missing or wrong or unused:
        problems = [
            f"missing {_listed(missing)}" if missing else "",
            f"shapes differ (file vs config) for {_listed(wrong)}" if wrong else "",
            f"unexpected {_listed(unused)}" if unused else "",
        ]
        raise ModelLoadError(
            f"{weights_path}: weights do not match the architecture in config.json: "
            + "; ".join(p for p in problems if p)
        )


def check_value_count(
    expected: Mapping[str, Sequence[int]], header: Mapping[str, Sequence[int]], weights_path: Path
) -> None:
    """The weights hold at least as many values as the model needs.

    For transformers models, whose tensor names change between the file and the module (transformers renames
    them while loading), this is the check that can run before loading; transformers' own report of missing keys
    follows once the model is loaded.
    """
    needed, held = header_values(expected), header_values(header)
    if needed > held:
        raise ModelLoadError(
            f"{weights_path}: weights do not match the architecture in config.json: it needs {needed:,} values, "
            f"the file holds {held:,}"
        )


def check_finite(state: Mapping[str, torch.Tensor], weights_path: Path) -> None:
    """Refuse weights holding NaN or infinity: such a model returns NaN probabilities for every face."""
    import torch

    bad = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise ModelLoadError(f"{weights_path}: NaN or infinite values in {_listed(bad)}; the model cannot predict")


def check_predicts(
    predict_prepared: Callable[[np.ndarray], np.ndarray], labels: Sequence[str], spec: InputSpec, where: Path
) -> None:
    """A zero batch of the card's input must give one finite probability per label (any backend)."""
    batch = np.zeros((1, spec.channels, spec.size, spec.size), np.float32)
    try:
        probs = np.asarray(predict_prepared(batch))
    except Exception as err:  # torch and ONNX Runtime raise their own types for shape mismatches
        raise ModelLoadError(
            f"{where}: the model cannot run on the input its card describes ({spec.channels} channel(s), "
            f"{spec.size} px): {type(err).__name__}: {str(err)[:300]}"
        ) from None
    if probs.ndim != 2 or probs.shape != (1, len(labels)):
        outputs = probs.shape[-1] if probs.ndim else 0
        raise ModelLoadError(
            f"{where}: the model gives {outputs} outputs (shape {probs.shape[1:]}) but the card has "
            f"{len(labels)} labels ({', '.join(labels)})"
        )
    if not np.isfinite(probs).all():
        raise ModelLoadError(f"{where}: the model's outputs are NaN or infinite (broken weights?)")
