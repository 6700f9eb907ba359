"""Measure this machine's 3x3 convolution and matmul throughput (TFLOP/s) at BasicVSR++ sizes.

Why: the speed targets are stated as a fraction of what the hardware does for plain convolutions, so we
measure that ceiling here instead of assuming it (the CPU may or may not have AMX/AVX512-BF16). The CPU
may be shared, so every figure is the best of several repeats (fewer for calls slower than a second).

Usage: python benchmarks/conv_throughput.py [--threads 2] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F


def _timed(fn: Callable[[], object]) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def best_time(fn: Callable[[], object], repeats: int, budget_s: float = 20.0) -> float:
    """Best wall time of up to `repeats` calls after one warm-up (best, because neighbours steal CPU).

    A warm-up slower than a second counts as a measurement, and repeats stop once `budget_s` is spent, so
    pathological paths (bf16 without hardware support) do not take minutes.
    """
    first = _timed(fn)
    best = first if first > 1.0 else float("inf")
    spent = first
    for _ in range(repeats):
        if spent > budget_s and best < float("inf"):
            break
        t = _timed(fn)
        spent += t
        best = min(best, t)
    return best


def conv_tflops(
    batch: int,
    cin: int,
    cout: int,
    h: int,
    w: int,
    dtype: torch.dtype,
    channels_last: bool,
    device: str,
    repeats: int,
    autocast: bool = False,
) -> tuple[float, float]:
    """Seconds and TFLOP/s of one 3x3 stride-1 pad-1 convolution (2 FLOPs per multiply-add)."""
    x = torch.randn(batch, cin, h, w, device=device)
    conv = torch.nn.Conv2d(cin, cout, 3, 1, 1).to(device)
    if not autocast:
        x = x.to(dtype)
        conv = conv.to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        conv = conv.to(memory_format=torch.channels_last)

    def run() -> None:
        with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=autocast):
            conv(x)

    seconds = best_time(run, repeats)
    flops = 2.0 * batch * cout * cin * 9 * h * w
    return seconds, flops / seconds / 1e12


def matmul_tflops(
    m: int, k: int, n: int, dtype: torch.dtype, device: str, repeats: int, autocast: bool
) -> tuple[float, float]:
    """Seconds and TFLOP/s of an (m, k) @ (k, n) product, optionally under autocast."""
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    if not autocast:
        a, b = a.to(dtype), b.to(dtype)

    def run() -> None:
        with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=autocast):
            F.linear(a, b.t())

    seconds = best_time(run, repeats)
    return seconds, 2.0 * m * k * n / seconds / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    print(
        f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()}, best of {args.repeats}"
    )
    print(f"\n3x3 conv 64->64, {args.height}x{args.width}")
    print(f"{'batch':>5} {'dtype':>9} {'layout':>13} {'ms':>9} {'TFLOP/s':>8}")
    dtypes = [
        ("fp32", torch.float32, False),
        ("bf16", torch.bfloat16, False),
        ("bf16-ac", torch.bfloat16, True),
    ]
    if dev == "cuda":
        dtypes.append(("fp16", torch.float16, False))
    for batch in (1, 2):
        for name, dtype, ac in dtypes:
            for cl in (False, True):
                s, tf = conv_tflops(batch, 64, 64, args.height, args.width, dtype, cl, dev, args.repeats, ac)
                layout = "channels_last" if cl else "NCHW"
                print(f"{batch:>5} {name:>9} {layout:>13} {s * 1e3:>9.1f} {tf:>8.3f}")
    print("\nmatmul (64 x 1152) @ (1152 x 57600)  [DCN's column product at 180x320]")
    print(f"{'dtype':>9} {'ms':>9} {'TFLOP/s':>8}")
    for name, dtype, ac in dtypes:
        s, tf = matmul_tflops(64, 1152, args.height * args.width, dtype, dev, args.repeats, ac)
        print(f"{name:>9} {s * 1e3:>9.1f} {tf:>8.3f}")
    print("\nmatmul 2048 x 2048 x 2048")
    for name, dtype, ac in dtypes:
        s, tf = matmul_tflops(2048, 2048, 2048, dtype, dev, args.repeats, ac)
        print(f"{name:>9} {s * 1e3:>9.1f} {tf:>8.3f}")


if __name__ == "__main__":
    main()
