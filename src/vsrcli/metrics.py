"""PSNR and SSIM by the protocol that produced the published BasicVSR-family numbers (reference §10).

Outputs are clamped and rounded to uint8 first (``to_uint8``), as MMEditing 0.x did; Y is BT.601 with offset
16, kept as float; SSIM is Wang et al. with an 11x11 Gaussian window (sigma 1.5) over the "valid" region, in
float64.
Inputs are uint8 ``(H, W, 3)`` RGB arrays. Averaging (frames of a clip, then clips) is the caller's job.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["psnr", "rgb_to_y", "ssim", "to_uint8"]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float network output in [0, 1], ``(..., 3, H, W)``, to uint8 ``(..., H, W, 3)``: clamp, x255, round
    half to even (``torch.round``, the behaviour of MMEditing's ``tensor2img``)."""
    import torch

    y = x.detach().float().clamp(0, 1)  # a new tensor: the in-place steps below keep peak memory down
    y = y.mul_(255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(y.movedim(-3, -1).cpu().numpy())


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB ``(..., 3)`` (uint8 or float on the 0-255 scale):
    16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1]; float64, not rounded."""
    x = np.asarray(img, dtype=np.float64) / 255.0
    return 16.0 + x[..., 0] * 65.481 + x[..., 1] * 128.553 + x[..., 2] * 24.966


def _prepare(
    a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        if a.shape[-1] != 3:
            raise ValueError("y_channel needs RGB images")
        return rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB for peak 255 over all pixels (and channels); ``inf`` for identical images."""
    x, y = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    k = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return k / k.sum()


def _filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D float64 image with the 1-D kernel along both axes."""
    n = k.size
    h, w = img.shape
    rows = sum(k[i] * img[i : h - n + 1 + i] for i in range(n))
    return sum(k[j] * rows[:, j : w - n + 1 + j] for j in range(n))


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    k = _gaussian_window()
    mu_x, mu_y = _filter_valid(x, k), _filter_valid(y, k)
    mu_x2, mu_y2, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = _filter_valid(x * x, k) - mu_x2
    var_y = _filter_valid(y * y, k) - mu_y2
    cov = _filter_valid(x * y, k) - mu_xy
    ssim_map = ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_x2 + mu_y2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """SSIM (Wang et al. 2004): 11x11 Gaussian window sigma 1.5, valid region, C1/C2 for range 255, float64;
    for RGB the mean of the per-channel values."""
    x, y = _prepare(a, b, crop_border, y_channel)
    if min(x.shape[0], x.shape[1]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11, got {x.shape[:2]}")
    return float(np.mean([_ssim_plane(x[..., c], y[..., c]) for c in range(x.shape[-1])]))
