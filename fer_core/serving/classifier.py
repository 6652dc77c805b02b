"""Model directories: find them, save them, load one into a :class:`Classifier`.

``load_model(name_or_path)`` is the only way the app and the CLI get a model. A model directory holds
``card.json`` (labels, input spec, training facts, metrics) and its weights in one of two layouts that are never
mixed: timm layout (``config.json`` with ``architecture`` + ``model.safetensors``) or transformers
``save_pretrained`` layout (``config.json`` with ``model_type``). A directory a user downloaded from the Hugging
Face hub (an image-classification model saved with safetensors) loads too, without a card. Weights are read with
safetensors only; pickle files are refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fer_core.data.preprocess import TTA_MODES, InputSpec, prepare_batch, tta_views
from fer_core.errors import UnsupportedModelError
from fer_core.models import architecture_info, create_model
from fer_core.models.clip_vision import CLIPVisionClassifier
from fer_core.models.hf import HFImageClassifier
from fer_core.serving.fusion import Fusion, answer_description, fusion_of_card
from fer_core.serving.model_guard import (
    ModelLoadError,
    build_on_meta,
    built_or_refused,
    check_finite,
    check_predicts,
    check_shapes,
    check_value_count,
    timm_build_args,
    weights_header,
)
from fer_core.store.card import INPUT_EXPECTED, ModelCard
from fer_core.store.json_files import read_json_object
from fer_core.store.model_dir import (
    CONFIG_FILE,
    HEAD_SEPARATOR,
    ONNX_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILE,
    Checkpoints,
    ModelDir,
    split_head,
)

if TYPE_CHECKING:
    from fer_core.serving.ensemble import EnsembleClassifier

__all__ = [
    "AnyClassifier",
    "Classifier",
    "ModelLoadError",
    "attach_onnx_file",
    "load_model",
    "load_trained_model",
    "onnx_session",
    "refuse_ensemble",
    "save_model_dir",
    "served_onnx_file",
    "weights_sha256",
]

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of the weights file (identifies exactly which weights produced a stored run).

    An ensemble directory has no weights of its own: its hash covers its members' weights, in order.
    """
    directory = ModelDir(model_dir)
    if not directory.weights_path.is_file() and directory.has_card() and directory.read_card().is_ensemble:
        ensemble = load_model(directory.path, backend="torch")
        if not isinstance(ensemble, Classifier):
            return ensemble.weights_sha256()
    digest = hashlib.sha256()
    with open(directory.weights_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------- saving


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
    for key in ("id", "architecture", "labels", "input"):
        if getattr(card, key) is None:
            raise ValueError(f"card is missing {key!r}")
    assert card.architecture is not None and card.input is not None  # checked above; tells the type checker
    info = architecture_info(card.architecture)
    card = dataclasses.replace(
        card, family=info.family, params=count_parameters(model), mflops=forward_mflops(model, card.input)
    )
    if info.family == "hf":
        _save_hf(model, target.path, half)
    else:
        _save_timm(model, target, card, half)
    weights = sorted(target.path.glob("*.safetensors"))
    card.weights_mb = round(sum(p.stat().st_size for p in weights) / 2**20, 3)
    target.write_card(card)
    return target.path


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
    if card.architecture is None or card.labels is None or card.input is None:
        raise ValueError("card is missing 'architecture', 'labels' or 'input'")
    config = {  # timm's own create_model(**config) rebuilds it: the entrypoint's name, not the catalogue's
        "architecture": architecture_info(card.architecture).timm_name,
        "num_classes": int(card.num_outputs or len(card.labels)),
        "in_chans": card.input.channels,
        "img_size": card.input.size,
        "model_args": card.arch_args or {},
        "label_names": list(card.labels),
    }
    directory.write_json(CONFIG_FILE, config)
    save_file(_state_for_saving(model, half), str(directory.weights_path), metadata={"format": "pt"})


def _save_hf(model: nn.Module, directory: Path, half: bool) -> None:
    if not isinstance(model, HFImageClassifier | CLIPVisionClassifier):
        raise TypeError(f"a transformers-family model must be wrapped in HFImageClassifier, got {type(model).__name__}")
    hf_model = model.hf_model
    if half:
        hf_model = hf_model.half()
    try:
        model.save_pretrained_dir(directory)  # a wrapper with extra parts (e.g. a head) saves them too
    finally:
        if half:
            hf_model.float()


# ----------------------------------------------------------------------------------------------- loading


def _check_weights_safe(directory: Path) -> None:
    if (directory / WEIGHTS_FILE).is_file() or (directory / ONNX_FILE).is_file():
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"{directory}: only pickle weights found ({', '.join(pickles)}); they can run arbitrary code and are "
            "refused. Convert them to model.safetensors (safetensors.torch.save_file)."
        )
    raise ModelLoadError(f"{directory}: no {WEIGHTS_FILE} found")


