"""MCCT: a MobileFaceNet backbone as the tokenizer of a compact convolutional transformer.

CCT (Hassani et al. 2021, arXiv 2104.05704) tokenizes with a couple of plain convs; MCCT swaps them for the
depthwise-separable inverted-residual stack of MobileFaceNet (Chen et al. 2018, arXiv 1804.07573), a face-specific
feature extractor, so the encoder attends over 6x6 tokens of face features at 48 px. The tokens then go through a
learned positional embedding, a transformer encoder and CCT's sequence pooling. Default size about 3.4M params
(the budget is 5.67M).

``mcct_budget`` runs the backbone at half width and a third of the depth (stem 32, stages 32-64-64) into a 2-layer,
128-dim encoder with 2 heads: about 30 MFLOPs per 48 px face (depthwise convs train at about a third of the speed
of dense ones per FLOP on a CPU, hence the lower count).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fer_core.models.blocks import to_tokens
from fer_core.models.factory import register
from fer_core.models.mobilefacenet import BUDGET_STAGES, DEFAULT_STAGES, MobileFaceNetBackbone
from fer_core.models.transformer import CompactTransformer, TransformerEncoder

__all__ = ["MCCT"]


_TINY_MCCT = {
    "stem_chans": 8,
    "stages": ((8, 1, 2, 2), (16, 1, 2, 2)),
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
}


@register(
    "mcct",
    description="MobileFaceNet backbone + compact transformer with sequence pooling",
    paper="Chen et al. 2018, arXiv 1804.07573; Hassani et al. 2021, arXiv 2104.05704",
    tiny_args=_TINY_MCCT,
)
@register(
    "mcct_budget",
    description="MCCT at half width: MobileFaceNet 32-64-64 + 2-layer 128-dim encoder",
    paper="Chen et al. 2018, arXiv 1804.07573; Hassani et al. 2021, arXiv 2104.05704",
    tiny_args=_TINY_MCCT,
    budget_of="mcct",
    args={"stem_chans": 32, "stages": BUDGET_STAGES, "embed_dim": 128, "depth": 2, "num_heads": 2},
)
class MCCT(CompactTransformer):
    """MobileFaceNet feature map -> tokens -> transformer encoder -> sequence pooling -> linear head.

    ``mcct``: MobileFaceNet (8x downsampling) + 5-layer 256-dim encoder with sequence pooling;
    ``mcct_budget``: MobileFaceNet at half width (stem 32, stages 32-64-64) + 2-layer 128-dim encoder (about 30
    MFLOPs).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        stem_chans: int = 64,
        stages: Sequence[Sequence[int]] = DEFAULT_STAGES,
        embed_dim: int = 256,
        depth: int = 5,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.1,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__(num_classes)
        self.backbone = MobileFaceNetBackbone(in_chans, stem_chans, stages, out_chans=embed_dim)
        side = self.backbone.output_size(img_size)
        self.build_body(
            side * side,
            embed_dim,
            lambda: TransformerEncoder(
                embed_dim, depth, num_heads, mlp_ratio, drop_rate, attn_drop_rate, drop_path_rate
            ),
        )

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos_embed(to_tokens(self.backbone(x)))
