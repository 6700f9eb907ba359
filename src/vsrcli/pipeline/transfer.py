"""Frames across the host-device boundary as integers: uint8 (or 16-bit) up, uint8 (or 16-bit) down.

Why: a network on a GPU takes milliseconds a frame, so the bytes around it set the speed. Frames cross as
the integers they are stored as (a quarter of float32's bytes), are converted, padded, blended, clamped and
rounded on the device, and only the frames a window keeps come back. On CUDA the copies go through
page-locked host buffers that are allocated once and reused, so each transfer is one DMA and no allocation.
On the CPU the same code runs with the CPU as the device: no float32 copies of full-resolution frames are
kept on the host.

:class:`TransferStats` counts every byte each way, so tests (and curious users) can check what moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch


def peak_of(dtype: np.dtype[Any] | type) -> float:
    """Largest code of the integer frame type: 255 for 8-bit, 65535 for 16-bit containers."""
    return 65535.0 if np.dtype(dtype) == np.uint16 else 255.0


@dataclass
class TransferStats:
    """Bytes copied host -> device (``uploaded``) and device -> host (``downloaded``), and the calls."""

    uploaded: int = 0
    downloaded: int = 0
    uploads: int = 0
    downloads: int = 0


@dataclass
class HostBuffers:
    """Reused page-locked staging buffers of one device (CUDA only; on the CPU nothing is staged).

    A buffer grows to the largest shape asked and is reused for every later window, so steady-state
    windows allocate no host memory. Before a buffer is refilled, the copy that last read it must have
    finished: each upload records a CUDA event that the next fill waits for.
    """

    device: torch.device
    stats: TransferStats = field(default_factory=TransferStats)
    _up: torch.Tensor | None = None
    _down: torch.Tensor | None = None
    _up_done: Any = None

    @property
    def staged(self) -> bool:
        return self.device.type == "cuda"

    def _buffer(self, current: torch.Tensor | None, numel: int, dtype: torch.dtype) -> torch.Tensor:
        import torch

        if current is None or current.numel() < numel or current.dtype != dtype:
            current = torch.empty(numel, dtype=dtype, pin_memory=True)
        return current

    def upload(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(T, H, W, C) integer frames -> the same codes on the device, laid out (T, H, W, C): uint8, or
        16-bit codes as int16 bit patterns (uint16 kernels are sparse on GPUs; ``to_unit`` reads them)."""
        import torch

        first = frames[0]
        shape = (len(frames), *first.shape)
        wide = first.dtype == np.uint16
        numel = int(np.prod(shape))
        self.stats.uploaded += numel * first.itemsize
        self.stats.uploads += 1
        if not self.staged:
            stacked = np.stack(frames)
            return torch.from_numpy(stacked.view(np.int16) if wide else stacked).to(self.device)
        if self._up_done is not None:
            self._up_done.synchronize()  # the previous window's copy has left the buffer
        self._up = self._buffer(self._up, numel, torch.int16 if wide else torch.uint8)
        staging = self._up[:numel].view(shape)
        for i, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame)
            staging[i].copy_(torch.from_numpy(frame.view(np.int16) if wide else frame))
        on_device = staging.to(self.device, non_blocking=True)
        self._up_done = torch.cuda.Event()
        self._up_done.record(torch.cuda.current_stream(self.device))
        return on_device

    def download(self, codes: torch.Tensor) -> np.ndarray:
        """Codes on the device (uint8, or int16 bit patterns of 16-bit codes) -> a host uint8/uint16 array of
        the same shape: the one copy that comes back."""
        import torch

        self.stats.downloaded += codes.numel() * codes.element_size()
        self.stats.downloads += 1
        if not self.staged or codes.device.type == "cpu":  # (tiles blended on the host come back so)
            host = codes.cpu().numpy()
        else:
            self._down = self._buffer(self._down, codes.numel(), codes.dtype)
            staging = self._down[: codes.numel()].view(codes.shape)
            staging.copy_(codes, non_blocking=True)
            torch.cuda.current_stream(self.device).synchronize()
            host = staging.numpy().copy()  # the staging buffer is reused by the next window
        return host.view(np.uint16) if host.dtype == np.int16 else host


def to_unit(codes: torch.Tensor, peak: float, noise_sigma: float | None) -> torch.Tensor:
    """(T, H, W, 3) integer codes on the device -> (1, T, C, H, W) float32 in [0, 1], plus the noise-level
    map of ``noise_sigma`` (0-255 scale) for a noise-conditioned denoiser."""
    import torch

    from vsrcli.degrade import noise_level_map

    if codes.dtype == torch.int16:  # 16-bit codes as bit patterns: back to 0..65535 in int32
        codes = codes.to(torch.int32).bitwise_and_(0xFFFF)
    x = codes.permute(0, 3, 1, 2).to(torch.float32).div_(peak).unsqueeze(0).contiguous()
    return x if noise_sigma is None else noise_level_map(x, noise_sigma)


def to_codes(y: torch.Tensor, peak: float) -> torch.Tensor:
    """(K, 3, H, W) float on the device -> (K, H, W, 3) codes there: clamped to [0, 1], scaled and rounded
    half to even (as the official tensor2img), in float32 whatever the network's dtype. 8-bit codes are
    uint8; 16-bit codes are int16 bit patterns (``HostBuffers.download`` views them as uint16)."""
    import torch

    y = y.float()  # a new tensor unless y already is float32 (then it is ours to change in place)
    y = y.clamp_(0, 1).mul_(peak).round_()
    k, c, h, w = y.shape
    if peak > 255:  # via int32: 32768..65535 wrap to the same bits in int16
        return y.permute(0, 2, 3, 1).to(torch.int32).to(torch.int16).contiguous()
    out = torch.empty((k, h, w, c), dtype=torch.uint8, device=y.device)
    return out.copy_(y.permute(0, 2, 3, 1))
