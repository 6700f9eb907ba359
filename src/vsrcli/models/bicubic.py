"""Bicubic x4 as a network: no weights, the pipeline's cost floor and a reference for side-by-side views.

The kernel is Keys' cubic with a = -0.5 (the kernel of MATLAB's ``imresize`` and of PIL), sampled at pixel
centres, taps outside the frame dropped and the rest renormalised, along rows first and then columns with
the intermediate clamped to the valid range: what PIL's ``Image.resize(..., Image.BICUBIC)`` computes
(``tests/test_bicubic.py`` checks it within one level). On the CPU, 8-bit frames take PyTorch's vectorised
integer kernel (``forward_codes``, PIL's fixed-point maths), about 15x faster than a float bicubic; the
float ``forward`` computes the same filter for the network contract. OpenCV's ``INTER_CUBIC`` and
``torch.nn.functional.interpolate(mode="bicubic")`` use a = -0.75 and replicate the edges; FFmpeg's
``scale=flags=bicubic`` uses a = -0.6: close, not equal.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Keys' cubic convolution parameter of PIL and MATLAB.
CUBIC_A = -0.5


def keys_cubic(d: float, a: float = CUBIC_A) -> float:
    """Keys' cubic convolution kernel at distance ``d``."""
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def phase_taps(scale: int, a: float = CUBIC_A) -> list[tuple[int, list[float]]]:
    """For each output phase p (output index ``scale * i + p``): the first input offset from ``i`` and the
    four kernel weights (Keys' cubic with parameter ``a``) of inputs ``i + offset .. i + offset + 3``."""
    taps = []
    for p in range(scale):
        centre = (p + 0.5) / scale - 0.5  # the output pixel's centre in input pixels, relative to i
        first = math.floor(centre) - 1
        taps.append((first, [keys_cubic(first + k - centre, a) for k in range(4)]))
    return taps


def upsample_last_axis(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic along the last axis: taps outside the frame dropped, the others renormalised (PIL)."""
    n = x.shape[-1]
    padded = F.pad(x, (2, 2))
    ones = F.pad(torch.ones(n, dtype=x.dtype, device=x.device), (2, 2))
    phases = []
    for first, weights in phase_taps(scale):
        acc = torch.zeros_like(x)
        norm = torch.zeros(n, dtype=x.dtype, device=x.device)
        for k, weight in enumerate(weights):
            start = 2 + first + k
            acc.add_(padded[..., start : start + n], alpha=weight)
            norm.add_(ones[start : start + n], alpha=weight)
        phases.append(acc / norm)
    return torch.stack(phases, dim=-1).flatten(-2)


class BicubicUpsampler(nn.Module):
    """``(N, T, 3, H, W)`` in, ``(N, T, 3, scale·H, scale·W)`` out; frames are independent (no context).

    It has no parameters and no state dict, so loading it never looks for weights.
    """

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        self.scale = scale
        self.min_size = 1
        self.size_multiple = 1
        self.min_frames = 1
        # each frame on its own: the pipeline runs no context frames and budgets memory per kept frame
        self.frame_independent = True

    def memory_per_pixel(self, elem_bytes: int) -> float:
        """Bytes per input pixel beyond the pipeline's own tensors (the float path's two passes)."""
        return 3.0 * 4 * (self.scale + 2 * self.scale**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        if self.scale == 1:
            return x.clone()
        # clamped between the passes, as PIL's and PyTorch's integer kernels store the first pass in 8 bits
        wide = upsample_last_axis(x.reshape(n * t, c, h, w), self.scale).clamp_(0, 1)
        tall = upsample_last_axis(wide.transpose(-1, -2), self.scale).transpose(-1, -2)
        return tall.reshape(n, t, c, h * self.scale, w * self.scale)

    def forward_codes(self, codes: torch.Tensor) -> torch.Tensor | None:
        """``(N, H, W, 3)`` uint8 codes -> ``(N, s·H, s·W, 3)`` uint8 codes with PyTorch's integer kernel
        (PIL's maths); None where that kernel does not exist (16-bit codes, devices other than the CPU), so
        the caller takes the float path."""
        if codes.dtype != torch.uint8 or codes.device.type != "cpu":
            return None
        if self.scale == 1:
            return codes.clone()
        nchw = codes.permute(0, 3, 1, 2)  # channels-last strides: the layout the integer kernel wants
        out = F.interpolate(nchw, scale_factor=self.scale, mode="bicubic", antialias=True)
        return out.permute(0, 2, 3, 1).contiguous()
