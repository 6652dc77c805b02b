"""The model card (``card.json``) as typed dataclasses: what a model directory says about itself.

A card names the architecture and its arguments, the label set (names in output order), the input the model
expects, how it was trained and selected, its headline metrics, size and speed. Multi-head models add ``heads``
(one block of outputs per label set) and ``default_head``; ensembles add ``members``; ``balance`` / ``quantize`` /
``bench`` add ``logit_bias``, ``onnx``, ``latency`` and ``peer_latency``.

Every field is optional when read (a hub directory's card is minimal, a dashboard-only directory may hold just
its size and speed); the loader checks that a served card has labels and an input. ``from_dict`` checks the type
of every field present and raises :class:`CardError` naming the file and the field; keys it does not know are
kept in ``extra`` and written back, and a card read and written again keeps its keys in their order, so
``ModelCard.from_dict(d).to_dict()`` equals ``d`` (plus ``schema_version``).

Schema versions: 1 is the layout every card had before the field existed (so a card without it is version 1);
a card of a newer version than this code knows is refused rather than misread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fer_core.errors import CardError
from fer_core.hardware import readable_cpu
from fer_core.store.json_files import MAX_LABELS

__all__ = [
    "COLORS",
    "INTERPOLATIONS",
    "RESIZE_MODES",
    "SCHEMA_VERSION",
    "CardError",
    "HeadCard",
    "InputSpec",
    "Latency",
    "ModelCard",
    "TestMetrics",
]

SCHEMA_VERSION = 1
INPUT_EXPECTED = (
    "expected {'size': 8..512, 'channels': 1 or 3, 'mean': [...], 'std': [...]} and optionally 'color' (gray, rgb, "
    "bgr), 'resize' (squash, shortest_edge), 'resize_edge', 'interpolation', 'rescale', 'normalize'"
)


# ------------------------------------------------------------------------------------------------ field checks


def _fail(where: str, message: str) -> CardError:
    return CardError(f"{where}: {message}")


def _check(value: Any, kinds: type | tuple[type, ...], key: str, where: str) -> Any:
    """``value`` when it is one of ``kinds`` (booleans never count as numbers), else a CardError."""
    is_bool = isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))
    if value is None or (isinstance(value, kinds) and not is_bool):
        return value
    names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
    raise _fail(where, f"{key!r} must be {names}, got {value!r:.80}")


def _labels(value: Any, where: str) -> tuple[str, ...] | None:
    """Class names: a non-empty list of distinct non-empty strings."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise _fail(where, "missing or empty 'labels' (a list of class names in output order)")
    if not all(isinstance(name, str) and name.strip() for name in value):
        raise _fail(where, f"'labels' must all be non-empty strings, got {value!r:.200}")
    if len(set(value)) != len(value) or len(value) > MAX_LABELS:
        raise _fail(where, f"'labels' must be at most {MAX_LABELS} distinct names, got {len(value)}")
    return tuple(value)


def _input(value: Any, where: str) -> InputSpec | None:
    """The card's ``input`` as an :class:`InputSpec`; the message says what a valid one looks like."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise _fail(where, f"missing or empty 'input'; {INPUT_EXPECTED}")
    try:
        return InputSpec.from_dict(value)
    except KeyError as err:
        raise _fail(where, f"'input' has no {err}; {INPUT_EXPECTED}") from None
    except (TypeError, ValueError) as err:
        raise _fail(where, f"bad 'input' {value!r:.200} ({err}); {INPUT_EXPECTED}") from None


def _numbers(value: Any, key: str, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise _fail(where, f"{key!r} must be a list of numbers, got {value!r:.80}")
    return tuple(value)


def _outputs(value: Any, where: str) -> tuple[int, int] | None:
    """A head's ``outputs``: ``[start, stop]`` of its block of logits."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        raise _fail(where, f"a head's 'outputs' must be [start, stop], got {value!r:.80}")
    return value[0], value[1]


