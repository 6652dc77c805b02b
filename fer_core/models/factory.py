"""The catalogue of architectures and the single ``create_model`` door."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import timm
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "architecture_info",
    "create_model",
    "list_architectures",
    "list_budget_variants",
]


@dataclass(frozen=True)
class Architecture:
    """One entry of the catalogue.

    ``timm_name`` is the name registered with timm; ``family`` says how weights are stored ("timm": timm layout,
    "hf": transformers ``save_pretrained`` layout). ``tiny_args`` builds a very small variant for tests.
    ``budget_of`` names the full-size architecture that this entry is the compute-budget variant of (about
    100 MFLOPs per face or less at 48 px, sized to train at about the speed of the others on one CPU thread).
    """

    name: str
    timm_name: str
    family: str
    description: str
    paper: str = ""
    tiny_args: dict[str, Any] = field(default_factory=dict)
    budget_of: str = ""


ARCHITECTURES: dict[str, Architecture] = {}

# Keyword arguments timm's create_model adds for its own bookkeeping; builders drop them.
TIMM_ONLY_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def add_architecture(arch: Architecture) -> None:
    """Add an architecture to the catalogue (called by each model module at import)."""
    ARCHITECTURES[arch.name] = arch


def builder_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Architecture arguments as a builder wants them: timm's bookkeeping keys dropped, JSON lists as tuples.

    Cards and recipes store arguments as JSON, where tuples come back as lists; builders take tuples.
    """

    def as_tuple(value: Any) -> Any:
        return tuple(as_tuple(v) for v in value) if isinstance(value, list) else value

    return {key: as_tuple(value) for key, value in kwargs.items() if key not in TIMM_ONLY_KWARGS}


def list_architectures() -> list[str]:
    """Names of every architecture in the catalogue, sorted."""
    return sorted(ARCHITECTURES)


def list_budget_variants() -> list[str]:
    """Names of the compute-budget variants (entries with ``budget_of``), sorted."""
    return sorted(name for name, arch in ARCHITECTURES.items() if arch.budget_of)


def architecture_info(name: str) -> Architecture:
    """Catalogue entry of ``name``; the error lists the valid names."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(list_architectures())}") from None


def create_model(
    architecture: str, *, num_classes: int, in_chans: int = 1, img_size: int = 48, **arch_args: Any
) -> nn.Module:
    """Build an untrained model: input ``(B, in_chans, img_size, img_size)`` float, output logits ``(B, num_classes)``.

    Never downloads weights (``pretrained=False`` always).
    """
    info = architecture_info(architecture)
    return timm.create_model(
        info.timm_name,
        pretrained=False,
        num_classes=num_classes,
        in_chans=in_chans,
        img_size=img_size,
        **arch_args,
    )
