"""Seconds per call of one second-order deformable alignment, split into its offset convolutions and the DCN.

Why: alignment is over half of the light x4 network's time (``x4_cost.py``) and the largest non-conv cost of
the official c64n7 (``official_cpu.py``); this tells which half of it a redesign or a faster kernel must cut.
Random weights, channels_last (as ``load_model`` lays CPU networks out), no gradients, best of ``--repeats``.

Usage:
  PYTHONPATH=src python benchmarks/align_cost.py [--size 180x320] [--repeats 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from vsrcli.models.arch import build_network
from vsrcli.models.layers.blocks import conv_act

NETWORKS = [
    ("basicvsrpp_lite c32n2", "basicvsrpp_lite", {"mid_channels": 32, "num_blocks": 2}),
    ("basicvsrpp c64n7", "basicvsrpp", {"mid_channels": 64, "num_blocks": 7}),
]


def best(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="180x320", help="feature size HxW")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    print(f"one alignment call at {h}x{w}, fp32, {torch.get_num_threads()} threads, best of {args.repeats}")
    print("| network | deform groups | offset convs s | DCN s | whole call s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, arch, arch_args in NETWORKS:
        print(measure(label, arch, arch_args, h, w, args.repeats))


def measure(label: str, arch: str, arch_args: dict[str, int], h: int, w: int, repeats: int) -> str:
    """One table row: the offset convolutions, the DCN and the whole call of one alignment module."""
    torch.manual_seed(0)
    net = build_network(arch, **arch_args).eval().to(memory_format=torch.channels_last)
    align = net.deform_align["backward_2"]
    c = int(net.mid_channels)

    def cl(t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last)

    x, extra = cl(torch.randn(1, 2 * c, h, w)), cl(torch.randn(1, 3 * c, h, w))
    flow_1, flow_2 = torch.randn(1, 2, h, w) * 2, torch.randn(1, 2, h, w) * 2

    def offsets() -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.cat([extra, flow_1, flow_2], 1)
        convs = [m for m in align.conv_offset if isinstance(m, torch.nn.Conv2d)]
        for conv in convs[:-1]:
            out = conv_act(conv, out, "leaky_relu")
        return align.offsets_and_mask(convs[-1](out), align.max_residue_magnitude, (flow_1, flow_2))

    with torch.no_grad():
        offset, mask = offsets()
        t_off = best(offsets, repeats)
        t_dcn = best(lambda: align.deform(x, offset, mask), repeats)
        t_all = best(lambda: align(x, extra, flow_1, flow_2), repeats)
    return f"| {label} | {offset.shape[1] // 18} | {t_off:.3f} | {t_dcn:.3f} | {t_all:.3f} |"


if __name__ == "__main__":
    main()
