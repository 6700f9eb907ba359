"""Device choice, compute precision and free-memory figures for the pipeline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vsrcli.errors import DeviceError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a torch device, or a DeviceError when it does not exist here."""
    import torch

    text = (requested or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {requested}: CUDA is not available here", hint="use --device cpu")
        index = 0
        if ":" in text:
            try:
                index = int(text.split(":", 1)[1])
            except ValueError as exc:
                raise UsageError(f"--device {requested}: expected cuda:N with an integer N") from exc
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise DeviceError(f"--device {requested}: only {count} CUDA device(s) present")
        return torch.device("cuda", index)
    raise UsageError(f"--device {requested}: expected auto, cpu, cuda or cuda:N")


def resolve_precision(requested: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``auto|fp32|bf16|fp16`` on ``device`` (the rules live in pipeline.precision)."""
    from vsrcli.pipeline.precision import resolve_precision as _resolve

    return _resolve(requested, device)


def free_memory_bytes(device: torch.device) -> int:
    """Bytes the next allocation can use: free CUDA memory, or MemAvailable on the host."""
    import torch

    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 4 << 30


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA OOM and for the CPU allocator's failure to allocate."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


def release_cached_memory(device: torch.device) -> None:
    """Give cached CUDA blocks back before retrying smaller."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
