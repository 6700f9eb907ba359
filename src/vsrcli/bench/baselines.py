"""The rows a benchmark compares against: named models and the classical baselines (bicubic, identity, NLM).

Each baseline is an nn.Module following the network contract, built on first use so importing this module
pulls no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vsrcli.errors import UsageError
from vsrcli.metrics import to_uint8

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class NamedModel:
    """A network under test with the name shown in reports; ``role`` is "model" or "baseline"."""

    name: str
    module: nn.Module
    description: str = ""
    role: str = "model"


def _make_bicubic() -> type:
    import torch.nn.functional as F
    from torch import nn

    class BicubicUpsample(nn.Module):
        """x``scale`` upsampling with ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``
        (Keys kernel a = -0.75, no antialiasing), frame by frame: the classic SR baseline."""

        min_size = 1
        size_multiple = 1
        min_frames = 1

        def __init__(self, scale: int) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, t, c, h, w = x.shape
            y = F.interpolate(
                x.reshape(n * t, c, h, w), scale_factor=self.scale, mode="bicubic", align_corners=False
            )
            return y.reshape(n, t, c, h * self.scale, w * self.scale)

    return BicubicUpsample


def _make_identity() -> type:
    from torch import nn

    class Identity(nn.Module):
        """The degraded input itself: the baseline for restoration (scale 1) tasks."""

        scale = 1
        min_size = 1
        size_multiple = 1
        min_frames = 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    return Identity


def _make_matlab_bicubic() -> type:
    from torch import nn

    from vsrcli.degrade import imresize_matlab

    class MatlabBicubicUpsample(nn.Module):
        """x``scale`` upsampling with MATLAB's ``imresize(·, scale, 'bicubic')`` (a = -0.5): the bicubic row
        of the published VSR tables (Vid4 calendar BIx4: 20.39 dB Y-PSNR)."""

        min_size = 1
        size_multiple = 1
        min_frames = 1

        def __init__(self, scale: int) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return imresize_matlab(x, float(self.scale))

    return MatlabBicubicUpsample


def _make_nlm() -> type:
    from torch import nn

    class NonLocalMeans(nn.Module):
        """OpenCV's ``fastNlMeansDenoisingColored`` frame by frame on the 8-bit input (the classical video
        denoiser users reach for); ``h`` = ``hColor`` = 0.8 sigma, 7x7 patches, 21x21 search window."""

        scale = 1
        min_size = 1
        size_multiple = 1
        min_frames = 1

        def __init__(self, h: float) -> None:
            super().__init__()
            self.h = float(h)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            import cv2
            import torch

            frames = to_uint8(x[0])  # (T, H, W, 3) RGB, clipped and rounded as a video file would hold
            h = self.h
            bgr = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]  # OpenCV's Lab conversion wants BGR
            out = [cv2.fastNlMeansDenoisingColored(f, None, h, h, 7, 21)[:, :, ::-1] for f in bgr]
            y = torch.from_numpy(np.ascontiguousarray(np.stack(out))).permute(0, 3, 1, 2).float() / 255.0
            return y.unsqueeze(0).to(x.device)

    return NonLocalMeans


def nlm_baseline(sigma: float) -> NamedModel:
    """The classical denoising row for noise of ``sigma`` (0-255 scale); needs OpenCV (``vsrcli[bench]``)."""
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "--nlm needs OpenCV", hint="pip install 'vsrcli[bench]' (opencv-python-headless)"
        ) from exc
    h = 0.8 * sigma
    return NamedModel(
        f"NLM (OpenCV, h={h:g})",
        _make_nlm()(h),
        f"cv2.fastNlMeansDenoisingColored(h=hColor={h:g}, 7, 21) per frame",
        "baseline",
    )


BASELINES = ("auto", "bicubic-matlab", "bicubic-torch", "none")


def bicubic_baseline(scale: int, kind: str = "matlab") -> NamedModel:
    """The x``scale`` baseline row: MATLAB-style bicubic (``kind="matlab"``, a = -0.5, what the literature's
    bicubic rows use) or PyTorch's ``interpolate(mode="bicubic", align_corners=False)`` (a = -0.75)."""
    if kind == "matlab":
        return NamedModel(
            f"bicubic x{scale} (MATLAB)",
            _make_matlab_bicubic()(scale),
            "vsrcli.degrade.imresize_matlab (MATLAB imresize bicubic, a=-0.5)",
            "baseline",
        )
    if kind == "torch":
        return NamedModel(
            f"bicubic x{scale} (torch)",
            _make_bicubic()(scale),
            "torch.nn.functional.interpolate(mode='bicubic', align_corners=False), a=-0.75",
            "baseline",
        )
    raise UsageError(f"unknown bicubic baseline {kind!r} (use matlab or torch)")


def baseline_for(scale: int, choice: str = "auto") -> NamedModel | None:
    """The baseline row for a run: ``auto`` is MATLAB bicubic for x``scale`` > 1 and the input itself for
    restoration; ``none`` drops the row."""
    if choice not in BASELINES:
        raise UsageError(f"unknown baseline {choice!r} (use {', '.join(BASELINES)})")
    if choice == "none":
        return None
    if scale == 1:
        if choice != "auto":
            raise UsageError(f"--baseline {choice} upsamples, but this run is restoration (scale 1)")
        return identity_baseline()
    return bicubic_baseline(scale, "torch" if choice == "bicubic-torch" else "matlab")


def identity_baseline() -> NamedModel:
    """The scale-1 baseline row: the degraded input, scored as it is."""
    return NamedModel("input", _make_identity()(), "the degraded input itself", "baseline")
