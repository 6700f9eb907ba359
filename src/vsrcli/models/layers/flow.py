"""Backward warping by optical flow, shared by SPyNet and every propagation branch."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F


def autocast_enabled(t: torch.Tensor) -> bool:
    """Whether a ``torch.autocast`` region is active for ``t``'s device type."""
    device_type = t.device.type
    return device_type in ("cuda", "cpu", "xpu", "mps") and torch.is_autocast_enabled(device_type)


def autocast_off(t: torch.Tensor) -> contextlib.AbstractContextManager[None]:
    """A context that turns autocast off for ``t``'s device, or does nothing when autocast is not on.

    Flow estimation, sampling grids and DCN offsets lose whole pixels of precision in half precision,
    so those few steps always run in float32 even inside a ``torch.autocast`` region.
    """
    if autocast_enabled(t):
        return torch.autocast(device_type=t.device.type, enabled=False)
    return contextlib.nullcontext()


def is_channels_last(t: torch.Tensor) -> bool:
    """Whether ``t`` is laid out channels_last and not also plain contiguous (as a 1-channel or 1x1 tensor
    is both): the test the layers use to keep a channels_last network's layout through their outputs."""
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def flow_warp(
    x: torch.Tensor,
    flow: torch.Tensor,
    interpolation: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> torch.Tensor:
    """Sample ``x`` (N, C, H, W) at ``p + flow(p)``; ``flow`` is (N, H, W, 2) in pixels, last dim (dx, dy).

    The grid is the integer pixel grid plus the flow, normalised with ``max(size - 1, 1)`` for
    ``align_corners=True`` sampling, as in the official code. The grid and the sampling run in float32;
    the result has ``x``'s dtype and layout: grid_sample always returns NCHW, and a channels_last network
    would otherwise concatenate mixed layouts and reorder the result before its next convolution (on a 2-core
    EPYC the layout change costs 2 ms at 64x180x320, the mixed concatenation and the reorder 15 ms).
    """
    if x.shape[-2:] != flow.shape[1:3]:
        raise ValueError(
            f"flow_warp: feature size {tuple(x.shape[-2:])} differs from flow size {tuple(flow.shape[1:3])}"
        )
    h, w = x.shape[-2:]
    with autocast_off(x):
        flow32 = flow.float()
        ys = torch.arange(h, device=flow.device, dtype=torch.float32).view(1, h, 1)
        xs = torch.arange(w, device=flow.device, dtype=torch.float32).view(1, 1, w)
        gx = 2.0 * (xs + flow32[..., 0]) / max(w - 1, 1) - 1.0
        gy = 2.0 * (ys + flow32[..., 1]) / max(h - 1, 1) - 1.0
        grid = torch.stack((gx, gy), dim=3)
        out = F.grid_sample(
            x.float(), grid, mode=interpolation, padding_mode=padding_mode, align_corners=align_corners
        )
    layout = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    return out.to(x.dtype, memory_format=layout)
