"""Building blocks shared by the from-scratch models: the classifier skeleton and the VGG-style conv layers.

Every helper here builds modules in the order the models always built them, so the state-dict keys (and the
shipped weights that use them) and the random initialisation stay what they were.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["FerClassifier", "conv3x3_layers", "conv_bn_relu", "to_tokens", "vgg_stages"]


class FerClassifier(nn.Module):
    """The timm-style skeleton of every from-scratch model: ``forward_head(forward_features(x))``.

    Subclasses define ``forward_features`` and ``forward_head`` and set ``num_features``; the split lets timm-style
    tooling take features or logits alike.
    """

    num_features: int

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def conv3x3_layers(in_chans: int, out_chans: int, batch_norm: bool = True) -> list[nn.Module]:
    """3x3 convolution (bias only without batch norm), batch norm, ReLU: as a list, to splice into a stage."""
    conv = nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=not batch_norm)
    norm = [nn.BatchNorm2d(out_chans)] if batch_norm else []
    return [conv, *norm, nn.ReLU(inplace=True)]


def conv_bn_relu(in_chans: int, out_chans: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(*conv3x3_layers(in_chans, out_chans))


def vgg_stages(in_chans: int, widths: Sequence[int], drop_rate: float = 0.0) -> tuple[nn.Sequential, int]:
    """One flat ``Sequential`` of stages (two conv-bn-relu, 2x2 max pool, ``Dropout2d(drop_rate / 2)`` if any)
    per width, and its output channels."""
    stages: list[nn.Module] = []
    chans = in_chans
    for width in widths:
        stages += [conv_bn_relu(chans, width), conv_bn_relu(width, width), nn.MaxPool2d(2)]
        if drop_rate:
            stages.append(nn.Dropout2d(drop_rate / 2))
        chans = width
    return nn.Sequential(*stages), chans


def to_tokens(feature_map: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` feature map -> ``(B, H*W, C)`` token sequence."""
    return feature_map.flatten(2).transpose(1, 2)
