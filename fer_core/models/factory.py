"""The catalogue of architectures, the one decorator that registers them, and the single ``create_model`` door.

Each architecture is one builder in its model module, decorated with :func:`register` once per variant: the
decorator registers it with timm as ``fer_<name>`` (the variant's arguments as its defaults, ``pretrained=True``
refused) and puts its catalogue entry (family, description, paper, tiny test arguments) beside it. Cards and
recipes name an architecture by its catalogue name (``cnn``); a timm-layout ``config.json`` names the timm
entrypoint (``fer_cnn``), so ``timm.create_model(**config)`` rebuilds a saved model on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import timm
from timm.models import register_model
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "architecture_info",
    "create_model",
    "list_architectures",
    "list_budget_variants",
    "register",
    "timm_name_of",
]


class PretrainedWrapper(Protocol):
    """A transformers-family wrapper class: rebuilds its model offline from a ``save_pretrained`` directory."""

    def from_pretrained_dir(self, directory: str | Path) -> nn.Module: ...


@dataclass(frozen=True)
class Architecture:
    """One entry of the catalogue.

    ``timm_name`` is the name registered with timm; ``family`` says how weights are stored ("timm": timm layout,
    "hf": transformers ``save_pretrained`` layout). ``tiny_args`` builds a very small variant for tests.
    ``budget_of`` names the full-size architecture that this entry is the compute-budget variant of (about
    100 MFLOPs per face or less at 48 px, sized to train at about the speed of the others on one CPU thread).
    ``args`` are the variant's own arguments (the builder's defaults otherwise); ``wrapper`` is the class an
    hf-family directory is rebuilt with (its ``from_pretrained_dir``).
    """

    name: str
    timm_name: str
    family: str
    description: str
    paper: str = ""
    tiny_args: dict[str, Any] = field(default_factory=dict)
    budget_of: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    wrapper: PretrainedWrapper | None = None


ARCHITECTURES: dict[str, Architecture] = {}

# A builder: a function or a model class, called with the variant's arguments.
Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

# Keyword arguments timm's create_model adds for its own bookkeeping; builders drop them.
TIMM_ONLY_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def timm_name_of(name: str) -> str:
    """The timm entrypoint of catalogue name ``name``: ``fer_<name>`` (the prefix keeps clear of timm's own
    ``resnet18``, ``vgg16`` ...)."""
    return f"fer_{name}"


def register(
    name: str,
    *,
    description: str,
    paper: str = "",
    family: str = "timm",
    tiny_args: dict[str, Any] | None = None,
    budget_of: str = "",
    args: dict[str, Any] | None = None,
    wrapper: PretrainedWrapper | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` with timm as ``fer_<name>`` (``args`` as its defaults) and in the catalogue.

    Stack it once per variant on the same builder (a function or the model class itself); the builder itself is
    returned unchanged.
    """

    def decorate(builder: Builder) -> Builder:
        timm_name = timm_name_of(name)
        register_model(_entrypoint(builder, timm_name, dict(args or {}), description))
        entry = Architecture(
            name, timm_name, family, description, paper, dict(tiny_args or {}), budget_of, dict(args or {}), wrapper
        )
        ARCHITECTURES[name] = entry
        return builder

    return decorate


def _entrypoint(builder: Callable[..., nn.Module], timm_name: str, args: dict[str, Any], doc: str) -> Callable:
    """The timm entrypoint of one variant: its arguments under the caller's, no pretrained weights ever."""

    def entrypoint(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        if pretrained:
            raise ValueError(f"{timm_name}: there are no pretrained weights (every model here trains from scratch)")
        return builder(**builder_kwargs({**args, **kwargs}))

    entrypoint.__name__ = entrypoint.__qualname__ = timm_name
    entrypoint.__module__ = builder.__module__
    entrypoint.__doc__ = doc
    return entrypoint


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
    """Catalogue entry of ``name`` (or of its timm name ``fer_<name>``); the error lists the valid names."""
    entry = ARCHITECTURES.get(name) or ARCHITECTURES.get(str(name).removeprefix("fer_"))
    if entry is None or (name not in ARCHITECTURES and entry.timm_name != name):
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(list_architectures())}")
    return entry


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
