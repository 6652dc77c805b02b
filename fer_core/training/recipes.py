"""Training recipes: every knob of a training run in one validated dataclass, stored as JSON files.

Shipped recipes live in ``fer_core/training/recipe_files/*.json``; a user passes a name or a path. The recipe is copied
into the trained model's card, so a checkpoint always says how it was made.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fer_core.errors import RecipeError
from fer_core.evaluation.metrics import SELECTION_METRICS

__all__ = [
    "JOINT_DATASET",
    "RECIPE_DIR",
    "SELECTION_METRICS",
    "AugmentConfig",
    "Recipe",
    "RecipeError",
    "list_recipes",
    "load_recipe",
]

RECIPE_DIR = Path(__file__).resolve().parent / "recipe_files"

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "plateau", "constant")
BALANCING = ("none", "class_weights", "sqrt_class_weights", "oversample")
PRECISIONS = ("auto", "fp32", "bf16")
CORRUPTIONS = ("blur", "noise", "jpeg", "gamma", "lowres")
JOINT_DATASET = "fer2013+ferplus"  # FER2013 faces with a FER2013-7 head and a FER+-8 head (fer_core.data.joint)


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
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"augment.scale must be 0 < lo <= hi, got {self.scale}")
        for name in ("erasing", *CORRUPTIONS):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment.{name} is a probability in [0, 1]")

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

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("balancing", self.balancing, BALANCING)
        _check_choice("selection_metric", self.selection_metric, SELECTION_METRICS)
        _check_choice("precision", self.precision, PRECISIONS)
        if not 0 <= self.ema_decay < 1:
            raise ValueError("ema_decay must be in [0, 1)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError("label_smoothing must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.teachers:  # a recipe without distillation keeps the form (and resume fingerprint) it had
            del data["teachers"], data["distill_weight"]
        for key, default in (("ema_decay", 0.0), ("precision", "auto")):  # likewise for the later knobs
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
        augment = dict(data.pop("augment", {}))
        if "scale" in augment:
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
}


def _check_value_types(data: dict[str, Any], annotations: dict[str, Any]) -> None:
    """A value of the wrong JSON type (``"epochs": "many"``) is named with the type the key needs."""
    for key, value in data.items():
        wanted = JSON_TYPES.get(str(annotations.get(key)))
        if wanted is None:
            continue
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            raise ValueError(f"recipe key {key!r} must be {annotations[key]}, got {value!r:.60}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {key} {value!r}; known: {', '.join(choices)}")


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecipeError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a JSON object, found {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return Recipe.from_dict(data)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{path}: {err}") from None