def _members(value: Any, where: str) -> tuple[str, ...] | None:
    """An ensemble's ``members``: a non-empty list of model names."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"an ensemble needs 'members', a list of model names, got {value!r:.80}")
    return tuple(value)


# ------------------------------------------------------------------------------------------------ dict <-> fields


def _plain(value: Any) -> Any:
    """A field value as JSON: parts through their own ``to_dict``, tuples as lists, mappings value by value."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _emit(part: Any) -> dict[str, Any]:
    """``part`` as a dict: keys in the order it was read (then new ones in field order), ``None`` left out."""
    names = [f.name for f in dataclasses.fields(part) if f.name not in ("extra", "key_order")]
    values = {**{n: _plain(getattr(part, n)) for n in names}, **part.extra}
    values = {k: v for k, v in values.items() if v is not None}
    ordered = [k for k in part.key_order if k in values]
    return {k: values[k] for k in [*ordered, *(k for k in values if k not in ordered)]}


def _extra(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k not in known}


def _read_part(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """A part whose fields are plain values: each checked against its annotation (``str | None`` ...)."""
    kinds: dict[object, type | tuple[type, ...]] = {"str | None": str, "int | None": int, "float | None": (int, float)}
    values = {
        f.name: _check(data.get(f.name), kinds[f.type], f.name, where)
        for f in dataclasses.fields(cls)
        if f.type in kinds
    }
    return cls(**values, extra=_extra(data, cls), key_order=tuple(data))


def _mapping(data: Any, what: str, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(where, f"{what} must be a JSON object, got {data!r:.80}")
    return data


# ------------------------------------------------------------------------------------------------ parts


COLORS = ("gray", "rgb", "bgr")
RESIZE_MODES = ("squash", "shortest_edge")
# "area_linear": the project's own rule (OpenCV INTER_AREA when shrinking, INTER_LINEAR when enlarging); the others
# are Pillow's filters, the ones transformers' and timm's reference transforms use.
INTERPOLATIONS = ("area_linear", "nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
_TRANSFORM_DEFAULTS: dict[str, Any] = {  # values of several types, each checked by InputSpec
    "color": "gray",
    "resize": "squash",
    "resize_edge": None,
    "interpolation": "area_linear",
    "rescale": 1.0 / 255.0,
    "normalize": True,
    "crop_offset": "round",
}
# Where a centre crop starts: (extent - size) / 2 rounded (torchvision and timm) or floored (transformers).
CROP_OFFSETS = ("round", "floor")


@dataclass(frozen=True)
class InputSpec:
    """What a model expects and how a face crop becomes it (the model's own transform, as it was trained).

    ``size`` px square, ``channels`` (1 or 3), per-channel ``mean``/``std``. The transform: ``color`` (``gray``: the
    grey plane, repeated to 3 channels where the model has 3, as the project's own models were trained; ``rgb`` /
    ``bgr``: colour in that channel order); ``resize`` (``squash``: both edges to ``resize_edge``; ``shortest_edge``:
    the shorter edge to ``resize_edge``, aspect kept) then a centre crop to ``size`` (``resize_edge`` None: ``size``,
    no crop, which starts at ``(extent - size) / 2`` rounded or floored: ``crop_offset``); ``interpolation``; pixels
    times ``rescale``, then minus mean over std when ``normalize``.
    The defaults are the project's own 48 px grey models; a card writes only the fields that differ from them.
    """

    size: int = 48
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    color: str = "gray"
    resize: str = "squash"
    resize_edge: int | None = None
    interpolation: str = "area_linear"
    rescale: float = 1.0 / 255.0
    normalize: bool = True
    crop_offset: str = "round"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not 8 <= self.size <= 512:
            raise ValueError(f"input size {self.size} outside 8..512 px")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels):
                raise ValueError(f"{name} needs 1 or {self.channels} values, got {len(values)}")
        if min(self.std) <= 0:
            raise ValueError("std values must be positive")
        choices = (("color", COLORS), ("resize", RESIZE_MODES), ("interpolation", INTERPOLATIONS))
        for name, known in (*choices, ("crop_offset", CROP_OFFSETS)):
            if getattr(self, name) not in known:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; known: {', '.join(known)}")
        if self.channels == 1 and self.color != "gray":
            raise ValueError(f"a 1-channel model takes grey input, not {self.color!r}")
        if self.resize_edge is not None and not self.size <= self.resize_edge <= 1024:
            raise ValueError(f"resize_edge {self.resize_edge} must be in {self.size}..1024 (at least the crop size)")

    @property
    def is_project_default(self) -> bool:
        """True for the project's own transform: grey, squashed to ``size`` by the area/linear rule, scaled, normalised.

        Such a model keeps the original fast path (a grey stack resized in one OpenCV call), bit for bit.
        """
        return all(getattr(self, key) == value for key, value in _TRANSFORM_DEFAULTS.items())

    @property
    def edge(self) -> int:
        """The edge length the resize step targets (before the centre crop to ``size``)."""
        return self.resize_edge or self.size

    def to_dict(self) -> dict:
        base = {"size": self.size, "channels": self.channels, "mean": list(self.mean), "std": list(self.std)}
        extra = {k: getattr(self, k) for k, v in _TRANSFORM_DEFAULTS.items() if getattr(self, k) != v}
        return {**base, **extra}

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        transform = {k: data.get(k, v) for k, v in _TRANSFORM_DEFAULTS.items()}
        if transform["resize_edge"] is not None:
            transform["resize_edge"] = int(transform["resize_edge"])
        if not isinstance(transform["normalize"], bool):
            raise TypeError(f"'normalize' must be true or false, got {transform['normalize']!r:.40}")
        transform["rescale"] = float(transform["rescale"])
        return cls(
            size=int(data["size"]),
            channels=int(data.get("channels", 1)),
            mean=tuple(float(v) for v in data.get("mean", (0.5,))),
            std=tuple(float(v) for v in data.get("std", (0.25,))),
            **transform,
        )


@dataclass
class _Part:
    """What every part of a card has: the keys this code does not know (kept) and the order keys were read in.

    A part of plain fields (``str | None``, ``int | None``, ``float | None``) is read by its annotations.
    """

    _what: ClassVar[str] = "a card part"
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False, kw_only=True)

    @classmethod
    def from_dict(cls, data: Any, where: str = "card.json") -> Any:
        return _read_part(cls, _mapping(data, cls._what, where), where)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: ``None`` fields left out, keys in the order they were read (new ones in field order)."""
        return _emit(self)


@dataclass
class TestMetrics(_Part):
    """Headline metrics of the clean rows of one stored run (``metrics.test`` of a card or of a head)."""

    __test__ = False  # not a pytest test class, despite the name
    _what = "'metrics.test'"

    dataset: str | None = None
    split: str | None = None
    label_mode: str | None = None
    samples: int | None = None
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    macro_f1: float | None = None
    run: str | None = None


def _metrics(data: Any, where: str) -> dict[str, Any] | None:
    """A ``metrics`` object: ``test`` typed, other entries (per-condition tables ...) kept as they are."""
    if data is None:
        return None
    data = _mapping(data, "'metrics'", where)
    return {k: TestMetrics.from_dict(v, where) if k == "test" else v for k, v in data.items()}


@dataclass
class HeadCard(_Part):
    """One head of a multi-head model: its label names, its block of outputs, its own adjustment and metrics."""

    labels: tuple[str, ...] | None = None
    outputs: tuple[int, int] | None = None
    logit_bias: tuple[float, ...] | None = None
    balance: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str = "card.json") -> HeadCard:
        if not isinstance(data, Mapping):
            raise _fail(where, f"a head must be an object with 'labels' and 'outputs', got {data!r:.80}")
        return cls(
            labels=_labels(data.get("labels"), where),
            outputs=_outputs(data.get("outputs"), where),
            logit_bias=_numbers(data.get("logit_bias"), "logit_bias", where),
            balance=_check(data.get("balance"), dict, "balance", where),
            metrics=_metrics(data.get("metrics"), where),
            extra=_extra(data, cls),
            key_order=tuple(data),
        )

    @property
    def test_metrics(self) -> TestMetrics | None:
        return (self.metrics or {}).get("test")


TTA_LATENCY_KEY = "tta"  # latency.tta: {mode: {"ms_per_face", "backend", "cpu", "measured"}}, written by bench --tta


@dataclass
class Latency(_Part):
    """How a card's ``latency_ms_per_face`` was measured."""

    _what = "'latency'"

    backend: str | None = None
    threads: int | None = None
    batch: int | None = None
    machine: str | None = None
    cpu: str | None = None
    measured: str | None = None
    command: str | None = None


# ------------------------------------------------------------------------------------------------ the card


@dataclass
class ModelCard(_Part):
    """A model directory's ``card.json``, typed. Field order is the order a new card is written in."""

    schema_version: int = SCHEMA_VERSION
    id: str | None = None
    architecture: str | None = None
    arch_args: dict[str, Any] | None = None
    members: tuple[str, ...] | None = None
    weights: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    label_set: str | None = None
    input: InputSpec | None = None
    training: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    license: str | None = None
    provenance: str | None = None
    heads: dict[str, HeadCard] | None = None
    default_head: str | None = None
    num_outputs: int | None = None
    family: str | None = None
    params: int | None = None
    mflops: float | None = None
    weights_mb: float | None = None
    onnx: dict[str, Any] | None = None
    logit_bias: tuple[float, ...] | None = None
    balance: dict[str, Any] | None = None
    latency_ms_per_face: float | None = None
    latency: Latency | None = None
    peer_latency: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Any, path: Path | str = "card.json") -> ModelCard:
        """A card from its JSON object; ``path`` names the file in error messages."""
        where = str(path)
        data = _mapping(data, "a card", where)
        version = _check(data.get("schema_version"), int, "schema_version", where) or 1
        if version > SCHEMA_VERSION:
            raise _fail(where, f"schema_version {version} is newer than this fer_core reads ({SCHEMA_VERSION})")
        return cls(
            schema_version=SCHEMA_VERSION,
            **_identity(data, where),
            **_serving(data, where),
            **_facts(data, where),
            extra=_extra(data, cls),
            key_order=tuple(data),
        )

    # ---------------------------------------------------------------------------------------- questions

    @property
    def is_ensemble(self) -> bool:
        return self.family == "ensemble"

    @property
    def test_metrics(self) -> TestMetrics | None:
        """The headline metrics of the model's own test set (``metrics.test``), if evaluated."""
        return (self.metrics or {}).get("test")

    def latency_of(self, tta: str = "none") -> tuple[float | None, str | None]:
        """Per-face latency (ms) and the backend it was timed on, for the plain model or a TTA mode (timed apart,
        ``bench --tta``, kept in ``latency.tta``); ``(None, None)`` when it was not timed."""
        if tta == "none":
            backend = self.latency.backend if self.latency is not None else None
            return self.latency_ms_per_face, backend
        entry = ((self.latency.extra if self.latency is not None else {}).get(TTA_LATENCY_KEY) or {}).get(tta)
        if not isinstance(entry, dict) or not isinstance(entry.get("ms_per_face"), int | float):
            return None, None
        return float(entry["ms_per_face"]), entry.get("backend")

    def latency_cpu(self, tta: str = "none") -> str | None:
        """The CPU ``latency_of(tta)`` was measured on, as recorded; None where the card does not say."""
        if self.latency is None:
            return None
        if tta == "none":
            return self.latency.cpu
        entry = (self.latency.extra.get(TTA_LATENCY_KEY) or {}).get(tta)
        cpu = entry.get("cpu") if isinstance(entry, dict) else None
        return cpu if isinstance(cpu, str) else None

    def timed_on(self, tta: str = "none") -> str:
        """Where ``latency_of(tta)`` was measured, for a table: "onnx, Intel Xeon (AVX-512, VNNI)" or "not timed".

        Latencies from different CPUs do not compare, so a table that mixes them says so on every row.
        """
        ms, backend = self.latency_of(tta)
        if ms is None:
            return "not timed"
        cpu = self.latency_cpu(tta)
        return f"{backend or '-'}, {readable_cpu(cpu) if cpu else 'CPU not recorded'}"

    def training_fact(self, key: str) -> Any:
        """One entry of ``training`` (``dataset``, ``selection_split`` ...), None when the card does not say."""
        return (self.training or {}).get(key)

    def trained_on(self, dataset: str) -> bool:
        """True when ``dataset`` is (one of) the training datasets (``fer2013+ferplus`` counts both), or unknown."""
        trained = str(self.training_fact("dataset") or "")
        return not trained or dataset in trained.split("+")

    @property
    def onnx_file(self) -> str | None:
        """The ONNX file name the card chose to serve (a quantised one), when it names a plain file name."""
        name = (self.onnx or {}).get("file")
        return name if isinstance(name, str) and Path(name).name == name else None

    def head_names(self) -> list[str]:
        return list(self.heads or {})

    @property
    def fused_head(self) -> str | None:
        """The name of the card's fused head (``fusion.name``, fer_core.serving.fusion), None when it has none."""
        entry = self.extra.get("fusion")
        name = entry.get("name") if isinstance(entry, Mapping) else None
        return name if isinstance(name, str) and name else None


