"""What the benchmark measures around a forward pass: precision (autocast), CUDA sync and peak memory,
resident memory sampled in a thread, and the versions worth recording next to a number."""

from __future__ import annotations

import os
import platform
import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from vsrcli.errors import UsageError

if TYPE_CHECKING:
    import torch


PRECISIONS = ("fp32", "fp16", "bf16")  # resolved names (vsrcli.device turns auto into one of them)


def precision_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision name (None: float32, no autocast)."""
    import torch

    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def autocast_for(device: torch.device, precision: str) -> Any:
    import torch

    dtype = precision_dtype(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def versions() -> dict[str, str | None]:
    """Versions worth recording next to a number."""
    import av
    import torch
    import torchvision

    from vsrcli import __version__

    return {
        "vsrcli": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "av": av.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cpu_threads": str(torch.get_num_threads()),
    }


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the lifetime peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRss:
    """Samples resident memory every few milliseconds in a thread while a block runs."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def cuda_peak(device: torch.device) -> Iterator[list[float | None]]:
    import torch

    box: list[float | None] = [None]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield box
    finally:
        if device.type == "cuda":
            box[0] = torch.cuda.max_memory_allocated(device) / 2**20
