"""Batched augmentation on whatever device the batch lives on (CPU or GPU), plus mixup/cutmix.

Per-sample PIL transforms in a data loader starve a GPU on 48x48 images; here a whole uint8 batch is augmented
with a few tensor ops: one random affine warp (zoom, shift, rotation, shear) via ``affine_grid``/``grid_sample``,
horizontal flip folded into the same matrix, brightness/contrast jitter and random erasing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_core.training.recipes import AugmentConfig

__all__ = ["augment_batch", "corrupt_batch", "mix_batch"]


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


def corrupt_batch(x01: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Webcam and photo corruptions of a ``(B, C, H, W)`` batch in [0, 1], each face on its own coin per kind.

    Blur, sensor noise, JPEG blocking, exposure (gamma) and low resolution are what separates a webcam frame from
    a dataset face (Hendrycks & Dietterich 2019 list the same families as ImageNet-C); training on them is the
    cheap part of robustness. Returns a new tensor, clipped to [0, 1].
    """
    steps = (
        (cfg.lowres, _low_resolution),
        (cfg.blur, _gaussian_blur),
        (cfg.gamma, _gamma),
        (cfg.jpeg, _jpeg_blocks),
        (cfg.noise, _gaussian_noise),
    )
    for prob, corrupt in steps:
        if prob <= 0:
            continue
        chosen = torch.rand(x01.shape[0], generator=generator, device=x01.device) < prob
        if chosen.any():
            x01 = x01.clone()
            x01[chosen] = corrupt(x01[chosen], generator).clamp(0, 1)
    return x01


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (hi - lo) + lo


def _gaussian_blur(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A separable Gaussian per face, sigma 0.4-1.6 px, as one grouped convolution."""
    b, c, h, w = x.shape
    sigma = _uniform(b, 0.4, 1.6, generator, x.device).repeat_interleave(c)
    taps = torch.arange(-3, 4, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)
    flat = F.pad(x.reshape(1, b * c, h, w), (3, 3, 3, 3), mode="replicate")
    flat = F.conv2d(flat, kernel.view(b * c, 1, 1, 7), groups=b * c)
    flat = F.conv2d(flat, kernel.view(b * c, 1, 7, 1), groups=b * c)
    return flat.view(b, c, h, w)


def _gaussian_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    std = _uniform(x.shape[0], 0.01, 0.08, generator, x.device).view(-1, 1, 1, 1)
    return x + std * torch.randn(x.shape, generator=generator, device=x.device)


def _gamma(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    log_gamma = _uniform(x.shape[0], math.log(0.5), math.log(2.0), generator, x.device)
    return x.clamp(1e-4, 1) ** torch.exp(log_gamma).view(-1, 1, 1, 1)


def _low_resolution(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shrink to one random side in 12-36 px (area) and enlarge back (bilinear), the resize-robustness axis."""
    side = int(torch.randint(12, 37, (1,), generator=generator, device=x.device))
    small = F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


# The JPEG standard's luminance quantisation table (ITU-T T.81, Annex K, Table K.1).
_JPEG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)


def _dct_matrix(device, dtype) -> torch.Tensor:
    k = torch.arange(8, device=device, dtype=dtype)
    basis = torch.cos((2 * k.view(1, -1) + 1) * k.view(-1, 1) * math.pi / 16)
    scale = torch.full((8, 1), math.sqrt(2 / 8), device=device, dtype=dtype)
    scale[0] = math.sqrt(1 / 8)
    return basis * scale


def _jpeg_blocks(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """JPEG's lossy step: 8x8 DCT, quantisation with the standard table scaled to quality 10-60, inverse DCT."""
    b, c, h, w = x.shape
    pad_h, pad_w = (-h) % 8, (-w) % 8
    y = F.pad(x * 255 - 128, (0, pad_w, 0, pad_h), mode="replicate")
    hh, ww = y.shape[-2:]
    blocks = y.reshape(b, c, hh // 8, 8, ww // 8, 8).transpose(3, 4)  # (b, c, by, bx, 8, 8)
    dct = _dct_matrix(x.device, x.dtype)
    quality = _uniform(b, 10, 60, generator, x.device)
    factor = torch.where(quality < 50, 50 / quality, 2 - quality / 50)  # libjpeg's quality scaling
    table = torch.tensor(_JPEG_LUMA, device=x.device, dtype=x.dtype)
    step = (table * factor.view(-1, 1, 1)).clamp(min=1).view(b, 1, 1, 1, 8, 8)
    coeffs = dct @ blocks @ dct.T
    blocks = dct.T @ (torch.round(coeffs / step) * step) @ dct
    y = blocks.transpose(3, 4).reshape(b, c, hh, ww)[..., :h, :w]
    return (y + 128) / 255
