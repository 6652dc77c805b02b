"""CNN features followed by multi-head self-attention over the spatial positions.

A convolutional stem extracts local texture (wrinkles, mouth corners); self-attention (Vaswani et al. 2017,
arXiv 1706.03762) then relates distant face regions, e.g. eyebrows with the mouth. Hybrids of this kind are common on
FER2013; this one keeps the stem of the baseline CNN (``cnn``), stops at 1/8 resolution (6x6 tokens at 48 px), adds a
learned positional embedding, and average-pools the attended tokens into a linear head.

``cnn_mha_budget`` halves the conv widths (16-32-64, so 64-dim tokens) and keeps two attention layers, with 4 heads
of 16 dims: about 49 MFLOPs per 48 px face.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_core.models.blocks import FerClassifier, to_tokens, vgg_stages
from fer_core.models.factory import register
from fer_core.models.transformer import PositionalEmbedding, TransformerEncoder

__all__ = ["FerCNNMHA"]


@register(
    "cnn_mha",
    description="CNN features + multi-head self-attention over spatial tokens",
    paper="Vaswani et al. 2017, arXiv 1706.03762 (attention); CNN stem as in cnn",
    tiny_args={"widths": (8, 16), "depth": 1, "num_heads": 2},
)
@register(
    "cnn_mha_budget",
    description="cnn_mha at half width (16-32-64 convs, 64-dim tokens, 2 layers)",
    paper="Vaswani et al. 2017, arXiv 1706.03762 (attention); CNN stem as in cnn",
    tiny_args={"widths": (8, 16), "depth": 1, "num_heads": 2},
    budget_of="cnn_mha",
    args={"widths": (16, 32, 64), "depth": 2, "num_heads": 4},
)
class FerCNNMHA(FerClassifier):
    """Conv stages (two conv-bn-relu + max pool each), then a transformer encoder over the feature-map tokens.

    ``cnn_mha``: Conv stages 32-64-128 (6x6 tokens at 48 px), two attention layers with 4 heads;
    ``cnn_mha_budget``: Conv stages 16-32-64, two attention layers with 4 heads over 6x6 tokens (about 49 MFLOPs
    at 48 px).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        widths: tuple[int, ...] = (32, 64, 128),
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        drop_rate: float = 0.1,
        drop_path_rate: float = 0.1,
        head_dropout: float = 0.3,
    ) -> None:
        super().__init__(num_classes)
        self.features, chans = vgg_stages(in_chans, widths)
        side = img_size // 2 ** len(widths)
        self.pos_embed = PositionalEmbedding(side * side, chans)
        self.encoder = TransformerEncoder(chans, depth, num_heads, mlp_ratio, drop_rate, drop_rate, drop_path_rate)
        self.num_features = chans
        self.head_drop = nn.Dropout(head_dropout)
        self.head = nn.Linear(chans, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Attended tokens ``(B, N, C)``."""
        return self.encoder(self.pos_embed(to_tokens(self.features(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(x.mean(dim=1)))
