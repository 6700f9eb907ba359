"""Compare torchvision's deform_conv2d with vsrcli's deform_conv2d_fast at BasicVSR++ sizes.

Why: the deformable convolutions of BasicVSR++ (128 -> 64 channels, 16 deformable groups, 3x3) dominate the
float32 time with torchvision's CPU kernel; this prints what each implementation costs, forward and
forward+backward, in float32 and under bf16 autocast, as the best of several repeats (the CPU may be shared).

Usage: PYTHONPATH=src python benchmarks/dcn.py [--threads 2] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torchvision.ops import deform_conv2d as tv_deform_conv2d

from vsrcli.models.layers._deform_fast import deform_conv2d_fast


def best_time(fn: Callable[[], object], repeats: int, budget_s: float = 30.0) -> tuple[float, float]:
    """Best wall time and best process CPU time of up to `repeats` calls after one warm-up.

    A warm-up over a second counts as a repeat. CPU time is reported too because on a shared machine the wall
    time of a single-threaded run mostly measures the neighbours; with 1 thread CPU time is the cost itself.
    """

    def timed() -> tuple[float, float]:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - t0, time.process_time() - c0

    first = timed()
    best = first if first[0] > 1.0 else (float("inf"), float("inf"))
    spent = first[0]
    for _ in range(repeats):
        if spent > budget_s and best[0] < float("inf"):
            break
        t = timed()
        spent += t[0]
        best = (min(best[0], t[0]), min(best[1], t[1]))
    return best


def _tv(x, offset, mask, weight, bias):  # noqa: ANN001, ANN202 - thin adapter
    return tv_deform_conv2d(x, offset, weight, bias, stride=1, padding=1, dilation=1, mask=mask)


def _fast(x, offset, mask, weight, bias):  # noqa: ANN001, ANN202 - thin adapter
    return deform_conv2d_fast(x, offset, mask, weight, bias, stride=1, padding=1, dilation=1)


def bench_case(
    n: int, h: int, w: int, device: str, repeats: int, backward: bool, bf16: bool = True
) -> list[tuple[str, tuple[float, float]]]:
    """Seconds for each (implementation, precision) on one BasicVSR++ deformable convolution."""
    cin, cout, g = 128, 64, 16
    x = torch.randn(n, cin, h, w, device=device)
    offset = torch.randn(n, 2 * g * 9, h, w, device=device) * 4.0
    mask = torch.rand(n, g * 9, h, w, device=device)
    weight = torch.randn(cout, cin, 3, 3, device=device) * 0.03
    bias = torch.randn(cout, device=device)
    tensors = [x, offset, mask, weight, bias]
    if backward:
        tensors = [t.requires_grad_() for t in tensors]
    results = []
    cases = [("torchvision", _tv, False), ("fast", _fast, False)] + ([("fast", _fast, True)] if bf16 else [])
    if device == "cuda":
        cases.append(("torchvision", _tv, True))
    for name, fn, bf16 in cases:

        def run(fn: Callable = fn, bf16: bool = bf16) -> None:
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                if backward:
                    out = fn(*tensors)
                    out.float().square().mean().backward()
                else:
                    with torch.no_grad():
                        fn(*tensors)

        results.append((f"{name} {'bf16-autocast' if bf16 else 'fp32'}", best_time(run, repeats)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="1x180x320,2x64x64", help="comma-separated NxHxW cases")
    parser.add_argument("--no-bf16", action="store_true", help="skip bf16 autocast (very slow without AMX)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.device}, threads {torch.get_num_threads()}, best of {args.repeats}"
    )
    print("DCN 128->64 ch, 16 deformable groups, 3x3; GFLOP = 2*64*128*9*N*H*W (the column product)")
    print(f"{'case':<22} {'impl':<24} {'wall ms':>9} {'cpu ms':>9} {'GFLOP/s':>8} {'x tv fp32':>9}")
    for n, h, w in (tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")):
        flops = 2.0 * 64 * 128 * 9 * n * h * w
        for backward in (False, True):
            label = f"N={n} {h}x{w} {'fwd+bwd' if backward else 'fwd'}"
            res = bench_case(n, h, w, args.device, args.repeats, backward, not args.no_bf16)
            ref = res[0][1]
            mult = 3.0 if backward else 1.0
            for impl, (sec, cpu) in res:
                gflops, speedup = mult * flops / sec / 1e9, ref[0] / sec
                ms = f"{sec * 1e3:>9.1f} {cpu * 1e3:>9.1f}"
                print(f"{label:<22} {impl:<24} {ms} {gflops:>8.1f} {speedup:>9.2f}")


if __name__ == "__main__":
    main()
