"""CLIP's vision tower (transformers ``CLIPVisionModel``) with a linear classification head, trained from scratch.

Radford et al. 2021, "Learning Transferable Visual Models From Natural Language Supervision" (arXiv 2103.00020):
a pre-norm ViT with a layer norm before the encoder and a pooled (class-token) output. Here it is built from a
``CLIPVisionConfig`` sized for 48 px faces (256-dim, 4 heads, 6 layers, 4x4 patches) and a linear layer on the
pooled output gives the logits. ``CLIPVisionModel`` is not an ``AutoModelForImageClassification`` class, so the
wrapper saves the head next to the tower: ``save_pretrained`` files plus ``classifier_head.safetensors``; the class
count and label names ride in the tower's config (``num_labels`` / ``id2label``), so the directory rebuilds itself.

``clip_vision_budget`` is the same pre-norm tower with its pooled output at the ``vit_budget`` shape: 8x8 patches
(36 tokens + class token), 96-dim, 4 layers of 3 heads, MLP 384, about 35 MFLOPs per 48 px face.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fer_core.models.factory import register
from fer_core.models.hf import build_hf_config

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["HEAD_FILE", "CLIPVisionClassifier"]

HEAD_FILE = "classifier_head.safetensors"
CLIP_DEFAULTS = {
    "patch_size": 4,
    "hidden_size": 256,
    "intermediate_size": 1024,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "attention_dropout": 0.0,
}


class CLIPVisionClassifier(nn.Module):
    """``CLIPVisionModel`` tower + dropout + linear head on its pooled output."""

    def __init__(self, hf_model: PreTrainedModel, drop_rate: float = 0.1) -> None:
        super().__init__()
        self.hf_model: PreTrainedModel = hf_model
        num_labels = hf_model.config.num_labels
        if num_labels is None:
            raise ValueError("a CLIP vision tower config needs num_labels (the classifier head's width)")
        self.num_classes: int = num_labels
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(int(hf_model.config.hidden_size), self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.hf_model(pixel_values=x).pooler_output
        return self.head(self.head_drop(pooled))

    def save_pretrained_dir(self, directory: str | Path) -> None:
        """The tower in ``save_pretrained`` layout plus the head in ``classifier_head.safetensors``."""
        self.hf_model.save_pretrained(directory)
        head_state = {k: v.detach().cpu().contiguous().clone() for k, v in self.head.state_dict().items()}
        save_file(head_state, str(Path(directory) / HEAD_FILE), metadata={"format": "pt"})

    @classmethod
    def from_pretrained_dir(cls, directory: str | Path) -> CLIPVisionClassifier:
        """Rebuild offline (float32) from a directory written by :meth:`save_pretrained_dir`."""
        from transformers import CLIPVisionModel

        tower = CLIPVisionModel.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
        )
        model = cls(tower.float())
        head_state = load_file(str(Path(directory) / HEAD_FILE))
        model.head.load_state_dict({k: v.float() for k, v in head_state.items()})
        return model


_TINY_CLIP = {
    "patch_size": 8,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
}
_CLIP_PAPER = "Radford et al. 2021, arXiv 2103.00020"


@register(
    "clip_vision",
    family="hf",
    description="CLIP vision tower (transformers) + linear head on the pooled output",
    paper=_CLIP_PAPER,
    tiny_args=_TINY_CLIP,
    wrapper=CLIPVisionClassifier,
)
@register(
    "clip_vision_budget",
    family="hf",
    description="CLIP vision tower at 35 MFLOPs: 8x8 patches, 96-dim x 4 layers",
    paper=_CLIP_PAPER,
    tiny_args=_TINY_CLIP,
    budget_of="clip_vision",
    args={
        "patch_size": 8,
        "hidden_size": 96,
        "intermediate_size": 384,
        "num_hidden_layers": 4,
        "num_attention_heads": 3,
    },
    wrapper=CLIPVisionClassifier,
)
def _create_clip_vision(
    num_classes: int = 7, in_chans: int = 1, img_size: int = 48, drop_rate: float = 0.1, **kwargs
) -> CLIPVisionClassifier:
    """CLIP vision tower, 256-dim x 6 layers, 4x4 patches, linear head (about 4.8M params; budget: 8x8 patches,
    96-dim x 4 layers, 3 heads, about 0.46M params, 35 MFLOPs at 48 px)."""
    from transformers import CLIPVisionModel

    config = build_hf_config(
        "CLIPVisionConfig", CLIP_DEFAULTS, num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs
    )
    return CLIPVisionClassifier(CLIPVisionModel(config), drop_rate=drop_rate)
