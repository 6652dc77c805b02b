"""DDAMFN: Dual-Direction Attention Mixed Feature Network.

Zhang et al. 2023, "A Dual-Direction Attention Mixed Feature Network for Facial Expression Recognition",
Electronics 12(17):3595. A MobileFaceNet-style backbone with mixed depthwise kernels (MFN) yields a feature map;
several dual-direction attention (DDA) heads each build an attention map from two directional summaries: a learned
depthwise conv that collapses the width (one value per row) and one that collapses the height (one value per
column), in the spirit of coordinate attention (Hou et al. 2021, arXiv 2103.02907, which uses average pooling). The
heads' maps are combined by an element-wise max, multiply the features, and a global depthwise conv (GDConv, a
depthwise conv as large as the map) plus a linear layer give the logits.

Attention-diversity loss (the paper's attention loss): with M heads and attention maps a_1..a_M from the last forward
pass, ``L_att = P / (sum over pairs i<j of MSE(a_i, a_j) + eps)`` with P = M(M-1)/2 pairs, i.e. the reciprocal of the
mean pairwise mean-squared difference. It is large when heads attend alike and shrinks as they diverge; the training
loop adds ``weight * model.auxiliary_loss()`` to the classification loss. With a single head it is 0.

For 48 px faces the backbone downsamples 8x (6x6 maps) instead of MobileFaceNet's 16x; the directional convs and the
GDConv take their sizes from ``img_size``. The mixed depthwise kernels default to 3x3 and 5x5: adding 7x7 (as in the
paper's MFN) triples batch-1 latency under ONNX Runtime, whose depthwise kernels are tuned for small sizes, for a
receptive-field gain that a 6x6 map hardly needs; ``kernel_sizes=(3, 5, 7)`` restores it.

``ddamfn_budget`` keeps the mixed 3/5 depthwise kernels, two DDA heads and the attention-diversity loss on an MFN at
half width and a third of the depth (stem 32, stages 32-64-64, 256 feature channels): about 10 MFLOPs per 48 px
face. The full-size network is already under 100 MFLOPs, but its depthwise and mixed-kernel convs train at about a
tenth of a dense CNN's speed per FLOP on a CPU; this size trains at about the ``cnn_budget``'s speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from fer_core.models.blocks import FerClassifier
from fer_core.models.factory import register
from fer_core.models.mobilefacenet import BUDGET_STAGES, DEFAULT_STAGES, MobileFaceNetBackbone

__all__ = ["DDAMFN", "DualDirectionAttention", "attention_diversity_loss"]


def attention_diversity_loss(maps: Sequence[torch.Tensor], eps: float = 1e-6) -> torch.Tensor:
    """Number of head pairs over the summed pairwise MSE of their attention maps (0 for fewer than two heads)."""
    pairs = list(combinations(maps, 2))
    if not pairs:
        return maps[0].new_zeros(()) if maps else torch.zeros(())
    total = sum((F.mse_loss(first, second) for first, second in pairs), maps[0].new_zeros(()))
    return len(pairs) / (total + eps)


def _depthwise_bn(chans: int, kernel_size: tuple[int, int]) -> nn.Sequential:
    """Unpadded depthwise conv + batch norm: with a kernel as long as one axis it collapses that axis."""
    return nn.Sequential(nn.Conv2d(chans, chans, kernel_size, groups=chans, bias=False), nn.BatchNorm2d(chans))


class DualDirectionAttention(nn.Module):
    """One DDA head: an attention map ``(B, C, H, W)`` in [0, 1], product of a row and a column attention."""

    def __init__(self, chans: int, height: int, width: int, reduction: int = 32) -> None:
        super().__init__()
        hidden = max(8, chans // reduction)
        self.height = height
        self.collapse_width = _depthwise_bn(chans, (1, width))  # -> (B, C, H, 1)
        self.collapse_height = _depthwise_bn(chans, (height, 1))  # -> (B, C, 1, W)
        self.shared = nn.Sequential(nn.Conv2d(chans, hidden, 1), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.to_rows = nn.Conv2d(hidden, chans, 1)
        self.to_cols = nn.Conv2d(hidden, chans, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.collapse_width(x)
        cols = self.collapse_height(x).transpose(2, 3)  # (B, C, W, 1): both directions along one axis
        mixed = self.shared(torch.cat([rows, cols], dim=2))
        rows, cols = mixed[:, :, : self.height], mixed[:, :, self.height :]
        row_attention = self.to_rows(rows).sigmoid()  # (B, C, H, 1)
        col_attention = self.to_cols(cols).sigmoid().transpose(2, 3)  # (B, C, 1, W)
        return row_attention * col_attention


_TINY_DDAMFN = {
    "stem_chans": 8,
    "stages": ((8, 1, 2, 2), (16, 1, 2, 2)),
    "kernel_sizes": (3, 5, 7),
    "feature_chans": 16,
}


@register(
    "ddamfn",
    description="Dual-Direction Attention Mixed Feature Network (MFN backbone + DDA heads)",
    paper="Zhang et al. 2023, Electronics 12(17):3595",
    tiny_args=_TINY_DDAMFN,
)
@register(
    "ddamfn_budget",
    description="DDAMFN at half width: MFN 32-64-64 (mixed 3/5 kernels), two DDA heads",
    paper="Zhang et al. 2023, Electronics 12(17):3595",
    tiny_args=_TINY_DDAMFN,
    budget_of="ddamfn",
    args={"stem_chans": 32, "stages": BUDGET_STAGES, "feature_chans": 256},
)
class DDAMFN(FerClassifier):
    """MFN backbone, ``num_heads`` DDA heads merged by max, GDConv head; ``auxiliary_loss()`` after each forward.

    ``ddamfn``: MFN backbone (mixed 3/5 depthwise kernels, 8x downsampling), two DDA heads, 512-channel GDConv
    head;
    ``ddamfn_budget``: MFN at half width (stem 32, stages 32-64-64, mixed 3/5 kernels), two DDA heads, 256
    channels (10 MFLOPs).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        img_size: int = 48,
        stem_chans: int = 64,
        stages: Sequence[Sequence[int]] = DEFAULT_STAGES,
        kernel_sizes: Sequence[int] = (3, 5),
        feature_chans: int = 512,
        num_heads: int = 2,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__(num_classes)
        self.backbone = MobileFaceNetBackbone(in_chans, stem_chans, stages, feature_chans, kernel_sizes)
        side = self.backbone.output_size(img_size)
        self.heads = nn.ModuleList(DualDirectionAttention(feature_chans, side, side) for _ in range(num_heads))
        self.gdconv = _depthwise_bn(feature_chans, (side, side))
        self.head_drop = nn.Dropout(drop_rate)
        self.num_features = feature_chans
        self.head = nn.Linear(feature_chans, num_classes)
        self._attention_maps: list[torch.Tensor] = []

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features re-weighted by the heads' max attention ``(B, C, h, w)``; keeps the maps."""
        features = self.backbone(x)
        self._attention_maps = [head(features) for head in self.heads]
        combined = self._attention_maps[0]
        for attention in self._attention_maps[1:]:
            combined = torch.maximum(combined, attention)
        return features * combined

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.gdconv(x).flatten(1)))

    def auxiliary_loss(self) -> torch.Tensor:
        """Attention-diversity loss of the last forward pass (see the module docstring); call after ``forward``."""
        if not self._attention_maps:
            raise RuntimeError("auxiliary_loss() needs a forward pass first")
        return attention_diversity_loss(self._attention_maps)

    def __getstate__(self) -> dict:
        """Copies drop the last pass's maps: non-leaf tensors would make ``copy.deepcopy(model)`` fail (e.g. EMA)."""
        return {**super().__getstate__(), "_attention_maps": []}
