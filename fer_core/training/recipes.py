"""Training recipes: every knob of a training run in one validated dataclass, stored as JSON files.

Shipped recipes live in ``fer_core/training/recipe_files/*.json``; a user passes a name or a path. The recipe is copied
into the trained model's card, so a checkpoint always says how it was made.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fer_core.errors import RecipeError
from fer_core.evaluation.metrics import SELECTION_METRICS
from fer_core.store.files import read_regular_file

__all__ = [
    "JOINT_DATASET",
    "RECIPE_DIR",
    "SELECTION_METRICS",
    "AugmentConfig",
    "Recipe",
    "RecipeError",
    "check_model_size",
    "list_recipes",
    "load_recipe",
]

RECIPE_DIR = Path(__file__).resolve().parent / "recipe_files"
MAX_RECIPE_BYTES = 2**20

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "plateau", "constant")
BALANCING = ("none", "class_weights", "sqrt_class_weights", "oversample")
PRECISIONS = ("auto", "fp32", "bf16")
CORRUPTIONS = ("blur", "noise", "jpeg", "gamma", "lowres")
JOINT_DATASET = "fer2013+ferplus"  # FER2013 faces with a FER2013-7 head and a FER+-8 head (fer_core.data.joint)

# Types and bounds of every number, flag and name, checked before anything is built or allocated. The bounds are
# far outside any useful recipe (the full-size GPU recipes included) and far inside what would hurt: NaN and
# infinity are refused everywhere, since a non-finite learning rate or decay silently yields a NaN model.
# field -> (type, lowest, highest); None: unbounded on that side.
RECIPE_RULES: dict[str, tuple[type, float | None, float | None]] = {
    "name": (str, None, None),
    "architecture": (str, None, None),
    "arch_args": (dict, None, None),
    "dataset": (str, None, None),
    "label_mode": (str, None, None),
    "soft_targets": (bool, None, None),
    "img_size": (int, 8, 1024),
    "channels": (int, 1, 3),
    "epochs": (int, 1, 10_000),
    "batch_size": (int, 1, 65_536),
    "optimizer": (str, None, None),
    "lr": (float, 0, 10),
    "weight_decay": (float, 0, 10),
    "momentum": (float, 0, 1),
    "nesterov": (bool, None, None),
    "schedule": (str, None, None),
    "warmup_epochs": (int, 0, 10_000),
    "plateau_patience": (int, 0, 10_000),
    "label_smoothing": (float, 0, 0.999),
    "mixup_alpha": (float, 0, 100),
    "cutmix_alpha": (float, 0, 100),
    "mix_prob": (float, 0, 1),
    "balancing": (str, None, None),
    "aux_loss_weight": (float, 0, 100),
    "grad_clip": (float, 0, 1e6),
    "selection_metric": (str, None, None),
    "seed": (int, 0, 2**32 - 1),
    "teachers": (dict, None, None),
    "distill_weight": (float, 0, 1),
    "ema_decay": (float, 0, 0.999999),
    "precision": (str, None, None),
    "init_from": (str, None, None),
}
AUGMENT_RULES: dict[str, tuple[type, float | None, float | None]] = {
    "shift": (float, 0, 1),
    "rotation": (float, 0, 180),
    "shear": (float, 0, 89),
    "flip": (bool, None, None),
    "erasing": (float, 0, 1),
    "brightness": (float, 0, 1),
    **{name: (float, 0, 1) for name in CORRUPTIONS},
}
MAX_SCALE = 4.0
MAX_TRAINING_PARAMETERS = 350_000_000  # ViT-L's 304 M fit; a width of 10^6 (terabytes of weights) does not


def _type_name(kind: type) -> str:
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string", dict: "an object"}[kind]


def check_value(where: str, value: Any, kind: type, lo: float | None, hi: float | None) -> None:
    """ValueError naming ``where`` unless ``value`` is of ``kind`` (an int counts as a number, a bool as neither)
    and finite within ``[lo, hi]``."""
    numeric = kind in (int, float)
    accepted = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, accepted):
        raise ValueError(f"recipe {where} must be {_type_name(kind)}, got {value!r}")
    if not numeric or not isinstance(value, (int, float)):  # the second test only narrows: numbers passed above
        return
    if not math.isfinite(value):
        raise ValueError(f"recipe {where} must be finite, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"recipe {where} must be in [{lo}, {hi}], got {value!r}")


def _check_fields(obj: Any, rules: dict[str, tuple[type, float | None, float | None]], prefix: str) -> None:
    for name, (kind, lo, hi) in rules.items():
        check_value(f"{prefix}{name}", getattr(obj, name), kind, lo, hi)


@dataclass(frozen=True)
class AugmentConfig:
    """Batched on-device augmentation (see fer_core.training.augment); zero disables a transform."""

    scale: tuple[float, float] = (0.85, 1.15)  # random zoom, the "random resized crop 0.8-1.2" family
    shift: float = 0.1  # max translation as a fraction of the side
    rotation: float = 10.0  # max degrees
    shear: float = 0.0  # max degrees of skew (Barsoum et al. use skew)
    flip: bool = True
    erasing: float = 0.25  # probability of one random-erasing rectangle
    brightness: float = 0.2  # max relative brightness / contrast jitter
    # Webcam and photo corruptions (fer_core.training.augment.corrupt_batch), each a probability per face; 0 disables.
    blur: float = 0.0  # Gaussian blur, sigma 0.4-1.6 px at 48 px (focus, motion)
    noise: float = 0.0  # Gaussian sensor noise, std 1-8 % of the range
    jpeg: float = 0.0  # 8x8 block-DCT quantisation at JPEG quality 10-60
    gamma: float = 0.0  # exposure: gamma 0.5-2.0 (dark or over-exposed faces)
    lowres: float = 0.0  # shrunk to 12-36 px and enlarged back (small, far faces)

    def __post_init__(self) -> None:
        _check_fields(self, AUGMENT_RULES, "augment.")
        if not isinstance(self.scale, tuple) or len(self.scale) != 2:
            raise ValueError(f"recipe augment.scale must be two numbers [lo, hi], got {self.scale!r}")
        for value in self.scale:
            check_value("augment.scale", value, float, 0, MAX_SCALE)
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"recipe augment.scale must be 0 < lo <= hi, got {self.scale}")

    def to_dict(self) -> dict[str, Any]:
        """The fields, without corruptions left at 0 (older recipes keep their form and resume fingerprint)."""
        data = asdict(self)
        return {k: v for k, v in data.items() if k not in CORRUPTIONS or v}


@dataclass(frozen=True)
class Recipe:
    """One training configuration. ``epochs`` and ``batch_size`` may be overridden from the command line."""

    name: str
    architecture: str
    arch_args: dict[str, Any] = field(default_factory=dict)
    dataset: str = "fer2013"
    label_mode: str = "majority"  # FER+: majority | plurality50 | soft
    soft_targets: bool = False  # FER+: train on the annotators' vote distribution
    img_size: int = 48
    channels: int = 1
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    schedule: str = "cosine"
    warmup_epochs: int = 2
    plateau_patience: int = 5
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 0.0  # probability that a batch is mixed (mixup or cutmix, chosen evenly)
    balancing: str = "none"
    aux_loss_weight: float = 0.1  # weight of a model's auxiliary_loss() (DDAMFN attention diversity)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    grad_clip: float = 5.0
    selection_metric: str = "accuracy"  # on the validation split; acc_f1 = mean of accuracy and macro-F1
    seed: int = 0
    teachers: dict[str, str] = field(
        default_factory=dict
    )  # head -> teacher model to distil (fer_core.training.distill)
    distill_weight: float = 0.5  # share of the teacher's probabilities in each distilled target row
    ema_decay: float = 0.0  # exponential moving average of the weights, evaluated and kept (0 = off)
    precision: str = "auto"  # auto: bf16 autocast where the device has bf16 units (fer_core.hardware), else fp32
    init_from: str = ""  # a trained model (name or folder) of this very network to start from (fine-tuning)
    # head -> weight of its loss in a multi-head run (a head not named weighs 1): e.g. more weight on FER+ to measure
    # what the shared trunk costs that head
    head_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(self, RECIPE_RULES, "")
        if not isinstance(self.augment, AugmentConfig):
            raise ValueError(f"recipe augment must be an object, got {self.augment!r}")
        for head, teacher in self.teachers.items():
            if not isinstance(teacher, str):
                raise ValueError(f"recipe teachers.{head} must be a model name, got {teacher!r}")
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("balancing", self.balancing, BALANCING)
        _check_choice("selection_metric", self.selection_metric, SELECTION_METRICS)
        _check_choice("precision", self.precision, PRECISIONS)
        if not 0 <= self.ema_decay < 1:
            raise ValueError("ema_decay must be in [0, 1)")
        for head, weight in self.head_weights.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 100:
                raise ValueError(f"recipe head_weights.{head} must be a number in [0, 100], got {weight!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError("label_smoothing must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.teachers:  # a recipe without distillation keeps the form (and resume fingerprint) it had
            del data["teachers"], data["distill_weight"]
        later_knobs: tuple[tuple[str, Any], ...] = (
            ("ema_decay", 0.0),
            ("precision", "auto"),
            ("init_from", ""),
            ("head_weights", {}),
        )
        for key, default in later_knobs:  # likewise for the knobs added later
            if data[key] == default:
                del data[key]
        data["augment"] = self.augment.to_dict()
        return data

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A copy with the non-None overrides applied (command-line flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown recipe keys {unknown}; known: {', '.join(sorted(known))}")
        _check_value_types(data, {f.name: f.type for f in fields(cls)})
        data = dict(data)
        augment = data.pop("augment", {})
        if not isinstance(augment, dict):
            raise ValueError(f"recipe augment must be an object, got {augment!r}")
        unknown = sorted(set(augment) - {f.name for f in fields(AugmentConfig)})
        if unknown:
            raise ValueError(
                f"unknown recipe augment keys {unknown}; known: {', '.join(f.name for f in fields(AugmentConfig))}"
            )
        augment = dict(augment)
        if isinstance(augment.get("scale"), list):
            augment["scale"] = tuple(augment["scale"])
        return cls(augment=AugmentConfig(**augment), **data)


# The JSON types a recipe value may have, by the field's annotation (an int is a valid float).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "dict[str, Any]": (dict,),
    "dict[str, str]": (dict,),
    "dict[str, float]": (dict,),
}


# How a recipe's JSON value types read in a message (the file's author writes JSON, not Python).
_JSON_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object"}


def _check_value_types(data: dict[str, Any], annotations: dict[str, Any]) -> None:
    """A value of the wrong JSON type (``"epochs": "many"``) is named with the type the key needs."""
    for key, value in data.items():
        wanted = JSON_TYPES.get(str(annotations.get(key)))
        if wanted is None:
            continue
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            raise ValueError(f"{key} must be {_JSON_NAMES[wanted[-1]]}, got {value!r:.60}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {key} {value!r}; known: {', '.join(choices)}")


def check_model_size(recipe: Recipe, num_classes: int = 8) -> int:
    """The parameter count of the recipe's network, built on the meta device (no memory) under a budget: a width
    or depth that would allocate gigabytes stops at its first oversized layer with a ValueError naming the recipe
    (the architecture's own argument errors too), before any data is read or memory allocated."""
    from fer_core.models import create_model
    from fer_core.serving.model_guard import count_on_meta

    try:
        return count_on_meta(
            lambda: create_model(
                recipe.architecture,
                num_classes=num_classes,
                in_chans=recipe.channels,
                img_size=recipe.img_size,
                **recipe.arch_args,
            ),
            MAX_TRAINING_PARAMETERS,
        )
    except Exception as err:  # an architecture given odd arguments can raise anything
        raise ValueError(
            f"recipe {recipe.name!r}: cannot build {recipe.architecture} with {recipe.arch_args} ({err})"
        ) from None


def list_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.json"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a shipped recipe by name or any recipe JSON file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise FileNotFoundError(f"unknown recipe {name_or_path!r}; shipped: {', '.join(list_recipes())}")
    try:
        data = json.loads(read_regular_file(path, MAX_RECIPE_BYTES, "recipe").decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise RecipeError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a JSON object, found {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return Recipe.from_dict(data)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{path}: {err}") from None
