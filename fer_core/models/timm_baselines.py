"""ImageNet classics from timm, adapted so that 48 px faces are not downsampled away.

The networks are timm's own classes (``timm.create_model(..., pretrained=False)``, or timm's ``VGG`` class itself),
built from scratch; only the parts that assume 224 px inputs are swapped, the way CIFAR-sized variants are made:

- ResNet-18 (He et al. 2016, arXiv 1512.03385): the 7x7 stride-2 stem conv and 3x3 max pool divide the input by 4
  before the first block; a 3x3 stride-1 stem without max pool keeps 48 px -> 6x6 at the last stage (not 2x2).
- VGG-16 (Simonyan & Zisserman 2015, arXiv 1409.1556): five max pools take 48 px to 1x1 and the head is a 7x7 conv
  with 4096 channels (~120M params). timm's ``VGG`` class is built from VGG-16's layer table without the fifth pool
  (3x3 at 48 px) and its head becomes a 1x1 ConvMlp of ``head_width`` channels. Batch norm (timm's ``vgg16_bn``) is
  the default: plain VGG-16 rarely trains from scratch with the shared recipes; ``batch_norm=False`` gives it.
- DenseNet-121 (Huang et al. 2017, arXiv 1608.06993): the 7x7 stride-2 stem conv becomes 3x3 stride 1; the stem max
  pool stays, so blocks run at 24-12-6-3 px for a 48 px face (a 96 px input's layout on ImageNet proportions).

Compute-budget variants (about 100 MFLOPs per 48 px face or less, sized to train at the ``cnn_budget``'s speed):

- ``resnet18_budget``: ResNet-18's basic blocks (2-2-2-2) at quarter width (16-32-64-128) with the stem max pool
  kept, so stages run at 24-12-6-3 px (40 MFLOPs; without the pool, 156).
- ``vgg16_budget``: VGG-16's 13 convs in its 2-2-3-3-3 stage pattern at 3/16 width (12-24-48-96-96), 256-channel
  head (51 MFLOPs).
- ``densenet121_budget``: dense blocks of concatenated features at a third of DenseNet-121's depth (2-4-8-5 layers
  for 6-12-24-16) with growth rate 12 (33 MFLOPs): many thin layers and concatenations make DenseNet the slowest
  design per FLOP here.
"""

from __future__ import annotations

from typing import Any

import timm
from timm.layers import ClassifierHead
from timm.models.resnet import BasicBlock
from timm.models.vgg import VGG, ConvMlp
from timm.models.vgg import cfgs as VGG_CFGS
from torch import nn

from fer_core.models.factory import TIMM_ONLY_KWARGS, register

__all__ = [
    "adapt_densenet_stem",
    "adapt_resnet_stem",
    "adapt_resnet_stem_pooled",
    "replace_vgg_head",
    "vgg16_small_input_cfg",
]


def _timm_kwargs(kwargs: dict) -> dict:
    """Drop timm bookkeeping and ``img_size`` (these CNNs take any size; timm's classes do not accept it)."""
    return {k: v for k, v in kwargs.items() if k not in (*TIMM_ONLY_KWARGS, "img_size")}


