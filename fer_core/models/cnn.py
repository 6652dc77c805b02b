"""VGG-style baseline CNN with batch norm and dropout.

In the spirit of the compact FER2013 baselines (e.g. Khaireddin & Chen 2021, "Facial Emotion Recognition: State of
the Art Performance on FER2013", arXiv 2105.03588): stacked 3x3 conv blocks, batch norm, max pooling, dropout, a
global-average-pooled head so any input size works.

``cnn_budget`` (widths 16-32-64-128, about 59 MFLOPs per 48 px face) is the reference point of the compute-budget
zoo: every other ``*_budget`` variant is sized to train at about its speed on one CPU thread.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_core.models.blocks import FerClassifier, vgg_stages
from fer_core.models.factory import register

__all__ = ["FerCNN"]


@register(
    "cnn",
    description="VGG-style CNN baseline with batch norm and dropout",
    paper="Khaireddin & Chen 2021, arXiv 2105.03588",
    tiny_args={"widths": (8, 16)},
)
@register(
    "cnn_budget",
    description="cnn at half width (16-32-64-128): the compute-budget reference",
    paper="Khaireddin & Chen 2021, arXiv 2105.03588",
    tiny_args={"widths": (8, 16)},
    budget_of="cnn",
    args={"widths": (16, 32, 64, 128), "drop_rate": 0.1, "head_dropout": 0.3},
)
class FerCNN(FerClassifier):
    """Stages of two conv-bn-relu layers, each followed by 2x2 max pooling and dropout.

    ``cnn``: widths 32-64-128-256 (about 1.2M params); ``cnn_budget``: half width, light dropout (about 0.3M
    params, 59 MFLOPs at 48 px). ``img_size`` is unused: the head pools globally, so any input size works.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        drop_rate: float = 0.3,
        head_dropout: float = 0.4,
    ) -> None:
        super().__init__(num_classes)
        self.features, chans = vgg_stages(in_chans, widths, drop_rate)
        self.num_features = chans
        self.head_drop = nn.Dropout(head_dropout)
        self.head = nn.Linear(chans, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(x.mean(dim=(2, 3))))
