"""The FER+ VGG13 of Barsoum et al. 2016.

"Training Deep Networks for Facial Expression Recognition with Crowd-Sourced Label Distribution" (arXiv 1608.01041):
64x64 grey input, conv blocks of 2x64, 2x128, 3x256, 3x256 3x3 filters, each block ending in 2x2 max pooling and
dropout 0.25, then two fully connected layers of 1024 with dropout 0.5 and the output layer. The paper's network has
no batch norm; ``batch_norm=True`` (the default here) adds it after every conv so the shared from-scratch recipes
(AdamW, high learning rate) train it reliably - pass ``batch_norm=False`` for the exact paper network. The first FC
layer's input follows from ``img_size`` (4x4x256 at the paper's 64 px, 3x3x256 at 48 px).

``vgg13_budget`` keeps the paper's ten convs in blocks of 2-2-3-3 and the two FC layers at a quarter of the width
(16-32-64-64 filters, FC 256): about 62 MFLOPs per 48 px face.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_core.models.blocks import FerClassifier, conv3x3_layers
from fer_core.models.factory import register

__all__ = ["FerPlusVGG13"]

# (width, number of 3x3 convs) per block, from the paper's Figure 2.
PAPER_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (256, 3))
QUARTER_BLOCKS: tuple[tuple[int, int], ...] = tuple((width // 4, convs) for width, convs in PAPER_BLOCKS)


def conv_block(in_chans: int, width: int, num_convs: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    """``num_convs`` 3x3 convs with ReLU (and batch norm), then 2x2 max pooling and dropout."""
    layers: list[nn.Module] = []
    for index in range(num_convs):
        layers += conv3x3_layers(in_chans if index == 0 else width, width, batch_norm)
    layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


@register(
    "vgg13",
    description="FER+ VGG13 (Barsoum et al.): 10 conv layers, two FC-1024, dropout",
    paper="Barsoum et al. 2016, arXiv 1608.01041",
    tiny_args={"blocks": ((8, 1), (16, 1)), "fc_width": 16},
)
@register(
    "vgg13_budget",
    description="FER+ VGG13 at quarter width: 10 convs (16-32-64-64), two FC-256",
    paper="Barsoum et al. 2016, arXiv 1608.01041",
    tiny_args={"blocks": ((8, 1), (16, 1)), "fc_width": 16},
    budget_of="vgg13",
    args={"blocks": QUARTER_BLOCKS, "fc_width": 256},
)
class FerPlusVGG13(FerClassifier):
    """Four conv blocks, flatten, FC-ReLU-dropout twice, linear output.

    ``vgg13``: Barsoum et al.'s FER+ VGG13 (blocks 64-128-256-256, FC 1024-1024), with batch norm by default;
    ``vgg13_budget``: The FER+ VGG13 at quarter width: blocks 16-32-64-64, FC 256-256 (about 62 MFLOPs at 48
    px).
    """

    def __init__(
        self,
        num_classes: int = 8,
        in_chans: int = 1,
        img_size: int = 64,
        blocks: tuple[tuple[int, int], ...] = PAPER_BLOCKS,
        fc_width: int = 1024,
        batch_norm: bool = True,
        conv_dropout: float = 0.25,
        fc_dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes)
        stages, chans = [], in_chans
        for width, num_convs in blocks:
            stages.append(conv_block(chans, width, num_convs, batch_norm, conv_dropout))
            chans = width
        self.features = nn.Sequential(*stages)
        side = img_size // 2 ** len(blocks)
        if side < 1:
            raise ValueError(f"img_size {img_size} is too small for {len(blocks)} pooling blocks")
        self.pre_logits = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans * side * side, fc_width),
            nn.ReLU(inplace=True),
            nn.Dropout(fc_dropout),
            nn.Linear(fc_width, fc_width),
            nn.ReLU(inplace=True),
            nn.Dropout(fc_dropout),
        )
        self.num_features = fc_width
        self.head = nn.Linear(fc_width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pre_logits(x))
