"""Batched augmentation on whatever device the batch lives on (CPU or GPU), plus mixup/cutmix.

Per-sample PIL transforms in a data loader starve a GPU on 48x48 images; here a whole uint8 batch is augmented
with a few tensor ops: one random affine warp (zoom, shift, rotation, shear) via ``affine_grid``/``grid_sample``,
horizontal flip folded into the same matrix, brightness/contrast jitter and random erasing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_core.recipes import AugmentConfig

__all__ = ["augment_batch", "mix_batch"]


def _affine_matrices(batch: int, cfg: AugmentConfig, generator: torch.Generator, device) -> torch.Tensor:
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(batch, generator=generator, device=device) * (hi - lo) + lo

    # Sample the zoom log-uniformly so zoom-in and zoom-out are equally likely.
    scale = torch.exp(uniform(math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    angle = uniform(-cfg.rotation, cfg.rotation) * (math.pi / 180)
    shear = uniform(-cfg.shear, cfg.shear) * (math.pi / 180)
    flip = torch.ones(batch, device=device)
    if cfg.flip:
        flip = torch.where(torch.rand(batch, generator=generator, device=device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # grid_sample maps output coords to input coords, so the zoom enters inverted.
    inv = 1.0 / scale
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0] = cos * inv * flip
    theta[:, 0, 1] = (-sin + torch.tan(shear)) * inv
    theta[:, 1, 0] = sin * inv * flip
    theta[:, 1, 1] = cos * inv
    theta[:, 0, 2] = uniform(-cfg.shift, cfg.shift) * 2
    theta[:, 1, 2] = uniform(-cfg.shift, cfg.shift) * 2
    return theta


def _random_erasing(x: torch.Tensor, prob: float, generator: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    device = x.device
    area = torch.rand(b, generator=generator, device=device) * 0.18 + 0.02  # 2-20 % of the image
    aspect = torch.exp(torch.rand(b, generator=generator, device=device) * 2.2 - 1.1)  # ~1/3 .. 3
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
    top = torch.rand(b, generator=generator, device=device) * (h - eh)
    left = torch.rand(b, generator=generator, device=device) * (w - ew)
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    inside = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + ew).view(b, 1, 1))
    )
    chosen = torch.rand(b, generator=generator, device=device) < prob
    mask = (inside & chosen.view(b, 1, 1)).unsqueeze(1)
    noise = torch.randn(x.shape, generator=generator, device=device)
    return torch.where(mask, noise, x)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augment a normalised float batch ``(B, C, H, W)`` in one pass; returns a new tensor."""
    b = x.shape[0]
    theta = _affine_matrices(b, cfg, generator, x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if cfg.brightness > 0:
        gain = 1 + (torch.rand(b, 1, 1, 1, generator=generator, device=x.device) * 2 - 1) * cfg.brightness
        bias = (torch.rand(b, 1, 1, 1, generator=generator, device=x.device) * 2 - 1) * cfg.brightness
        x = x * gain + bias
    if cfg.erasing > 0:
        x = _random_erasing(x, cfg.erasing, generator)
    return x


def mix_batch(
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    mixup_alpha: float,
    cutmix_alpha: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with its reversed self.

    ``targets`` are probability rows ``(B, C)``; returns the mixed batch and mixed targets.
    """
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or torch.rand(1, generator=generator).item() < 0.5)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    if alpha <= 0:
        return x, targets
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = x.flip(0)
    if use_cutmix:
        h, w = x.shape[-2:]
        cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy = int(torch.randint(h, (1,), generator=generator))
        cx = int(torch.randint(w, (1,), generator=generator))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = partner[..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * partner
    return x, lam * targets + (1 - lam) * targets.flip(0)
