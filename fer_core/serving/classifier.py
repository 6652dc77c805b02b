"""Models from their files: ``load_model(name_or_path)`` -> :class:`Classifier` or an ensemble, on torch or ONNX.

``load_model`` is the only way the app and the CLI get a model: a shipped name, a FER Studio model directory
(``card.json`` + weights in timm layout or transformers ``save_pretrained`` layout, never mixed), a user's
transformers or timm directory, or an ONNX file (:mod:`fer_core.serving.formats`). A directory without a card gets
one derived from its own files, written beside them and logged. Weights are read with safetensors only; pickle
files are refused. This module imports no torch: the torch side (:mod:`fer_core.serving.torch_backend`) is imported
only when a torch model is served, so serving an ONNX model needs neither torch, timm nor transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from fer_core.data.preprocess import TTA_MODES, InputSpec, prepare_batch, tta_views
from fer_core.errors import UnsupportedModelError
from fer_core.serving import formats
from fer_core.serving.ensemble import EnsembleClassifier, load_ensemble
from fer_core.serving.fusion import Fusion, answer_description, fusion_of_card
from fer_core.serving.model_guard import check_predicts
from fer_core.store.card import INPUT_EXPECTED, ModelCard
from fer_core.store.files import file_sha256
from fer_core.store.json_files import ModelLoadError
from fer_core.store.model_dir import (
    HEAD_SEPARATOR,
    ONNX_FILE,
    WEIGHTS_FILE,
    Checkpoints,
    ModelDir,
    split_head,
)

__all__ = [
    "AnyClassifier",
    "Classifier",
    "ModelLoadError",
    "attach_onnx_file",
    "derive_card",
    "import_model",
    "load_model",
    "load_trained_model",
    "onnx_session",
    "refuse_ensemble",
    "served_onnx_file",
    "weights_sha256",
]

TORCH_INSTALL = "pip install -r requirements.txt (the full install, with torch, timm and transformers)"
_TORCH_SIDE = ("save_model_dir", "count_parameters", "forward_mflops")


def __getattr__(name: str):
    """The torch-side helpers, imported on first use (``from fer_core.serving.classifier import save_model_dir``)."""
    if name in _TORCH_SIDE:
        from fer_core.serving import torch_backend

        return getattr(torch_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
            return ensemble.weights_sha256(weights_sha256)
    path = directory.weights_path
    if not path.is_file() and directory.has_card():
        path = served_onnx_file(directory.path, directory.read_card())
    return file_sha256(path)


# ----------------------------------------------------------------------------------------------- loading


def _check_weights_safe(directory: Path) -> None:
    if (directory / WEIGHTS_FILE).is_file() or formats.onnx_file_of(directory) is not None:
        return
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"{directory}: only pickle weights found ({', '.join(pickles)}); they can run arbitrary code and are "
            "refused. Convert them to model.safetensors (safetensors.torch.save_file)."
        )
    raise ModelLoadError(f"{directory}: no {WEIGHTS_FILE} found")


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
    module: Any = None  # a torch nn.Module on the torch backend
    onnx_session: Any = None
    tta: str = "none"
    batch_size: int = 256
    head: str | None = None
    outputs: tuple[int, int] | None = None
    logit_bias: np.ndarray | None = None
    fusion: Fusion | None = None  # a fused head (fer_core.serving.fusion): several heads' probabilities averaged
    onnx_facts: formats.OnnxFacts | None = None
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
        """Class probabilities for uint8 face crops (BGR or grey, any size), each converted by the model's own
        transform (colour or grey, its size, resize/crop policy and scaling)."""
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
        if self.fusion is not None:  # already probabilities: no log and softmax again (the default serves this)
            return self.fusion.probabilities(self.output_logits(batch))
        logits = self.head_logits(batch)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.onnx_session is None:
            from fer_core.serving.torch_backend import run_module

            return run_module(self.module, batch)
        facts = self.onnx_facts or formats.OnnxFacts("NCHW", None, batch.shape[1], None)
        if facts.layout == "NHWC":
            batch = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
        outputs = self._run_onnx_batches(batch, facts.batch)
        if facts.outputs == "probabilities":  # a graph ending in softmax: back to logits, so softmax runs once
            return np.log(np.clip(outputs, 1e-12, None))
        return outputs

    def _run_onnx_batches(self, batch: np.ndarray, fixed: int | None) -> np.ndarray:
        """The session's first output; a fixed-batch model runs ``fixed`` faces at a time, the last chunk padded."""
        if fixed is None or len(batch) == fixed:
            return self.onnx_session.run(None, {self._input_name: batch})[0]
        chunks = []
        for start in range(0, len(batch), fixed):
            chunk = batch[start : start + fixed]
            padded = np.concatenate([chunk, np.zeros((fixed - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            chunks.append(self.onnx_session.run(None, {self._input_name: padded})[0][: len(chunk)])
        return np.concatenate(chunks)


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


def _input_or_fail(card: ModelCard, card_path: Path) -> InputSpec:
    if card.input is None:
        raise ModelLoadError(f"{card_path}: missing or empty 'input'; {INPUT_EXPECTED}")
    return card.input


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


def derive_card(directory: ModelDir) -> ModelCard:
    """The card of a directory that has none, from its own files (transformers, timm or ONNX)."""
    present = directory.config_path.exists() or directory.config_path.is_symlink()
    if not present:
        onnx_file = formats.onnx_file_of(directory.path)
        if onnx_file is None:
            raise ModelLoadError(
                f"{directory.path}: no card.json, config.json or .onnx file. {formats.SUPPORTED_FORMATS}"
            )
        session = onnx_session(onnx_file)
        return formats.card_for_onnx(onnx_file, session, formats.inspect_onnx(session, onnx_file))
    config = directory.read_config()
    if "model_type" in config:
        return formats.card_for_hf_dir(directory.path, config)
    if "architecture" in config:
        _need_torch(directory.path, "timm")
        return formats.card_for_timm_dir(directory.path, config)
    raise ModelLoadError(
        f"{directory.config_path}: neither 'model_type' (transformers) nor 'architecture' (timm); "
        f"{formats.SUPPORTED_FORMATS}"
    )


def _card_of(directory: ModelDir) -> ModelCard:
    """The directory's card; without one, a card derived from its own files, written beside them and logged."""
    if directory.has_card():
        return directory.read_card()
    card = derive_card(directory)
    try:
        directory.write_card(card)
        log.warning("%s: no card.json; derived and wrote one: %s", directory.path, card.to_dict())
    except OSError as err:  # a read-only folder still loads; the card is then derived on each load
        log.warning("%s: derived card (not written: %s): %s", directory.path, err.strerror, card.to_dict())
    return card


_IMPORTED_FILES = ("config.json", "preprocessor_config.json", "*.safetensors", "*.onnx", "card.json")


def import_model(
    source: str | Path, *, root: Path | None = None, name: str | None = None, overrides: dict | None = None
) -> tuple[Path, ModelCard]:
    """Copy a user's model (transformers or timm directory, ONNX file) into a model directory under the checkpoints
    root, with its card derived from its own files, and check that it loads and predicts.

    Only safetensors weights, configs and ONNX files are copied (never pickle files). ``overrides`` (ONNX: ``labels``,
    ``size``, ``color``, ``mean``, ``std``, ``interpolation``) say what an ONNX file cannot.
    """
    import shutil

    source = Path(source).expanduser()
    formats.refuse_unsupported_file(source)
    if not source.exists():
        raise ModelLoadError(f"{source}: no such file or directory. Supported: {formats.SUPPORTED_FORMATS}")
    target = ModelDir(Checkpoints.at(root).root / (name or source.stem))
    if target.path.exists():
        raise ModelLoadError(f"{target.path} exists already; choose another --name")
    target.path.mkdir(parents=True)
    if source.is_file():
        shutil.copy2(source, target.path / ONNX_FILE)
    else:
        for pattern in _IMPORTED_FILES:
            for path in source.glob(pattern):
                shutil.copy2(path, target.path / path.name)
    try:
        card = _imported_card(target, overrides)
        card.id = target.name
        target.write_card(card)
        load_model(target.path)
    except BaseException:
        shutil.rmtree(target.path)
        raise
    return target.path, card


def _imported_card(target: ModelDir, overrides: dict | None) -> ModelCard:
    if target.has_card():
        return target.read_card()
    onnx_file = formats.onnx_file_of(target.path)
    if onnx_file is not None and not target.config_path.is_file():
        session = onnx_session(onnx_file)
        return formats.card_for_onnx(onnx_file, session, formats.inspect_onnx(session, onnx_file), overrides)
    if overrides:
        raise ModelLoadError(f"{target.path}: --labels/--size/--color/--mean/--std apply to ONNX files only")
    return derive_card(target)


def _need_torch(where: Path, kind: str) -> None:
    """A clear error when a torch model is asked for on an install without torch (the light ONNX install)."""
    missing = [name for name in ("torch", "timm", "transformers") if not _installed(name)]
    if missing:
        raise ModelLoadError(
            f"{where}: a {kind} model runs on torch, which this install lacks ({', '.join(missing)} missing); "
            f"{TORCH_INSTALL}, or serve an ONNX export of the model (backend 'onnx')"
        )


def _installed(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _load_onnx_file(path: Path, tta: str) -> Classifier:
    """A bare ``.onnx`` file: its card derived in memory (``import-model`` makes it a model directory)."""
    session = onnx_session(path)
    facts = formats.inspect_onnx(session, path)
    card = formats.card_for_onnx(path, session, facts)
    log.warning("%s: derived card: %s", path, card.to_dict())
    spec = _input_or_fail(card, path)
    clf = Classifier(card.id or path.stem, _labels_or_fail(card.labels, path), spec, card, path.parent, tta=tta)
    _attach_session(clf, session)
    check_predicts(clf.predict_prepared, clf.labels, spec, path)
    return clf


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
    """Load a shipped model (by name, or ``"default"``), a model directory or an ONNX file at a path.

    ``backend``: ``"torch"``, ``"onnx"`` (needs an ONNX file) or ``"auto"`` (ONNX Runtime when the directory has an
    exported model - faster on CPU - else torch). An ONNX-only model is served by ONNX Runtime on any backend.
    ``head`` picks the label set of a multi-head model (also written ``name@head``); the card's ``default_head``
    otherwise.
    """
    if backend not in ("auto", "torch", "onnx"):
        raise ValueError(f"unknown backend {backend!r}; known: auto, torch, onnx")
    if tta not in TTA_MODES:
        raise ValueError(f"unknown tta {tta!r}; known: {', '.join(TTA_MODES)}")
    name_or_path, named_head = split_head(name_or_path)
    path = Path(str(name_or_path)).expanduser()
    formats.refuse_unsupported_file(path)
    if path.is_file():
        return _load_onnx_file(path, tta)
    directory = Checkpoints.at(root).resolve(name_or_path)
    if directory.has_card() and (card := directory.read_card()).is_ensemble:
        return load_ensemble(directory.path, card, backend=backend, tta=tta, load_member=load_model)
    _check_weights_safe(directory.path)
    card = _card_of(directory)
    served = _served_head(card, head or named_head, directory.card_path)
    spec = _input_or_fail(card, directory.card_path)
    clf = Classifier(
        name=f"{card.id or directory.name}{HEAD_SEPARATOR}{served.name}" if served.name else card.id or directory.name,
        labels=served.labels,
        input_spec=spec,
        card=card,
        directory=directory.path,
        tta=tta,
        head=served.name,
        outputs=served.outputs,
        logit_bias=served.logit_bias,
        fusion=served.fusion,
    )
    _check_card_matches_config(card, directory)
    onnx_only = not directory.weights_path.is_file()
    if onnx_only or backend == "onnx" or (backend == "auto" and served_onnx_file(directory.path, card).is_file()):
        _attach_onnx(clf, directory.path)
    else:
        _need_torch(directory.path, "torch")
        from fer_core.serving.torch_backend import build_module

        clf.module = build_module(directory.path, card).eval()
    check_predicts(clf.predict_prepared, clf.labels, spec, directory.path)
    formats.check_card_labels(card, formats.model_label_names(directory), directory.card_path)
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


def served_onnx_file(directory: Path, card: ModelCard) -> Path:
    """The ONNX file a model serves: the card's quantised file when it has one (and it exists), else model.onnx."""
    name = card.onnx_file
    if name is not None and (directory / name).is_file():
        return directory / name
    return (
        directory / ONNX_FILE
        if (directory / ONNX_FILE).is_file()
        else formats.onnx_file_of(directory) or (directory / ONNX_FILE)
    )


def _attach_onnx(clf: Classifier, directory: Path) -> None:
    path = served_onnx_file(directory, clf.card)
    if not path.is_file():
        raise ModelLoadError(f"{directory}: backend 'onnx' asked for but {ONNX_FILE} is missing (run export)")
    attach_onnx_file(clf, path)


def attach_onnx_file(clf: Classifier, path: Path, threads: int = 1) -> None:
    """Run ``clf`` on the ONNX file at ``path`` with ``threads`` intra-op threads (fixed when the session is made).

    One thread by default: one face batch is tiny, and one thread avoids contention with the face detector.
    """
    _attach_session(clf, onnx_session(path, threads))


def _attach_session(clf: Classifier, session: Any) -> None:
    """Serve ``clf`` on ``session``, with the graph's layout, batch and output kind detected (and logged)."""
    path = clf.directory
    facts = formats.inspect_onnx(session, path)
    clf.onnx_session = session
    clf._input_name = session.get_inputs()[0].name
    clf.onnx_facts = facts
    kind = formats.outputs_kind(lambda x: session.run(None, {clf._input_name: x})[0], facts, clf.input_spec.size)
    clf.onnx_facts = formats.OnnxFacts(facts.layout, facts.batch, facts.channels, facts.size, kind)
    log.info("%s: ONNX model detected as %s", clf.name, clf.onnx_facts.describe())


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
