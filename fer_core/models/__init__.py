"""Architectures for facial expression recognition, all trained from scratch.

Every architecture is reachable through one door, :func:`create_model`. Custom ones register with timm
(``@register_model``) in their own module; importing this package imports every module, so the registry is always
complete (the timm pattern).
"""

from __future__ import annotations

from fer_core.models import (  # noqa: F401  (each import registers its architectures)
    cct,
    clip_vision,
    cnn,
    cnn_mha,
    ddamfn,
    hf,
    mcct,
    timm_baselines,
    vgg13,
)
from fer_core.models.factory import (
    ARCHITECTURES,
    Architecture,
    architecture_info,
    create_model,
    list_architectures,
    list_budget_variants,
)

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "architecture_info",
    "create_model",
    "list_architectures",
    "list_budget_variants",
]
