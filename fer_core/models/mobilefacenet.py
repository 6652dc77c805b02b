"""MobileFaceNet-style backbone shared by MCCT and DDAMFN.

MobileFaceNet (Chen et al. 2018, arXiv 1804.07573): a 3x3 stride-2 stem, a depthwise 3x3, then MobileNetV2
inverted-residual bottlenecks (1x1 expand, depthwise kxk, linear 1x1 project) with PReLU, and a 1x1 conv to a wide
embedding. The paper downsamples 112 px faces 16x to 7x7; for 48 px faces the default stages here downsample only
8x (48 -> 6x6), otherwise a 48 px face would end as a 3x3 map. DDAMFN's MFN backbone mixes depthwise kernel sizes
inside one layer (MixConv, Tan & Le 2019, arXiv 1907.09595): ``kernel_sizes=(3, 5, 7)`` does that here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "BUDGET_STAGES",
    "DEFAULT_STAGES",
    "ConvBNAct",
    "InvertedResidual",
    "MixedDepthwiseConv",
    "MobileFaceNetBackbone",
]

# (out_chans, depth, expansion, stride) per stage: MobileFaceNet's bottleneck table with its last stride dropped.
DEFAULT_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (64, 5, 2, 2),
    (128, 1, 4, 2),
    (128, 6, 2, 1),
    (128, 2, 2, 1),
)
# The same table at half width and about a third of the depth, for the compute-budget variants of MCCT and DDAMFN.
BUDGET_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (32, 2, 2, 2),
    (64, 1, 4, 2),
    (64, 2, 2, 1),
)


class ConvBNAct(nn.Sequential):
    """Conv, batch norm and (unless ``act=False``, the linear bottleneck case) PReLU."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int | tuple[int, int] = 1,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        padding = (size[0] // 2, size[1] // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, out_chans, size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_chans),
        ]
        if act:
            layers.append(nn.PReLU(out_chans))
        super().__init__(*layers)


class MixedDepthwiseConv(nn.Module):
    """Depthwise conv whose channel groups use different kernel sizes (MixConv); one size is a plain depthwise."""

    def __init__(self, chans: int, kernel_sizes: Sequence[int] = (3,), stride: int = 1) -> None:
        super().__init__()
        sizes = [chans // len(kernel_sizes)] * len(kernel_sizes)
        sizes[0] += chans - sum(sizes)
        self.split_sizes = sizes
        self.convs = nn.ModuleList(
            nn.Conv2d(size, size, k, stride, k // 2, groups=size, bias=False)
            for size, k in zip(sizes, kernel_sizes, strict=True)
        )
        self.bn = nn.BatchNorm2d(chans)
        self.act = nn.PReLU(chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.convs) == 1:
            out = self.convs[0](x)
        else:
            parts = x.split(self.split_sizes, dim=1)
            out = torch.cat([conv(part) for conv, part in zip(self.convs, parts, strict=True)], dim=1)
        return self.act(self.bn(out))


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: expand, depthwise, linear project; identity shortcut when shapes allow."""

    def __init__(
        self, in_chans: int, out_chans: int, expansion: int, stride: int, kernel_sizes: Sequence[int] = (3,)
    ) -> None:
        super().__init__()
        hidden = in_chans * expansion
        self.use_shortcut = stride == 1 and in_chans == out_chans
        self.block = nn.Sequential(
            ConvBNAct(in_chans, hidden, 1),
            MixedDepthwiseConv(hidden, kernel_sizes, stride),
            ConvBNAct(hidden, out_chans, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_shortcut else out


class MobileFaceNetBackbone(nn.Module):
    """Stem, bottleneck stages and a 1x1 conv to ``out_chans``: ``(B, C, H, W)`` -> ``(B, out_chans, h, w)``."""

    def __init__(
        self,
        in_chans: int = 1,
        stem_chans: int = 64,
        stages: Sequence[Sequence[int]] = DEFAULT_STAGES,
        out_chans: int = 512,
        kernel_sizes: Sequence[int] = (3,),
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(in_chans, stem_chans, 3, stride=2),
            ConvBNAct(stem_chans, stem_chans, 3, groups=stem_chans),
        )
        blocks, chans, self.num_downsamples = [], stem_chans, 1
        for out, depth, expansion, stride in stages:
            if stride not in (1, 2):
                raise ValueError(f"stage stride must be 1 or 2, got {stride}")
            for index in range(depth):
                blocks.append(InvertedResidual(chans, out, expansion, stride if index == 0 else 1, kernel_sizes))
                chans = out
            self.num_downsamples += stride == 2
        self.blocks = nn.Sequential(*blocks)
        self.conv_out = ConvBNAct(chans, out_chans, 1)
        self.out_chans = out_chans

    def output_size(self, img_size: int) -> int:
        """Side of the output feature map for a square input of ``img_size`` pixels."""
        size = img_size
        for _ in range(self.num_downsamples):
            size = (size + 1) // 2  # stride-2 conv with padding k//2 rounds up
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.blocks(self.stem(x)))
