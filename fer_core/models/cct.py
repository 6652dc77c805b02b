"""Compact Convolutional Transformer (CCT).

Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact Transformers" (arXiv 2104.05704): a convolutional
tokenizer (conv-ReLU-max pool layers) replaces ViT's patch embedding, a small transformer encoder follows, and
sequence pooling (a learned attention weighting of the output tokens) replaces the class token. CCT-L/KxC names L
encoder layers and C tokenizer convs of size KxK. The paper's CCT-7/3x1 (256-dim, 4 heads, MLP ratio 2) fits 32 px
CIFAR images with 16x16 tokens; at 48 px one conv would leave 24x24 = 576 tokens, so the default here uses two
tokenizer convs (12x12 = 144 tokens) and a 4-layer, 128-dim encoder (CCT-4 widths) so it runs live on one CPU core.
``depth=7, embed_dim=256, num_heads=4, mlp_ratio=2`` gives the paper's CCT-7/3x2.

``cct_budget`` is a CCT-4/3x3 at 96 dims (2 heads, MLP ratio 1): a third tokenizer conv (32-channel hidden convs)
leaves 6x6 = 36 tokens at 48 px, where 144 tokens would spend most of the budget on attention maps; about
38 MFLOPs per face.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from fer_core.models.blocks import to_tokens
from fer_core.models.factory import register
from fer_core.models.transformer import CompactTransformer, TransformerEncoder

__all__ = ["CCT", "ConvTokenizer"]


class ConvTokenizer(nn.Module):
    """``num_convs`` x (KxK conv, ReLU, 3x3 stride-2 max pool), flattened to tokens ``(B, N, embed_dim)``."""

    def __init__(
        self, in_chans: int, embed_dim: int, num_convs: int = 2, kernel_size: int = 3, hidden_chans: int = 64
    ) -> None:
        super().__init__()
        widths = [in_chans] + [hidden_chans] * (num_convs - 1) + [embed_dim]
        layers: list[nn.Module] = []
        for in_width, out_width in pairwise(widths):
            layers += [
                nn.Conv2d(in_width, out_width, kernel_size, padding=kernel_size // 2, bias=False),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
        self.layers = nn.Sequential(*layers)
        self.num_convs = num_convs
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    def num_tokens(self, img_size: int) -> int:
        """Token count for a square ``img_size`` input (each max pool halves the side, rounding up)."""
        side = img_size
        for _ in range(self.num_convs):
            side = (side + 1) // 2
        return side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_tokens(self.layers(x))


@register(
    "cct",
    description="Compact Convolutional Transformer: conv tokenizer, encoder, sequence pooling",
    paper="Hassani et al. 2021, arXiv 2104.05704",
    tiny_args={"embed_dim": 16, "depth": 1, "num_heads": 2, "num_convs": 1},
)
@register(
    "cct_budget",
    description="CCT-4/3x3 at 96 dims: 3-conv tokenizer (36 tokens), sequence pooling",
    paper="Hassani et al. 2021, arXiv 2104.05704",
    tiny_args={"embed_dim": 16, "depth": 1, "num_heads": 2, "num_convs": 1},
    budget_of="cct",
    args={"embed_dim": 96, "depth": 4, "num_heads": 2, "num_convs": 3, "tokenizer_chans": 32},
)
class CCT(CompactTransformer):
    """Conv tokenizer, learned positional embedding, transformer encoder, sequence pooling, linear head.

    ``cct``: CCT-4/3x2 at 128 dims: 144 tokens at 48 px (about 0.5M params);
    ``cct_budget``: CCT-4/3x3 at 96 dims: 36 tokens at 48 px (about 0.27M params, 38 MFLOPs).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        embed_dim: int = 128,
        depth: int = 4,
        num_heads: int = 2,
        mlp_ratio: float = 1.0,
        num_convs: int = 2,
        kernel_size: int = 3,
        tokenizer_chans: int = 64,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.1,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__(num_classes)
        self.tokenizer = ConvTokenizer(in_chans, embed_dim, num_convs, kernel_size, tokenizer_chans)
        self.pos_drop = nn.Dropout(drop_rate)
        self.build_body(
            self.tokenizer.num_tokens(img_size),
            embed_dim,
            lambda: TransformerEncoder(
                embed_dim, depth, num_heads, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate
            ),
        )

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos_drop(self.pos_embed(self.tokenizer(x)))
