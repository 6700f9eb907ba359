"""Per-part GFLOP and seconds per frame of vsrcli networks, and the fraction of the conv ceiling they reach.

Why: the own-models issue asks to profile before redesigning and to record where each network's cost sits.
Each network runs on the same clip (default: the 320x180 REDS sample, 7 frames) in the same process, one
after the other, best of ``--repeats``. Parts are timed with forward hooks on the network's top-level parts
(nested calls are not double counted); FLOPs come from ``torch.utils.flop_counter`` (convolutions and matrix
products, so the DCN's column product counts and its bilinear sampling does not). The ceiling is a 3x3
64->64 convolution on a 4x64x180x320 tensor in the same layout and precision.

Usage:
  PYTHONPATH=src python benchmarks/x4_cost.py MODEL [MODEL ...] [--frames 7] [--repeats 2]
      [--precision fp32|bf16] [--channels-last] [--clip DIR] [--sigma 25]
MODEL is a weights file, a zoo name, or ``arch:NAME`` with ``key=value`` arguments (random weights, e.g.
``arch:basicvsrpp_lite``). ``--clip`` measures on another folder of frames (the restorers' model cards use a
960x540 clip); a network with conditioning channels (the denoisers' noise map) gets them filled with
``--sigma``/255.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vsrcli.io.frames import read_folder
from vsrcli.models.api import load_model
from vsrcli.models.arch import build_network, count_parameters
from vsrcli.models.layers.blocks import fused_convs

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REDS = DATA / "REDS_LR_sample" / "BasicVSRpp_demo_000"

#: Top-level parts; anything else the network does (flow upsampling, skips, concatenations) is "other".
PARTS = {
    "spynet": "spynet",
    "feat_extract": "feat_extract",
    "deform_align": "deform_align",
    "backbone": "backbone",
    "reconstruction": "reconstruction",
    "upsample1": "head (upsample1/2, conv_hr, conv_last)",
    "upsample2": "head (upsample1/2, conv_hr, conv_last)",
    "conv_hr": "head (upsample1/2, conv_hr, conv_last)",
    "conv_last": "head (upsample1/2, conv_hr, conv_last)",
    "to_rgb": "to_rgb (pixel shuffle)",
}


def build(spec: str) -> torch.nn.Module:
    if spec.startswith("arch:"):
        name, *pairs = spec[5:].split(",")
        args = {k: int(v) for k, v in (p.split("=") for p in pairs)}
        return build_network(name, **args).eval()
    return load_model(spec).eval()


@contextlib.contextmanager
def part_timer(net: torch.nn.Module, totals: dict[str, float]) -> Iterator[None]:
    """Accumulate wall time per part with pre/post forward hooks on the top-level children."""
    handles = []
    starts: dict[str, float] = {}
    for child_name, module in net.named_children():
        label = PARTS.get(child_name)
        if label is None:
            continue

        def pre(_m: torch.nn.Module, _i: object, key: str = child_name) -> None:
            starts[key] = time.perf_counter()

        def post(
            _m: torch.nn.Module, _i: object, _o: object, key: str = child_name, lab: str = label
        ) -> None:
            totals[lab] += time.perf_counter() - starts.pop(key)

        # ModuleDicts (deform_align, backbone) are not called themselves: hook their members
        targets = list(module.values()) if isinstance(module, torch.nn.ModuleDict) else [module]
        for target in targets:
            handles.append(target.register_forward_pre_hook(pre))
            handles.append(target.register_forward_hook(post))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def conv_ceiling(precision: torch.dtype, channels_last: bool, repeats: int) -> float:
    conv = torch.nn.Conv2d(64, 64, 3, 1, 1)
    x = torch.rand(4, 64, 180, 320)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 64 * 9 * x.shape[0] * x.shape[2] * x.shape[3]
    best = float("inf")
    with torch.no_grad(), torch.autocast("cpu", dtype=precision, enabled=precision != torch.float32):
        conv(x)
        for _ in range(repeats + 1):
            t = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t)
    return flops / best / 1e12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--frames", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--clip", type=Path, default=REDS, help="folder of frames (default: the REDS sample)")
    ap.add_argument("--sigma", type=float, default=25.0, help="noise map value (0-255) for conditioned nets")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.precision == "fp32" else torch.bfloat16
    frames = read_folder(args.clip, max_frames=args.frames)
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    if args.channels_last:
        clip = clip.contiguous()
    t = clip.shape[1]
    size = f"{clip.shape[-1]}x{clip.shape[-2]}"
    print(f"clip {t} frames {size}, {args.precision}, threads {torch.get_num_threads()}")
    ceiling = conv_ceiling(dtype, args.channels_last, args.repeats)
    print(f"conv ceiling (3x3 64->64 on 4x64x180x320): {ceiling:.3f} TFLOP/s")
    for spec in args.models:
        net = build(spec)
        extra = int(getattr(net, "extra_in_channels", 0))
        x = clip
        if extra:
            level = torch.full((*clip.shape[:2], extra, *clip.shape[3:]), args.sigma / 255)
            x = torch.cat([clip, level], dim=2)
        if args.channels_last:
            net = net.to(memory_format=torch.channels_last)
        flops_by_part: dict[str, float] = defaultdict(float)
        # the fused oneDNN convs are invisible to the counter: count with the plain ones
        with torch.no_grad(), fused_convs(False), FlopCounterMode(display=False) as counter:
            net(x)
        per_module = counter.get_flop_counts()
        total_flops = sum(per_module.get("Global", {}).values())
        for key, ops in per_module.items():
            parts = key.split(".")  # "NetClass.child" for a direct child; ModuleDicts are "NetClass.child.x"
            if len(parts) >= 2 and parts[1] in PARTS:
                direct = len(parts) == 2 or (len(parts) == 3 and parts[1] in ("deform_align", "backbone"))
                if direct and not (len(parts) == 2 and parts[1] in ("deform_align", "backbone")):
                    flops_by_part[PARTS[parts[1]]] += sum(ops.values())
        best_total, best_parts = float("inf"), {}
        for _ in range(args.repeats):
            totals: dict[str, float] = defaultdict(float)
            with (
                torch.no_grad(),
                torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32),
                part_timer(net, totals),
            ):
                start = time.perf_counter()
                net(x)
                elapsed = time.perf_counter() - start
            if elapsed < best_total:
                best_total, best_parts = elapsed, dict(totals)
        print(f"\n{spec}: {count_parameters(net) / 1e6:.2f} M parameters")
        print("| part | GFLOP/frame | s/frame |\n| --- | ---: | ---: |")
        labels = sorted(set(PARTS.values()), key=lambda k: -best_parts.get(k, 0.0))
        for label in labels:
            if label in best_parts or flops_by_part.get(label):
                gf = flops_by_part.get(label, 0.0) / t / 1e9
                print(f"| {label} | {gf:.1f} | {best_parts.get(label, 0.0) / t:.3f} |")
        other = best_total - sum(best_parts.values())
        print(f"| other | | {other / t:.3f} |")
        gflop = total_flops / t / 1e9
        achieved = total_flops / best_total / 1e12
        print(f"| **total** | **{gflop:.1f}** | **{best_total / t:.3f}** |")
        print(f"achieved {achieved:.3f} TFLOP/s = {achieved / ceiling:.0%} of the conv ceiling")


if __name__ == "__main__":
    main()