# The stem surgery below takes ``Any``: it assigns layers of other kinds to attributes timm declares narrowly (its
# ResNet's ``conv1`` is a ``Sequential`` for deep stems), which is the point of the surgery.
def adapt_resnet_stem(model: Any, in_chans: int) -> nn.Module:
    """3x3 stride-1 stem conv and no max pool: the first stage sees the full-resolution face."""
    model.conv1 = nn.Conv2d(in_chans, model.conv1.out_channels, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def adapt_resnet_stem_pooled(model: Any, in_chans: int) -> nn.Module:
    """3x3 stride-1 stem conv as wide as the first stage, stem max pool kept: the first stage sees a half-size face.

    timm's plain stem is 64 channels whatever the stage widths; a narrower first stage would then open with a
    64-to-width projection block, so the stem takes the first stage's width and its first block is rebuilt without
    the projection (initialised as timm initialises a ResNet: He normal, last batch norm of a block at zero).
    """
    width = model.layer1[0].conv1.out_channels
    model.conv1 = nn.Conv2d(in_chans, width, 3, 1, 1, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.layer1[0] = BasicBlock(width, width)
    for conv in (model.conv1, model.layer1[0].conv1, model.layer1[0].conv2):
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    model.layer1[0].zero_init_last()
    return model


def vgg16_small_input_cfg(width_multiplier: float = 1.0) -> list[int | str]:
    """timm's VGG-16 layer table without its fifth max pool, widths scaled by ``width_multiplier``."""
    table = list(VGG_CFGS["vgg16"])
    last_pool = len(table) - 1 - table[::-1].index("M")
    del table[last_pool]
    return [item if isinstance(item, str) else max(1, round(item * width_multiplier)) for item in table]


def replace_vgg_head(model: VGG, num_classes: int, head_width: int, drop_rate: float) -> VGG:
    """Swap the 7x7-kernel 4096-channel ConvMlp head for a 1x1 one of ``head_width`` channels."""
    model.pre_logits = ConvMlp(model.num_features, head_width, kernel_size=1, drop_rate=drop_rate)
    model.head = ClassifierHead(head_width, num_classes, pool_type="avg", drop_rate=drop_rate)
    model.head_hidden_size = head_width
    return model


def adapt_densenet_stem(model: Any, in_chans: int) -> nn.Module:
    """3x3 stride-1 stem conv instead of 7x7 stride 2 (the stem max pool still halves the input once)."""
    conv0 = model.features.conv0
    model.features.conv0 = nn.Conv2d(in_chans, conv0.out_channels, 3, 1, 1, bias=False)
    return model


_RESNET_PAPER = "He et al. 2016, arXiv 1512.03385"
_VGG_PAPER = "Simonyan & Zisserman 2015, arXiv 1409.1556"
_DENSENET_PAPER = "Huang et al. 2017, arXiv 1608.06993"
_TINY_VGG = {"head_width": 16, "width_multiplier": 1 / 16}
_TINY_DENSENET = {"growth_rate": 8, "block_config": (2, 2, 2, 2)}


@register(
    "resnet18",
    description="timm ResNet-18, 3x3 stride-1 stem, no max pool",
    paper=_RESNET_PAPER,
    tiny_args={"layers": (1, 1, 1, 1), "channels": (8, 16, 16, 16), "stem_width": 8},
)
@register(
    "resnet18_budget",
    description="ResNet-18 at quarter width (16-32-64-128), stem max pool kept",
    paper=_RESNET_PAPER,
    tiny_args={"layers": (1, 1, 1, 1), "channels": (8, 16, 16, 16)},
    budget_of="resnet18",
    args={"channels": (16, 32, 64, 128), "stem_pool": True},
)
def _create_resnet18(in_chans: int = 1, stem_pool: bool = False, **kwargs) -> nn.Module:
    """timm ResNet-18 with a 3x3 stride-1 stem (about 11.2M params); ``stem_pool`` keeps the stem max pool (the
    budget variant at quarter width: about 0.7M params, 40 MFLOPs)."""
    model = timm.create_model("resnet18", pretrained=False, in_chans=in_chans, **_timm_kwargs(kwargs))
    return adapt_resnet_stem_pooled(model, in_chans) if stem_pool else adapt_resnet_stem(model, in_chans)


@register(
    "vgg16",
    description="timm VGG-16-BN, four pools, 1x1 ConvMlp head",
    paper=_VGG_PAPER,
    tiny_args=_TINY_VGG,
)
@register(
    "vgg16_budget",
    description="VGG-16-BN at 3/16 width, 13 convs, 256-channel head",
    paper=_VGG_PAPER,
    tiny_args=_TINY_VGG,
    budget_of="vgg16",
    args={"width_multiplier": 3 / 16, "head_width": 256},
)
def _create_vgg16(
    num_classes: int = 7,
    batch_norm: bool = True,
    head_width: int = 1024,
    width_multiplier: float = 1.0,
    drop_rate: float = 0.5,
    **kwargs,
) -> nn.Module:
    """timm VGG-16 (batch norm by default) with four max pools and a 1x1 ConvMlp head (about 16.3M params; the
    budget variant at 3/16 width with a 256-channel head: about 0.6M params, 51 MFLOPs)."""
    model = VGG(
        vgg16_small_input_cfg(width_multiplier),
        num_classes=num_classes,
        norm_layer=nn.BatchNorm2d if batch_norm else None,
        mlp_ratio=1 / 64,  # shrinks timm's 7x7 head, which is replaced at once (saves its init time)
        **_timm_kwargs(kwargs),
    )
    return replace_vgg_head(model, num_classes, head_width, drop_rate)


@register(
    "densenet121",
    description="timm DenseNet-121, 3x3 stride-1 stem",
    paper=_DENSENET_PAPER,
    tiny_args=_TINY_DENSENET,
)
@register(
    "densenet121_budget",
    description="DenseNet at a third of DenseNet-121's depth (2-4-8-5), growth 12",
    paper=_DENSENET_PAPER,
    tiny_args=_TINY_DENSENET,
    budget_of="densenet121",
    args={"growth_rate": 12, "block_config": (2, 4, 8, 5)},
)
def _create_densenet121(in_chans: int = 1, **kwargs) -> nn.Module:
    """timm DenseNet-121 with a 3x3 stride-1 stem conv (about 7M params; the budget variant at a third of the depth,
    growth rate 12: about 0.2M params, 33 MFLOPs)."""
    model = timm.create_model("densenet121", pretrained=False, in_chans=in_chans, **_timm_kwargs(kwargs))
    return adapt_densenet_stem(model, in_chans)
