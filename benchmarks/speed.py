"""Seconds per frame, achieved TFLOP/s and peak memory of BasicVSR++ per precision, DCN backend and device.

Why: the performance targets (issue 7) are stated per frame and against the machine's own convolution
throughput, so this script measures both on the machine it runs on: the model's FLOPs are counted with
`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products; our DCN's column product is a
`bmm`, so it is counted; bilinear sampling is not), the convolution ceiling is measured with a 64->64 3x3
convolution at the same size, and every configuration is compared with float32 + torchvision's DCN (the
official implementation's configuration). The CPU may be shared: each time is the best of `--repeats` runs,
and the process CPU time is printed next to the wall time.

Usage:
  PYTHONPATH=src python benchmarks/speed.py [--frames 20] [--precision fp32,bf16] [--deform torchvision,fast]
      [--device cpu] [--threads 2] [--mid 64 --blocks 7] [--height 180 --width 320] [--channels-last]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch


@contextlib.contextmanager
def deform_backend(name: str) -> Iterator[None]:
    """Run the network with the given DCN implementation ("torchvision" or "fast").

    Uses `vsrcli.models.layers.deform.use_deform_backend` when it exists; otherwise patches the module's
    `modulated_deform_conv2d` for the duration (benchmark only).
    """
    from vsrcli.models.layers import deform

    if hasattr(deform, "use_deform_backend"):
        with deform.use_deform_backend(name):
            yield
        return
    original = deform.modulated_deform_conv2d
    if name == "torchvision":
        yield
        return
    if name != "fast":
        raise ValueError(f"unknown DCN backend {name!r}")
    from vsrcli.models.layers._deform_fast import deform_conv2d_fast

    def patched(x, offset, mask, weight, bias, stride=1, padding=1, dilation=1, deform_groups=1):  # noqa: ANN001, ANN202
        return deform_conv2d_fast(x, offset, mask, weight, bias, stride, padding, dilation, deform_groups)

    deform.modulated_deform_conv2d = patched
    try:
        yield
    finally:
        deform.modulated_deform_conv2d = original


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
    """Best wall and best process-CPU seconds of `repeats` calls (no warm-up here; the caller warms up)."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def conv_ceiling(device: torch.device, dtype: torch.dtype, h: int, w: int, repeats: int) -> tuple[float, str]:
    """Best TFLOP/s of a 64->64 3x3 convolution at h x w, NCHW or channels_last, in `dtype`."""
    best, layout = 0.0, ""
    for cl in (False, True):
        x = torch.randn(1, 64, h, w, device=device, dtype=dtype)
        conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(device=device, dtype=dtype)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
            conv = conv.to(memory_format=torch.channels_last)
        with torch.inference_mode():
            conv(x)
            wall, _ = best_of(lambda conv=conv, x=x: conv(x), repeats, device)
        tflops = 2.0 * 64 * 64 * 9 * h * w / wall / 1e12
        if tflops > best:
            best, layout = tflops, "channels_last" if cl else "NCHW"
    return best, layout


def count_flops(model: torch.nn.Module, frames: torch.Tensor) -> float:
    """FLOPs of one forward (multiply-add = 2), with our DCN so that its product is counted."""
    from torch.utils.flop_counter import FlopCounterMode

    from vsrcli.models.layers.blocks import fused_convs

    # plain convolutions, which the counter sees (the fused ones do the same FLOPs in one oneDNN call)
    with (
        deform_backend("fast"),
        fused_convs(False),
        torch.inference_mode(),
        FlopCounterMode(display=False) as counter,
    ):
        model(frames)
    return float(counter.get_total_flops())