def _load_state(directory: Path) -> dict[str, torch.Tensor]:
    try:
        state = load_file(str(directory / WEIGHTS_FILE))
    except Exception as err:  # safetensors raises several types for corrupt headers/truncation
        raise ModelLoadError(f"{directory / WEIGHTS_FILE}: unreadable safetensors file ({err})") from err
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _build_timm(directory: Path, config: dict) -> nn.Module:
    """A timm-layout model: config checked, shapes compared with the weights on the meta device, then built."""
    config_path, weights_path = ModelDir(directory).config_path, ModelDir(directory).weights_path
    args = timm_build_args(config, config_path)
    try:
        architecture_info(args["architecture"])
    except KeyError as err:
        raise ModelLoadError(f"{config_path}: {err.args[0]}") from None

    def build() -> nn.Module:
        return create_model(**args)

    header = weights_header(weights_path)
    check_shapes(build_on_meta(build, header, config_path), header, weights_path)
    model = built_or_refused(build, config_path)
    try:
        model.load_state_dict(_load_state(directory))
    except RuntimeError as err:
        raise ModelLoadError(f"{weights_path}: weights do not match the architecture ({err})") from err
    return model


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
        try:
            info = architecture_info(str(card.architecture))
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


def _hub_labels(config: dict, path: Path) -> list[str]:
    """Class names from a transformers config's ``id2label``, in output order."""
    id2label = config.get("id2label")
    try:
        return [str(id2label[key]) for key in sorted(id2label, key=int)] if isinstance(id2label, dict) else []
    except (TypeError, ValueError):
        raise ModelLoadError(f"{path}: 'id2label' keys must be class indices 0, 1, ...") from None


def _preprocessor_size(prep: dict, path: Path) -> int:
    """The square input side from a preprocessor config's ``size`` (an integer, height/width or shortest_edge)."""
    size = prep.get("size")
    value = size.get("height", size.get("shortest_edge")) if isinstance(size, dict) else size
    if not isinstance(value, int) or isinstance(value, bool):
        raise ModelLoadError(
            f"{path}: 'size' must be an integer, {{'height': n, 'width': n}} or {{'shortest_edge': n}}; "
            f"got {size!r:.80}"
        )
    return value


def _card_for_hub_dir(directory: Path, config: dict) -> ModelCard:
    """A minimal card for a downloaded image-classification directory (labels and input from its own files).

    Without ``preprocessor_config.json`` the input size is unknown (224 px guessed for a 48 px model predicts
    nothing useful), so the directory is refused.
    """
    prep_path = directory / PREPROCESSOR_FILE
    if not prep_path.is_file():
        raise ModelLoadError(
            f"{directory}: no {PREPROCESSOR_FILE}, so the input size and normalisation are unknown; add one with "
            '{"size": {"height": n, "width": n}, "image_mean": [...], "image_std": [...]}'
        )
    prep = read_json_object(prep_path)
    channels = config.get("num_channels", 3)
    mean = prep.get("image_mean", [0.5] * channels if isinstance(channels, int) else [0.5])
    card = {
        "id": directory.name,
        "family": "hf",
        "architecture": config.get("model_type", "unknown"),
        "labels": _hub_labels(config, ModelDir(directory).config_path),
        "input": {
            "size": _preprocessor_size(prep, prep_path),
            "channels": channels,
            "mean": mean,
            "std": prep.get("image_std", [0.5] * len(mean) if isinstance(mean, list) else [0.5]),
        },
        "provenance": "user-supplied Hugging Face image-classification directory",
    }
    return ModelCard.from_dict(card, ModelDir(directory).config_path)