def _identity(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """What the model is: id, architecture and its arguments, ensemble members, labels, input."""
    return {
        "id": _check(data.get("id"), str, "id", where),
        "architecture": _check(data.get("architecture"), str, "architecture", where),
        "arch_args": _check(data.get("arch_args"), dict, "arch_args", where),
        "members": _members(data.get("members"), where),
        "weights": _numbers(data.get("weights"), "weights", where),
        "labels": _labels(data.get("labels"), where),
        "label_set": _check(data.get("label_set"), str, "label_set", where),
        "input": _input(data.get("input"), where),
        "family": _check(data.get("family"), str, "family", where),
    }


def _serving(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """How it is served: heads, output count, logit adjustment, the ONNX file chosen."""
    heads = data.get("heads")
    if heads is not None:
        heads = {str(k): HeadCard.from_dict(v, where) for k, v in _mapping(heads, "'heads'", where).items()}
    return {
        "heads": heads,
        "default_head": _check(data.get("default_head"), str, "default_head", where),
        "num_outputs": _check(data.get("num_outputs"), int, "num_outputs", where),
        "logit_bias": _numbers(data.get("logit_bias"), "logit_bias", where),
        "balance": _check(data.get("balance"), dict, "balance", where),
        "onnx": _check(data.get("onnx"), dict, "onnx", where),
    }


def _facts(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """What is known about it: training, metrics, licence, provenance, size and speed."""
    latency = data.get("latency")
    number = (int, float)
    return {
        "training": _check(data.get("training"), dict, "training", where),
        "metrics": _metrics(data.get("metrics"), where),
        "license": _check(data.get("license"), str, "license", where),
        "provenance": _check(data.get("provenance"), str, "provenance", where),
        "params": _check(data.get("params"), int, "params", where),
        "mflops": _check(data.get("mflops"), number, "mflops", where),
        "weights_mb": _check(data.get("weights_mb"), number, "weights_mb", where),
        "latency_ms_per_face": _check(data.get("latency_ms_per_face"), number, "latency_ms_per_face", where),
        "latency": None if latency is None else Latency.from_dict(latency, where),
        "peer_latency": _check(data.get("peer_latency"), dict, "peer_latency", where),
    }
