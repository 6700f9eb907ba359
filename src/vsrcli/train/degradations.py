"""Low-quality inputs for a batch of ground-truth clips, one recipe per preset.

``bi``/``bd``/``blur``/``compress`` produce what the benchmark and the user's files will look like: values
quantised to 8 bits. ``noise`` follows the official denoising recipe: Gaussian noise added in float, neither
clipped nor quantised, with the noise level drawn per clip and optionally given to the network as a map.
``realworld`` is RealBasicVSR's stochastic scheme: blur, resize and noise whose parameters drift across the
frames of a clip by a bounded random walk, then real video compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vsrcli.train import ops
from vsrcli.train.config import DegradationConfig


@dataclass
class Degraded:
    """Network input (N, T, C, h, w) and, for RealBasicVSR, the clean low-resolution target of its cleaner."""

    lq: torch.Tensor
    lq_clean: torch.Tensor | None = None


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as saving and reloading a PNG frame would."""
    return x.clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def _downsample(gt: torch.Tensor, scale: int) -> torch.Tensor:
    return gt if scale == 1 else ops.imresize(gt, 1.0 / scale)


def random_walk(rng: np.random.Generator, n: int, low: float, high: float, step: float) -> np.ndarray:
    """``n`` values in [low, high]: a uniform start, then steps of at most ``step`` x range, reflected at the
    bounds, so a parameter drifts smoothly from frame to frame."""
    span = high - low
    values = np.empty(n)
    values[0] = rng.uniform(low, high)
    for i in range(1, n):
        v = values[i - 1] + rng.uniform(-step, step) * span
        if v < low:
            v = 2 * low - v
        if v > high:
            v = 2 * high - v
        values[i] = min(max(v, low), high)
    return values


def _gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * max(sigma, 1e-3) ** 2))
    return k / k.sum()


def _blur_frame(frame: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (C, H, W) with reflect padding (used where sigma changes per frame)."""
    import torch.nn.functional as F

    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, frame.shape[-1] - 1, frame.shape[-2] - 1)
    k = _gaussian_kernel(sigma, radius)
    c = frame.shape[0]
    x = F.pad(frame.unsqueeze(0), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x.squeeze(0)


def _to_uint8_frames(clip: torch.Tensor) -> np.ndarray:
    return clip.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _from_uint8_frames(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255.0)


def degrade(gt: torch.Tensor, cfg: DegradationConfig, rng: np.random.Generator) -> Degraded:
    """Degrade ground truth (N, T, 3, H, W) in [0, 1]; all randomness is drawn from ``rng``."""
    kind = cfg.kind
    if kind == "bi":
        return Degraded(quantize(_downsample(gt, cfg.scale)))
    if kind == "bd":
        return Degraded(quantize(ops.bd_downsample(gt, cfg.scale)))
    if kind == "noise":
        return _noise(gt, cfg, rng)
    if kind == "blur":
        return Degraded(quantize(torch.stack([_blur_clip(c, cfg, rng) for c in _downsample(gt, cfg.scale)])))
    if kind == "compress":
        lr = quantize(_downsample(gt, cfg.scale))
        out = []
        for clip in lr:
            crf = int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))
            out.append(_from_uint8_frames(ops.compress(_to_uint8_frames(clip), cfg.codec, crf)))
        return Degraded(torch.stack(out))
    if kind == "realworld":
        return Degraded(
            torch.stack([_realworld_clip(c, cfg, rng) for c in gt]), quantize(_downsample(gt, cfg.scale))
        )
    raise ValueError(f"unknown degradation {kind!r}")


def _noise(gt: torch.Tensor, cfg: DegradationConfig, rng: np.random.Generator) -> Degraded:
    lr = _downsample(gt, cfg.scale)
    if cfg.scale != 1:
        lr = quantize(lr)
    n = lr.shape[0]
    sigma = torch.from_numpy(rng.uniform(cfg.sigma[0], cfg.sigma[1], size=n)).float() / 255.0
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    noisy = lr + sigma.view(n, 1, 1, 1, 1) * torch.randn(lr.shape, generator=gen)
    if cfg.noise_8bit:
        noisy = quantize(noisy)
    if cfg.noise_map:
        level = sigma.view(n, 1, 1, 1, 1).expand(n, lr.shape[1], 1, lr.shape[3], lr.shape[4])
        noisy = torch.cat([noisy, level], dim=2)
    return Degraded(noisy)


def _blur_clip(clip: torch.Tensor, cfg: DegradationConfig, rng: np.random.Generator) -> torch.Tensor:
    kind = cfg.blur_kinds[int(rng.integers(len(cfg.blur_kinds)))]
    if kind == "gaussian":
        low, high = cfg.blur_sigma
        return ops.gaussian_blur(clip, float(rng.uniform(low, high)))
    if kind == "motion":
        size = int(rng.integers(cfg.motion_len[0], cfg.motion_len[1] + 1)) | 1  # odd
        return ops.motion_blur(clip, size, torch.Generator().manual_seed(int(rng.integers(2**62))))
    window = int(rng.choice([3, 5, 7]))
    return ops.temporal_average_blur(clip, window)


def _realworld_clip(clip: torch.Tensor, cfg: DegradationConfig, rng: np.random.Generator) -> torch.Tensor:
    """One clip (T, 3, H, W) through drifting blur -> resize -> noise, then real compression."""
    import torch.nn.functional as F

    t, _, h, w = clip.shape
    lh, lw = h // cfg.scale, w // cfg.scale
    step = cfg.walk_step
    blur = random_walk(rng, t, cfg.blur_sigma[0], cfg.blur_sigma[1], step)
    resize = random_walk(rng, t, 0.5, 1.5, step)  # intermediate size, relative to the output size
    noise = random_walk(rng, t, cfg.sigma[0], cfg.sigma[1], step) / 255.0
    gray = rng.random() < 0.4
    use_blur = rng.random() < 0.8
    mode = ["bilinear", "bicubic", "area"][int(rng.integers(3))]
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    frames = []
    for i in range(t):
        x = _blur_frame(clip[i], float(blur[i])) if use_blur else clip[i]
        mid = (max(8, round(lh * resize[i])), max(8, round(lw * resize[i])))
        x = F.interpolate(x.unsqueeze(0), size=mid, mode=mode, antialias=mode != "area")
        x = F.interpolate(x, size=(lh, lw), mode="bicubic", align_corners=False)
        n = torch.randn((1, 1 if gray else 3, lh, lw), generator=gen) * float(noise[i])
        frames.append((x + n).squeeze(0))
    lr = quantize(torch.stack(frames))
    if rng.random() < 0.9:
        crf = int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))
        lr = _from_uint8_frames(ops.compress(_to_uint8_frames(lr), cfg.codec, crf))
    return lr
