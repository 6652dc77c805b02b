"""Forward FLOPs of a model at its input size, counted (not estimated) with ``torch.utils.flop_counter``.

``FlopCounterMode`` counts matrix multiplies and convolutions at 2 FLOPs per multiply-add, depthwise and grouped
convs by their real (per-group) cost; elementwise work (norms, activations, softmax) is not counted, as is usual for
FLOP budgets. torch's CPU attention kernel (``_scaled_dot_product_flash_attention_for_cpu``, what
``scaled_dot_product_attention`` runs on a CPU, e.g. inside transformers models) has no formula in torch, so it is
counted here with torch's own formula for the other fused attention kernels: without it a transformer's attention
would count as free.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

__all__ = ["count_flops", "count_mflops"]


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """Shapes in, FLOPs out (the signature ``FlopCounterMode`` gives a custom formula)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_EXTRA_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def count_flops(model: nn.Module, img_size: int = 48, in_chans: int = 1) -> int:
    """FLOPs of one eval-mode forward pass of one ``(in_chans, img_size, img_size)`` image."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
            model(torch.zeros(1, in_chans, img_size, img_size))
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def count_mflops(model: nn.Module, img_size: int = 48, in_chans: int = 1) -> float:
    """:func:`count_flops` in millions."""
    return count_flops(model, img_size, in_chans) / 1e6
