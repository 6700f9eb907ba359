"""The few functions training borrows from other vsrcli modules, behind one seam.

Networks come from ``vsrcli.models.arch``, degradations from ``vsrcli.degrade`` and metrics from
``vsrcli.metrics``. Everything in ``vsrcli.train`` calls them through here, so tests can substitute small
stand-ins with ``monkeypatch`` and an API change touches one file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch


def build_network(arch: str, **arch_args: Any) -> torch.nn.Module:
    """A freshly initialised network of the family."""
    from vsrcli.models.arch import build_network as _build

    return _build(arch, **arch_args)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def imresize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize`` bicubic (antialiased when shrinking) on (..., C, H, W) floats."""
    from vsrcli.degrade import imresize_matlab

    return imresize_matlab(x, scale)


def bd_downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """BasicVSR's BD on (..., C, H, W) floats: Gaussian blur (sigma 1.6) then every ``scale``-th pixel."""
    from vsrcli.degrade import bd_blur

    return bd_blur(x, scale, 1.6, "basicvsr")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from vsrcli.degrade import gaussian_blur as _blur

    return _blur(x, sigma)


def motion_blur(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random camera-shake kernel of odd ``size`` applied to all frames of (..., C, H, W)."""
    from vsrcli.degrade import motion_blur as _blur

    return _blur(x, size, None, generator)


def temporal_average_blur(x: torch.Tensor, window: int) -> torch.Tensor:
    """Average of ``window`` consecutive frames of (T, C, H, W)."""
    from vsrcli.degrade import temporal_average_blur as _blur

    return _blur(x, window)


def compress(frames: np.ndarray, codec: str, crf: int) -> np.ndarray:
    """Real lossy coding of (T, H, W, 3) uint8 through PyAV; the same shape back."""
    from vsrcli.degrade import compress as _compress

    return _compress(frames, codec, crf)


def psnr_y(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over frames of the PSNR on Y, crop 0, of (T, 3, H, W) frames in [0, 1] (the official protocol)."""
    from vsrcli.metrics import psnr, to_uint8

    out, ref = to_uint8(output), to_uint8(target)
    return sum(psnr(o, r, crop_border=0, y_channel=True) for o, r in zip(out, ref, strict=True)) / len(out)
