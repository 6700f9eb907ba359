"""The one device and precision rule of restore, batch, benchmark and train.

``--device auto|cpu|cuda|cuda:N`` and ``--precision auto|fp32|bf16|fp16`` mean the same everywhere, so a
benchmark measures what ``vsrcli upscale`` runs and training computes as restoration does.

Why `auto` means bf16 on some CPUs and float32 on others: bf16 is only worth it where the hardware computes it
natively. With AMX-BF16 or AVX512-BF16 a channels_last 3x3 convolution ran 8x faster in bf16 than in float32
(2-core Xeon) and the accuracy gate (`benchmarks/cpu_gate.sh`) passed, so `auto` picks bf16 there. Without
them (e.g. the AMD Zen 3 development machine: AVX2 only) oneDNN emulates bf16 and a 3x3 convolution runs
10-100x slower than in float32 (benchmarks/conv_throughput.py), so `auto` stays float32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsrcli.errors import DeviceError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEVICE_HELP = "auto, cpu, cuda or cuda:N."
PRECISION_HELP = (
    "auto, fp32, bf16 or fp16 (auto: bf16 on CPUs that compute it natively, else fp32; fp32 on GPUs until"
    " half precision passes the accuracy gate there)."
)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# CPU flags (as /proc/cpuinfo spells them) that mean native bf16 matrix arithmetic.
FAST_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})

# `auto` picks bf16 on CPUs with native bf16 once the accuracy bar (< 0.05 dB PSNR change against the float32
# path on real frames, no drift over 300 frames) has been shown on such a CPU: `benchmarks/cpu_gate.sh` on a
# 2-core Xeon with AMX-BF16 (2026-12-05), every shipped model within 0.04 dB on each clip and 0.02 dB on the
# mean, the x4 default over 300 frames in one window within 0.01 dB; there bf16 ran the restoration
# defaults 1.4-1.9x faster (README, performance notes).
CPU_AUTO_BF16_VALIDATED = True

# The same bar on GPUs: `auto` picks bf16 (fp16 without bf16) on CUDA only once `benchmarks/gpu_check.py` has
# shown every architecture within 0.05 dB of float32 on a GPU. No GPU run has shown it yet, so `auto` is
# float32 there (TF32 convolutions: most of half precision's speed at float32's range).
CUDA_AUTO_HALF_VALIDATED = False


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The CPU feature flags from /proc/cpuinfo (Linux), or None where that file is not readable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags) if flags else None


def _torch_cpu_capability() -> str | None:
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - any failure means "unknown"
        return None


def cpu_has_fast_bf16(
    flags_reader: Callable[[], frozenset[str] | None] | None = None,
    capability_reader: Callable[[], str | None] | None = None,
) -> bool:
    """True when the CPU computes bf16 natively (AMX-BF16 or AVX512-BF16); False if it does not or is unknown.

    Linux flags decide when available; otherwise torch's reported capability ("AMX"/"AVX512_BF16"-like names)
    is used. The readers default to this module's `read_cpu_flags` and `_torch_cpu_capability`, looked up at
    call time so tests can stand in for the hardware.
    """
    flags = (flags_reader or read_cpu_flags)()
    if flags is not None:
        return bool(FAST_BF16_FLAGS & flags)
    capability = (capability_reader or _torch_cpu_capability)()
    if not capability:
        return False
    capability = capability.upper()
    return "AMX" in capability or "BF16" in capability


def precision_choice(requested: str) -> str:
    """``auto``, ``fp32``, ``bf16`` or ``fp16`` for what a user typed (torch's names too); else UsageError."""
    choice = str(requested).strip().lower()
    aliases = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
    choice = aliases.get(choice, choice)
    if choice not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}", hint=f"choose one of {', '.join(PRECISIONS)}")
    return choice


def resolve_precision(
    requested: str,
    device: torch.device,
    *,
    fast_bf16: Callable[[], bool] | None = None,
    cuda_bf16_supported: Callable[[], bool] | None = None,
) -> torch.dtype:
    """The dtype to compute in for `requested` in {"auto", "fp32", "bf16", "fp16"} on `device`.

    CPU: auto -> bf16 with native bf16 (the gate passed: CPU_AUTO_BF16_VALIDATED), else float32;
    fp16 -> UsageError (no fast CPU fp16 path). CUDA: auto -> float32 until validated
    (CUDA_AUTO_HALF_VALIDATED), then bf16 where supported, else fp16.
    """
    import torch

    choice = precision_choice(requested)
    kind = torch.device(device).type
    if choice == "fp32":
        return torch.float32
    if kind == "cuda":
        bf16_ok = (cuda_bf16_supported or torch.cuda.is_bf16_supported)()
        if choice == "auto":
            if not CUDA_AUTO_HALF_VALIDATED:
                return torch.float32
            return torch.bfloat16 if bf16_ok else torch.float16
        if choice == "bf16":
            if not bf16_ok:
                raise DeviceError("this GPU does not support bf16", hint="use --precision fp16 or fp32")
            return torch.bfloat16
        return torch.float16
    if kind == "cpu":
        if choice == "fp16":
            fast = (fast_bf16 or cpu_has_fast_bf16)()
            hint = "use --precision fp32" + (" or bf16 (this CPU computes bf16 natively)" if fast else "")
            raise UsageError("fp16 is not supported on the CPU", hint=hint)
        if choice == "bf16":
            return torch.bfloat16
        return (
            torch.bfloat16
            if (CPU_AUTO_BF16_VALIDATED and (fast_bf16 or cpu_has_fast_bf16)())
            else torch.float32
        )
    # Other backends (mps, xpu, ...): honour explicit requests, stay in float32 for auto.
    if choice == "auto":
        return torch.float32
    return torch.bfloat16 if choice == "bf16" else torch.float16


def precision_warning(
    requested: str, device: torch.device, *, fast_bf16: Callable[[], bool] | None = None
) -> str | None:
    """A warning when the user forces a precision this machine only emulates (bf16 on a CPU without
    AMX-BF16/AVX512-BF16 runs 10-100x slower than fp32), else None."""
    import torch

    choice = str(requested).strip().lower()
    if choice not in ("bf16", "bfloat16") or torch.device(device).type != "cpu":
        return None
    if (fast_bf16 or cpu_has_fast_bf16)():
        return None
    return (
        "--precision bf16: this CPU has no native bf16 (AMX-BF16 or AVX512-BF16), so it is emulated and "
        "runs many times slower than fp32; leave --precision at auto for the fast path"
    )


def resolve_device(requested: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a torch device, or a DeviceError when it does not exist here."""
    import torch

    if isinstance(requested, torch.device):
        requested = str(requested)

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
    if text == "mps":  # Apple GPUs: honoured when asked, never picked by auto (untested for restoration)
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {requested}: MPS is not available here", hint="use --device cpu")
        return torch.device("mps")
    raise UsageError(f"--device {requested}: expected auto, cpu, cuda or cuda:N")


def precision_name(dtype: torch.dtype) -> str:
    """``fp32``, ``bf16`` or ``fp16``: the name a report records for a resolved dtype."""
    import torch

    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def autocast(device: torch.device, dtype: torch.dtype) -> Any:
    """The autocast context computing in ``dtype`` on ``device`` (none for float32)."""
    import torch

    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
