"""BasicVSR++ c64n7 on the CPU: vsrcli's network against the official implementation's cost, and against the
machine's fp32 convolution ceiling, from one run (issue 19's CPU bar: >= 1.5x and >= 75%).

- reference: the same network and weights with torchvision's DCN, NCHW, float32, plain convolutions with
  their activations and residual additions as separate ops (the official code's cost);
- vsrcli: vsrcli's own DCN (``VSRCLI_DEFORM_BACKEND=auto`` on a CPU) and fused convolutions, NCHW;
- vsrcli channels_last: the same with the weights in channels_last (``--layouts`` to choose).

The ceiling is a 64->64 3x3 convolution on a 4x64x180x320 tensor (best of NCHW and channels_last, measured
before and after the networks, best kept); the fraction is the network's FLOPs (convolutions plus the DCN's
column product, counted by ``FlopCounterMode``) over its time, over the ceiling. Runs alternate between the
configurations so a shared machine slows them alike; each is the best of ``--repeats``. Wall and process CPU
time are both printed: on a machine shared with other jobs the CPU-time ratio is the steadier figure.
Outputs are compared with the reference by the golden tests' measure (max abs difference / max abs value).
malloc is tuned as in vsrcli's own processes (``vsrcli/allocator.py``), for the reference too, so the ratio
compares the networks alone; ``VSRCLI_MALLOC=system`` runs both on glibc's defaults.

Usage:
  PYTHONPATH=src python benchmarks/official_cpu.py [--frames 5] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from vsrcli.allocator import tune_allocator
from vsrcli.models.arch import build_network
from vsrcli.models.layers.blocks import fused_convs
from vsrcli.models.layers.deform import use_deform_backend

GOLDEN_TOLERANCE = 1e-4  # tests/test_networks_forward.py


def moving_frames(t: int, h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    clip = torch.stack(
        [
            torch.stack(
                [torch.sin((xx + 2 * i) / 9 + c) * torch.cos((yy - i) / 7) * 0.5 + 0.5 for c in range(3)]
            )
            for i in range(t)
        ]
    ).unsqueeze(0)
    return clip + 0.02 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(0))


def conv_ceiling(repeats: int = 3) -> float:
    """Best TFLOP/s of a 64->64 3x3 conv on 4x64x180x320 (NCHW or channels_last)."""
    best = 0.0
    for cl in (False, True):
        x = torch.randn(4, 64, 180, 320)
        conv = torch.nn.Conv2d(64, 64, 3, 1, 1)
        if cl:
            x, conv = (
                x.contiguous(memory_format=torch.channels_last),
                conv.to(memory_format=torch.channels_last),
            )
        with torch.inference_mode():
            conv(x)
            for _ in range(repeats):
                t0 = time.perf_counter()
                conv(x)
                best = max(best, 2.0 * 64 * 64 * 9 * 4 * 180 * 320 / (time.perf_counter() - t0) / 1e12)
    return best


def count_flops(net: torch.nn.Module, frames: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    # plain convolutions, which the counter sees (fused ones are the same FLOPs in one oneDNN call)
    with (
        use_deform_backend("fast"),
        fused_convs(False),
        torch.inference_mode(),
        FlopCounterMode(display=False) as counter,
    ):
        net(frames)
    return float(counter.get_total_flops())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--layouts", default="nchw,cl", help="vsrcli layouts to run: nchw, cl or both")
    args = parser.parse_args()
    print(f"malloc: {', '.join(tune_allocator()) or 'glibc defaults'}")
    torch.set_num_threads(args.threads)
    t, h, w = args.frames, args.height, args.width
    torch.manual_seed(0)
    reference = build_network("basicvsrpp", mid_channels=64, num_blocks=7).eval()
    with torch.no_grad():  # the offset heads start at zero: give them values so the DCN samples move
        for name, p in reference.named_parameters():
            if "conv_offset.6" in name:
                p.normal_(0, 1e-3)
    frames = moving_frames(t, h, w)
    print(
        f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
        f"threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.1f}"
    )
    print(f"BasicVSR++ c64n7 x4, {t} frames of {w}x{h}, best of {args.repeats}")
    flops = count_flops(reference, frames)
    print(f"network FLOPs: {flops / t / 1e12:.3f} TFLOP per frame (convolutions + DCN product)")
    ceiling = conv_ceiling()

    configs: dict[str, tuple[torch.nn.Module, str, bool]] = {"reference": (reference, "torchvision", False)}
    for layout in args.layouts.split(","):
        net = build_network("basicvsrpp", mid_channels=64, num_blocks=7).eval()
        net.load_state_dict(reference.state_dict())
        if layout == "cl":
            net = net.to(memory_format=torch.channels_last)
        configs[f"vsrcli {'channels_last' if layout == 'cl' else 'NCHW'}"] = (net, "auto", True)
    best = {name: (float("inf"), float("inf")) for name in configs}
    outputs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for net, backend, fused in configs.values():  # warm-up
            with use_deform_backend(backend), fused_convs(fused):
                net(frames[:, :2])
        for _ in range(args.repeats):
            for name, (net, backend, fused) in configs.items():
                with use_deform_backend(backend), fused_convs(fused):
                    t0, c0 = time.perf_counter(), time.process_time()
                    outputs[name] = net(frames)
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
                print(f"  {name:<22} {wall / t:8.3f} s/frame wall, {cpu / t:8.3f} s/frame CPU", flush=True)
    ceiling = max(ceiling, conv_ceiling())
    print(f"conv ceiling: {ceiling:.3f} TFLOP/s (fp32 3x3 64->64 on 4x64x180x320)")
    ref_wall, ref_cpu = best["reference"]
    gold = outputs["reference"]
    print(
        f"\n{'':<22} {'s/frame':>8} {'CPU s/fr':>8} {'speed-up':>8} {'CPU spd':>8} {'TFLOP/s':>8} "
        f"{'of ceil':>7} {'rel err':>8}"
    )
    for name, (wall, cpu) in best.items():
        achieved = flops / wall / 1e12
        err = float((outputs[name] - gold).abs().max() / gold.abs().max())
        print(
            f"{name:<22} {wall / t:8.3f} {cpu / t:8.3f} {ref_wall / wall:8.2f} {ref_cpu / cpu:8.2f} "
            f"{achieved:8.3f} {achieved / ceiling:7.0%} {err:8.1e}"
        )
        if err >= GOLDEN_TOLERANCE:
            print(
                f"  {name}: output differs from the reference beyond the golden tolerance {GOLDEN_TOLERANCE}"
            )
    print("(bars: speed-up >= 1.5, of ceil >= 75%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
