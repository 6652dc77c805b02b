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
from fer_core.models.factory import *  # noqa: F403  (the catalogue's public names, __all__ included)
from fer_core.models.factory import __all__  # noqa: F401