def train_step_profile(args: argparse.Namespace) -> None:
    """Time and profile one BasicVSR++ training step (forward, Charbonnier loss, backward, Adam).

    Default: c32n4 on 2 clips x 7 frames of 64x64 LR, per DCN backend and precision (bf16 = CPU autocast).
    """
    from torch.profiler import ProfilerActivity, profile

    from vsrcli.models.arch import build_network

    device = torch.device(args.device)
    n, t, h, w = 2, 7, 64, 64
    torch.manual_seed(0)
    lqs = torch.rand(n, t, 3, h, w, device=device)
    gts = torch.rand(n, t, 3, 4 * h, 4 * w, device=device)
    print(f"training step: BasicVSR++ c{args.mid}n{args.blocks}, {n} clips x {t} frames of {h}x{w} LR, Adam")
    print(f"{'precision':>9} {'dcn':>11} {'s/step':>8} {'cpu s':>8}")
    tables = {}
    for pname in args.precision.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[pname]
        for backend in args.deform.split(","):
            torch.manual_seed(0)
            model = (
                build_network("basicvsrpp", mid_channels=args.mid, num_blocks=args.blocks).to(device).train()
            )
            opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))

            def step(
                model: torch.nn.Module = model, opt: torch.optim.Optimizer = opt, dtype: torch.dtype = dtype
            ) -> None:
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    out = model(lqs)
                loss = torch.sqrt((out.float() - gts) ** 2 + 1e-12).mean()  # Charbonnier
                loss.backward()
                opt.step()

            with deform_backend(backend):
                step()  # warm-up
                # The profiled step is also the timed one (profiler overhead is small next to these ops);
                # with --repeats > 1 the best of further unprofiled steps counts too.
                t0, c0 = time.perf_counter(), time.process_time()
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    step()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if args.repeats > 1:
                    more = best_of(step, args.repeats - 1, device)
                    wall, cpu = min(wall, more[0]), min(cpu, more[1])
            print(f"{pname:>9} {backend:>11} {wall:>8.2f} {cpu:>8.2f}", flush=True)
            tables[(pname, backend)] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    for (pname, backend), table in tables.items():
        print(f"\n--- top ops by self CPU time: {pname}, {backend} DCN ---\n{table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument("--deform", default="torchvision,fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mid", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--channels-last", action="store_true", help="also run with channels_last weights")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count (two extra forwards)")
    parser.add_argument(
        "--train-step",
        action="store_true",
        help="profile one training step instead (use --mid 32 --blocks 4)",
    )
    args = parser.parse_args()
    if args.train_step:
        torch.set_num_threads(args.threads)
        train_step_profile(args)
        return

    from vsrcli.models.arch import build_network

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    h, w, t = args.height, args.width, args.frames
    torch.manual_seed(0)
    model = build_network("basicvsrpp", mid_channels=args.mid, num_blocks=args.blocks).eval().to(device)
    # A smooth moving pattern, so SPyNet and the alignment see plausible motion.
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    frames = (
        torch.stack(
            [
                torch.stack(
                    [torch.sin((xx + 2 * i) / 9 + c) * torch.cos((yy - i) / 7) * 0.5 + 0.5 for c in range(3)]
                )
                for i in range(t)
            ]
        )
        .unsqueeze(0)
        .to(device)
    )
    frames = frames + 0.02 * torch.randn_like(frames)

    print(
        f"torch {torch.__version__}, device {device}, "
        f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.1f}"
    )
    print(f"BasicVSR++ c{args.mid}n{args.blocks} x4, input {h}x{w}, T={t} frames, best of {args.repeats}")
    if not args.no_flops:
        f2 = count_flops(model, frames[:, :2])
        f3 = count_flops(model, frames[:, :3])
        per_frame = f3 - f2  # steady-state cost of one more frame (every branch aligns it)
        total = f2 + (t - 2) * per_frame
        print(
            f"FLOPs: {per_frame / 1e12:.3f} TFLOP per frame (steady state), "
            f"{total / t / 1e12:.3f} average at T={t}"
        )
    else:
        total = float("nan")

    ceilings: dict[str, tuple[float, str]] = {}
    for pname in args.precision.split(","):
        dtype = dtypes[pname]
        if device.type == "cpu" and dtype == torch.float16:
            continue
        ceilings[pname] = conv_ceiling(device, dtype, h, w, 3)
        print(f"conv ceiling {pname}: {ceilings[pname][0]:.3f} TFLOP/s (64->64 3x3, {ceilings[pname][1]})")

    layouts = [False, True] if args.channels_last else [False]
    print(
        f"\n{'precision':>9} {'dcn':>11} {'layout':>13} {'s/frame':>8} {'cpu s/fr':>8} {'TFLOP/s':>8} "
        f"{'of conv':>7} {'peak MB':>8} {'speed-up':>8}"
    )
    baseline: float | None = None
    for pname in ceilings:
        dtype = dtypes[pname]
        for backend in args.deform.split(","):
            for cl in layouts:
                net = (
                    model.to(memory_format=torch.channels_last)
                    if cl
                    else model.to(memory_format=torch.contiguous_format)
                )

                def run(net: torch.nn.Module = net, dtype: torch.dtype = dtype) -> None:
                    with (
                        torch.inference_mode(),
                        torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32),
                    ):
                        net(frames)

                with deform_backend(backend):
                    with torch.inference_mode():  # warm-up on a short clip
                        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                            net(frames[:, :2])
                    _reset_peak_rss()
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    wall, cpu = best_of(run, args.repeats, device)
                peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else _peak_rss_mb()
                if baseline is None and pname == "fp32" and backend == "torchvision" and not cl:
                    baseline = wall
                tflops = total / wall / 1e12
                ratio = tflops / ceilings[pname][0]
                speedup = f"{baseline / wall:.2f}" if baseline else "-"
                layout = "channels_last" if cl else "NCHW"
                print(
                    f"{pname:>9} {backend:>11} {layout:>13} {wall / t:>8.3f} {cpu / t:>8.3f} {tflops:>8.3f} "
                    f"{ratio:>7.2f} {peak:>8.0f} {speedup:>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