@dataclass
class Classifier:
    """A loaded model with its labels and preprocessing: ``predict(crops) -> (N, C)`` probabilities.

    A model with several heads (one block of outputs per label set, card ``heads``) serves one of them: ``outputs``
    is that block's ``(start, stop)`` in the logits. ``logit_bias`` (the card's post-hoc class-prior adjustment,
    chosen on the validation split) is added to the head's logits before the softmax.
    """

    name: str
    labels: tuple[str, ...]
    input_spec: InputSpec
    card: ModelCard
    directory: Path
    module: nn.Module | None = None
    onnx_session: Any = None
    tta: str = "none"
    batch_size: int = 256
    head: str | None = None
    outputs: tuple[int, int] | None = None
    logit_bias: np.ndarray | None = None
    fusion: Fusion | None = None  # a fused head (fer_core.serving.fusion): several heads' probabilities averaged
    _input_name: str = field(default="input", repr=False)

    @property
    def input_size(self) -> int:
        return self.input_spec.size

    @property
    def answer(self) -> str:
        """Which label set this classifier answers in, and from which head(s), in words."""
        return answer_description(self.head, self.labels, self.fusion)

    @property
    def backend(self) -> str:
        return "onnx" if self.onnx_session is not None else "torch"

    def predict(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Class probabilities for uint8 face crops (BGR or grey, any size)."""
        batch = prepare_batch(crops, self.input_spec)
        return self.predict_prepared(batch)

    def predict_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for an already normalised batch ``(N, C, H, W)``, averaged over TTA views."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        views = tta_views(batch, self.tta)
        probs = np.stack([self._softmax_logits(v) for v in views]).sum(axis=0) / len(views)
        return probs.astype(np.float32)

    def head_logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits of the served head (its block of outputs, plus the card's logit bias) for a prepared batch.

        A fused head has no logits of its own: its log-probabilities stand in (same argmax, same softmax).
        """
        logits = self.output_logits(batch)
        if self.fusion is not None:
            return np.log(np.maximum(self.fusion.probabilities(logits), 1e-30))
        if self.outputs is not None:
            logits = logits[:, self.outputs[0] : self.outputs[1]]
        if self.logit_bias is not None:
            logits = logits + self.logit_bias
        return logits

    def output_logits(self, batch: np.ndarray) -> np.ndarray:
        """Every output of the network (all heads, no bias) for a prepared batch, in chunks of ``batch_size``."""
        chunks = [self._logits(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(chunks)

    def _softmax_logits(self, batch: np.ndarray) -> np.ndarray:
        logits = self.head_logits(batch)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.onnx_session is not None:
            return self.onnx_session.run(None, {self._input_name: batch})[0]
        if self.module is None:
            raise RuntimeError(f"{self.name}: no backend attached (neither a torch module nor an ONNX session)")
        with torch.inference_mode():
            return self.module(torch.from_numpy(batch)).float().numpy()


@dataclass(frozen=True)
class ServedHead:
    """The part of a card one loaded classifier serves: its name, labels, block of outputs and logit bias."""

    name: str | None
    labels: tuple[str, ...]
    outputs: tuple[int, int] | None
    logit_bias: np.ndarray | None
    fusion: Fusion | None = None


def _served_head(card: ModelCard, head: str | None, card_path: Path) -> ServedHead:
    """The head ``head`` of a multi-head card (its ``default_head`` when None), or the card itself."""
    fused = _fused_head(card, head, card_path)
    if fused is not None:
        return fused
    if not card.heads:
        if head is not None and head != card.label_set:
            raise ModelLoadError(f"{card_path.parent}: model has one head ({card.label_set or '?'}), not {head!r}")
        return ServedHead(None, _labels_or_fail(card.labels, card_path), None, _bias(card, card_path))
    head = head or card.default_head or next(iter(card.heads))
    if head not in card.heads:
        raise ModelLoadError(f"{card_path.parent}: unknown head {head!r}; known: {', '.join(card.heads)}")
    entry = card.heads[head]
    if entry.outputs is None:
        raise ModelLoadError(f"{card_path}: a head's 'outputs' must be [start, stop], got None")
    return ServedHead(head, _labels_or_fail(entry.labels, card_path), entry.outputs, _bias(entry, card_path))


def _fused_head(card: ModelCard, head: str | None, card_path: Path) -> ServedHead | None:
    """The card's fused head when it is the one asked for (or the default); None otherwise."""
    try:
        fusion = fusion_of_card(card, str(card_path))
    except ValueError as err:
        raise ModelLoadError(str(err)) from None
    if fusion is None or (head or card.default_head) != fusion.name:
        return None
    return ServedHead(fusion.name, fusion.labels, None, None, fusion)


def _labels_or_fail(labels: tuple[str, ...] | None, card_path: Path) -> tuple[str, ...]:
    if not labels:
        raise ModelLoadError(f"{card_path}: missing or empty 'labels' (a list of class names in output order)")
    return labels


def _bias(part, card_path: Path) -> np.ndarray | None:
    """A card's (or head's) ``logit_bias`` as float32, one finite value per class (None when it has none)."""
    if part.logit_bias is None:
        return None
    values = np.asarray(part.logit_bias, np.float32)
    classes = len(part.labels or ())
    if values.shape != (classes,) or not np.isfinite(values).all():
        raise ModelLoadError(
            f"{card_path}: 'logit_bias' must be {classes} finite numbers, got {list(part.logit_bias)!r:.80}"
        )
    return values


def _card_of(directory: ModelDir) -> ModelCard:
    """The directory's card, or a minimal one made from a downloaded hub directory's own files."""
    if directory.has_card():
        return directory.read_card()
    config = directory.read_config()
    if "model_type" not in config:
        raise ModelLoadError(f"{directory.path}: no card.json and config.json has no model_type (not a model dir)")
    return _card_for_hub_dir(directory.path, config)


# What load_model returns: one network, or an ensemble of them (the same predicting interface, no weights of its own).
AnyClassifier: TypeAlias = "Classifier | EnsembleClassifier"


def load_model(
    name_or_path: str | Path = "default",
    *,
    backend: str = "auto",
    tta: str = "none",
    root: Path | None = None,
    head: str | None = None,
) -> AnyClassifier:
    """Load a shipped model (by name, or ``"default"``) or a model directory at a path.

    ``backend``: ``"torch"``, ``"onnx"`` (needs ``model.onnx`` in the directory) or ``"auto"`` (ONNX Runtime when
    the directory has an exported model - faster on CPU - else torch). ``head`` picks the label set of a
    multi-head model (also written ``name@head``); the card's ``default_head`` otherwise.
    """
    if backend not in ("auto", "torch", "onnx"):
        raise ValueError(f"unknown backend {backend!r}; known: auto, torch, onnx")
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; known: {', '.join(TTA_MODES)}")
    name_or_path, named_head = split_head(name_or_path)
    directory = Checkpoints.at(root).resolve(name_or_path)
    if directory.has_card() and (card := directory.read_card()).is_ensemble:
        from fer_core.serving.ensemble import load_ensemble

        return load_ensemble(directory.path, card, backend=backend, tta=tta)
    _check_weights_safe(directory.path)
    card = _card_of(directory)
    served = _served_head(card, head or named_head, directory.card_path)
    if card.input is None:
        raise ModelLoadError(f"{directory.card_path}: missing or empty 'input'; {INPUT_EXPECTED}")
    clf = Classifier(
        name=f"{card.id or directory.name}{HEAD_SEPARATOR}{served.name}" if served.name else card.id or directory.name,
        labels=served.labels,
        input_spec=card.input,
        card=card,
        directory=directory.path,
        tta=tta,
        head=served.name,
        outputs=served.outputs,
        logit_bias=served.logit_bias,
        fusion=served.fusion,
    )
    _check_card_matches_config(card, directory)
    if backend == "onnx" or (backend == "auto" and served_onnx_file(directory.path, card).is_file()):
        _attach_onnx(clf, directory.path)
    else:
        clf.module = _build_module(directory.path, card).eval()
    check_predicts(clf.predict_prepared, clf.labels, card.input, directory.path)
    return clf


def refuse_ensemble(name_or_path: str | Path, action: str, *, root: Path | None = None) -> None:
    """Raise :class:`UnsupportedModelError` when ``name_or_path`` is an ensemble: ``action`` needs one network.

    Export, quantisation and the logit adjustment work on one set of weights; an ensemble only averages its
    members' probabilities, so the message tells the user to run ``action`` on each member instead.
    """
    directory = Checkpoints.at(root).resolve(split_head(name_or_path)[0])
    if directory.has_card() and (card := directory.read_card()).is_ensemble:
        members = ", ".join(card.members or ())
        raise UnsupportedModelError(
            f"{directory.card_path}: {directory.name} is an ensemble of {members}; {action} works on one trained "
            f"model: run it on each member"
        )


def load_trained_model(
    name_or_path: str | Path, *, action: str, root: Path | None = None, **options: Any
) -> Classifier:
    """:func:`load_model` for a command that needs one network's weights; an ensemble is refused (see above)."""
    refuse_ensemble(name_or_path, action, root=root)
    clf = load_model(name_or_path, root=root, **options)
    if not isinstance(clf, Classifier):  # an ensemble without an ensemble card cannot load; kept for the type
        raise UnsupportedModelError(f"{clf.directory}: {action} works on one trained model, not {clf.name}")
    return clf


def _check_card_matches_config(card: ModelCard, directory: ModelDir) -> None:
    """A timm-layout ``config.json`` (what timm rebuilds) must describe the model its card describes.

    The card is what the app reads (labels, input), the config what builds the network; a directory where they
    disagree would build one model and preprocess or label for another, so it is refused naming both values.
    """
    if card.arch_args is None or not directory.config_path.is_file():
        return
    config = directory.read_config()
    if "architecture" not in config:
        return
    spec = card.input
    if spec is None:
        return
    outputs = card.num_outputs or len(card.labels or ())
    expected = {"in_chans": spec.channels, "img_size": spec.size, "num_classes": outputs}
    for key, value in expected.items():
        if key in config and config[key] != value:
            described = f"{len(card.labels or ())} labels, {outputs} outputs, {spec.channels} input channels"
            raise ModelLoadError(
                f"{directory.path}: config.json has {key} {config[key]!r} but card.json describes {value} "
                f"({described}, {spec.size} px); the two files must describe one model"
            )


def _build_module(directory: Path, card: ModelCard) -> nn.Module:
    """The torch module of a directory, its weights checked for NaN and infinity once loaded."""
    module = _build_unchecked(directory, card)
    check_finite(module.state_dict(), directory / WEIGHTS_FILE)
    return module


def _build_unchecked(directory: Path, card: ModelCard) -> nn.Module:
    config = ModelDir(directory).read_config()
    if "model_type" in config:
        return _build_hf(directory, card if card.arch_args is not None else None)
    if "architecture" in config:
        return _build_timm(directory, config)
    raise ModelLoadError(f"{directory / CONFIG_FILE}: neither 'architecture' (timm) nor 'model_type' (hf)")


def served_onnx_file(directory: Path, card: ModelCard) -> Path:
    """The ONNX file a model serves: the card's quantised file when it has one (and it exists), else model.onnx."""
    name = card.onnx_file
    if name is not None and (directory / name).is_file():
        return directory / name
    return directory / ONNX_FILE


def _attach_onnx(clf: Classifier, directory: Path) -> None:
    path = served_onnx_file(directory, clf.card)
    if not path.is_file():
        raise ModelLoadError(f"{directory}: backend 'onnx' asked for but {ONNX_FILE} is missing (run export)")
    attach_onnx_file(clf, path)


def attach_onnx_file(clf: Classifier, path: Path, threads: int = 1) -> None:
    """Run ``clf`` on the ONNX file at ``path`` with ``threads`` intra-op threads (fixed when the session is made).

    One thread by default: one face batch is tiny, and one thread avoids contention with the face detector.
    """
    session = onnx_session(path, threads)
    clf.onnx_session = session
    clf._input_name = session.get_inputs()[0].name


def onnx_session(path: Path, threads: int = 1):
    """An ONNX Runtime CPU session for ``path``, with ONNX Runtime's usage telemetry switched off first.

    ONNX Runtime can report usage events to its vendor; nothing here may reach the network at run time, so every
    session of the project is made through this function.
    """
    import onnxruntime as ort

    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ModelLoadError(f"{path}: ONNX Runtime cannot load it ({err})") from err
