"""Hugging Face transformers image classifiers (ViT, ConvNeXt, ConvNeXt V2) sized for small faces.

Each model is built from its ``Config`` class (never downloaded) and wrapped in :class:`HFImageClassifier`, an
``nn.Module`` whose ``forward(x)`` returns plain logits, so training, evaluation and export treat it like any timm
model. The wrapper also registers with timm so ``create_model`` stays the one door. Sizes for 48 px faces:

- ViT (Dosovitskiy et al. 2021, arXiv 2010.11929): ViT-Tiny widths (192-dim, 3 heads, MLP 768, 12 layers) with
  4x4 patches, 144 tokens at 48 px instead of 9 with the usual 16x16 patches.
- ConvNeXt (Liu et al. 2022, arXiv 2201.03545) and ConvNeXt V2 (Woo et al. 2023, arXiv 2301.00808): "femto"
  widths 48-96-192-384, depths 2-2-6-2, and a 2x2 patchify stem (stages at 24-12-6-3 px for 48 px instead of
  12-6-3-1 with the 4x4 stem).

Compute-budget variants (about 100 MFLOPs per 48 px face or less, sized to train at the ``cnn_budget``'s speed):

- ``vit_budget``: patch embedding + class token + pre-norm encoder, 8x8 patches (36 tokens + class token),
  96-dim, 4 layers of 3 heads, MLP 384 (35 MFLOPs).
- ``convnext_budget`` / ``convnextv2_budget``: ConvNeXt's own 4x4 patchify stem and three stages of blocks
  (depthwise 7x7, LayerNorm, inverted MLP; V2 adds GRN) at 12-6-3 px, ConvNeXt V2-Atto widths 40-80-160, two
  blocks per stage (26 MFLOPs). Both share one shape so the pair isolates GRN, which costs about a third of the
  training speed here.

transformers is imported lazily: it takes seconds to import and most users of the catalogue never build these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fer_core.models.factory import register

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["HFImageClassifier", "build_hf_config", "label_config"]

# Config defaults per architecture: (config class, image-classification class, config fields).
HF_SPECS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "vit": (
        "ViTConfig",
        "ViTForImageClassification",
        {
            "patch_size": 4,
            "hidden_size": 192,
            "num_hidden_layers": 12,
            "num_attention_heads": 3,
            "intermediate_size": 768,
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.0,
        },
    ),
    "convnext": (
        "ConvNextConfig",
        "ConvNextForImageClassification",
        {"patch_size": 2, "hidden_sizes": [48, 96, 192, 384], "depths": [2, 2, 6, 2], "drop_path_rate": 0.1},
    ),
    "convnextv2": (
        "ConvNextV2Config",
        "ConvNextV2ForImageClassification",
        {"patch_size": 2, "hidden_sizes": [48, 96, 192, 384], "depths": [2, 2, 6, 2], "drop_path_rate": 0.1},
    ),
}


def label_config(num_classes: int, label_names: Sequence[str] | None) -> dict[str, Any]:
    """``num_labels`` and, when names are given, ``id2label`` / ``label2id`` (labels travel inside the config)."""
    if label_names is None:
        return {"num_labels": num_classes}
    if len(label_names) != num_classes:
        raise ValueError(f"{len(label_names)} label names for {num_classes} classes")
    id2label = {i: str(name) for i, name in enumerate(label_names)}
    return {"id2label": id2label, "label2id": {name: i for i, name in id2label.items()}}


def build_hf_config(
    config_class: str,
    defaults: dict[str, Any],
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    label_names: Sequence[str] | None = None,
    **overrides: Any,
):
    """A transformers config: ``defaults`` updated by ``overrides``, input spec and labels filled in."""
    import transformers

    fields = {**defaults, **overrides, "num_channels": in_chans, "image_size": img_size}
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}  # JSON-friendly config
    return getattr(transformers, config_class)(**fields, **label_config(num_classes, label_names))


class HFImageClassifier(nn.Module):
    """A transformers image-classification model; ``forward(x)`` returns ``hf_model(pixel_values=x).logits``."""

    def __init__(self, hf_model: PreTrainedModel) -> None:
        super().__init__()
        self.hf_model: PreTrainedModel = hf_model
        self.num_classes = hf_model.config.num_labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hf_model(pixel_values=x).logits

    def save_pretrained_dir(self, directory: str | Path) -> None:
        """``save_pretrained`` layout: ``config.json`` (with ``model_type``) + ``model.safetensors``."""
        self.hf_model.save_pretrained(directory)

    @classmethod
    def from_pretrained_dir(cls, directory: str | Path) -> HFImageClassifier:
        """Rebuild offline from a ``save_pretrained`` directory, in float32 whatever dtype was stored."""
        from transformers import AutoModelForImageClassification

        hf_model = AutoModelForImageClassification.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
        )
        return cls(hf_model.float())


def _create_hf(architecture: str, num_classes: int = 7, in_chans: int = 1, img_size: int = 48, **kwargs):
    import transformers

    config_class, model_class, defaults = HF_SPECS[architecture]
    config = build_hf_config(
        config_class, defaults, num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs
    )
    return HFImageClassifier(getattr(transformers, model_class)(config))


_TINY_CONVNEXT = {"num_stages": 2, "hidden_sizes": (8, 16), "depths": (1, 1)}
_TINY_VIT = {
    "patch_size": 8,
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
}
_VIT_PAPER = "Dosovitskiy et al. 2021, arXiv 2010.11929"
_BUDGET_CONVNEXT = {"patch_size": 4, "num_stages": 3, "hidden_sizes": (40, 80, 160), "depths": (2, 2, 2)}


@register(
    "vit",
    family="hf",
    description="Vision Transformer (transformers), ViT-Tiny widths, 4x4 patches",
    paper=_VIT_PAPER,
    tiny_args=_TINY_VIT,
    wrapper=HFImageClassifier,
)
@register(
    "vit_budget",
    family="hf",
    description="ViT (transformers) at 35 MFLOPs: 8x8 patches, 96-dim x 4 layers",
    paper=_VIT_PAPER,
    tiny_args=_TINY_VIT,
    budget_of="vit",
    args={
        "patch_size": 8,
        "hidden_size": 96,
        "num_hidden_layers": 4,
        "num_attention_heads": 3,
        "intermediate_size": 384,
    },
    wrapper=HFImageClassifier,
)
def _create_vit(**kwargs) -> HFImageClassifier:
    """transformers ViT, ViT-Tiny widths, 4x4 patches (about 5.4M params; budget: 0.46M params, 35 MFLOPs)."""
    return _create_hf("vit", **kwargs)


def _create_convnext(**kwargs) -> HFImageClassifier:
    """transformers ConvNeXt, femto widths, 2x2 stem (about 4.8M params; budget: 0.5M params, 26 MFLOPs)."""
    return _create_hf("convnext", **kwargs)


def _create_convnextv2(**kwargs) -> HFImageClassifier:
    """transformers ConvNeXt V2 (GRN blocks), femto widths, 2x2 stem (about 4.8M params; budget: 0.5M, 26 MFLOPs)."""
    return _create_hf("convnextv2", **kwargs)


for _name, _shown, _paper, _builder in (
    ("convnext", "ConvNeXt", "Liu et al. 2022, arXiv 2201.03545", _create_convnext),
    ("convnextv2", "ConvNeXt V2", "Woo et al. 2023, arXiv 2301.00808", _create_convnextv2),
):
    _common: dict[str, Any] = {
        "family": "hf",
        "paper": _paper,
        "tiny_args": _TINY_CONVNEXT,
        "wrapper": HFImageClassifier,
    }
    register(_name, description=f"{_shown} (transformers), femto widths, 2x2 stem", **_common)(_builder)
    register(
        f"{_name}_budget",
        description=f"{_shown} (transformers) at 26 MFLOPs: 4x4 stem, 3 stages 40-80-160",
        budget_of=_name,
        args=_BUDGET_CONVNEXT,
        **_common,
    )(_builder)
