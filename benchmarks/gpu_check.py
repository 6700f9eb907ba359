"""The GPU check of issue 19, prepared to run in one go (under 8 minutes on one GPU) when a GPU is lent.

Sections, each timed and printed as it finishes:

1. precision: for every architecture with seeded random weights in the official layout (offset heads
   perturbed so the DCN paths see non-zero offsets), PSNR of bf16 and fp16 autocast against float32 on the
   same input (the accuracy a CUDA ``auto`` precision would give up);
2. speed: BasicVSR++ c64n7 at 320x180 (input), seconds per frame in fp32 / bf16 / fp16, for each DCN backend;
3. pipeline: ``restore_video`` 540p -> 4K (x4) frames per second with c64n7 (random weights), with the
   shipped ``vsrcli-x4`` and with ``--model bicubic`` (the data path's floor), libx264 veryfast;
4. memory: peak allocated memory of one untiled c64n7 window against the automatic tile estimate
   (``pipeline.tiling.working_set_bytes``) at several sizes, per dtype;
5. oom: a real out-of-memory error (memory capped with ``set_per_process_memory_fraction``) and the tile
   back-off of ``restore_window`` (the tiles tried, the one that worked, a finite output).

``--dry-run`` runs every section at toy sizes on the CPU (sections 4-5 with a simulated allocator limit), so
the script is tested where no GPU exists. Usage:

  PYTHONPATH=src python benchmarks/gpu_check.py [--device cuda] [--dry-run] [--sections precision,speed,...]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

SECTIONS = ("precision", "speed", "pipeline", "memory", "oom")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: The official layouts, one per architecture and variant (arguments as in the zoo).
OFFICIAL = {
    "basicvsr c64n30": ("basicvsr", {"mid_channels": 64, "num_blocks": 30}),
    "iconvsr c64n30": ("iconvsr", {"mid_channels": 64, "num_blocks": 30, "padding": 2}),
    "basicvsr++ c64n7 x4": ("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}),
    "basicvsr++ c128n25 x4": ("basicvsrpp", {"mid_channels": 128, "num_blocks": 25}),
    "basicvsr++ c64n15 restore": (
        "basicvsrpp",
        {"mid_channels": 64, "num_blocks": 15, "is_low_res_input": False},
    ),
    "realbasicvsr c64n20": (
        "realbasicvsr",
        {
            "mid_channels": 64,
            "num_propagation_blocks": 20,
            "num_cleaning_blocks": 20,
            "dynamic_refine_thres": 255,
            "is_sequential_cleaning": True,
        },
    ),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def moving_clip(t: int, h: int, w: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """(1, T, 3, H, W) smooth texture moving a pixel or two per frame, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    frames = [
        torch.stack([torch.sin((xx + 2 * i) / 9 + c) * torch.cos((yy - i) / 7) * 0.4 + 0.5 for c in range(3)])
        for i in range(t)
    ]
    clip = torch.stack(frames).unsqueeze(0)
    return (clip + 0.02 * torch.randn(clip.shape, generator=g)).clamp(0, 1).to(device)


#: Dry runs check the code paths, not the figures: every network shrunk to this width and one block.
DRY = {"mid_channels": 16, "num_blocks": 1, "num_propagation_blocks": 1, "num_cleaning_blocks": 1}
_dry = False


def random_network(arch: str, args: dict, device: torch.device, seed: int = 0) -> torch.nn.Module:
    """Seeded random weights in the official layout; zero-initialised offset heads get small values so the
    deformable alignment actually moves its samples. Shrunk (``DRY``) in a dry run."""
    from vsrcli.models.arch import build_network

    if _dry:
        args = {**args, **{k: v for k, v in DRY.items() if k in args}}
    torch.manual_seed(seed)
    net = build_network(arch, **args)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "conv_offset" in name and float(p.abs().max()) == 0:
                p.normal_(0, 1e-3)
    return net.eval().to(device)


def forward(net: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
        return net(x).float()


def section_precision(device: torch.device, dry: bool) -> None:
    t, h, w = (3, 64, 64) if dry else (7, 180, 320)
    print(f"{'network':<28} {'bf16 PSNR':>10} {'fp16 PSNR':>10}  (dB against fp32, {t} frames {w}x{h})")
    for label, (arch, args) in OFFICIAL.items():
        net = random_network(arch, args, device)
        restoration = args.get("is_low_res_input") is False
        x = moving_clip(
            max(t, net.min_frames), 4 * h if restoration else h, 4 * w if restoration else w, device
        )
        if restoration:
            x = x[..., : (x.shape[-2] // 4) * 4, : (x.shape[-1] // 4) * 4]
        ref = forward(net, x, torch.float32)
        cells = []
        for name in ("bf16", "fp16"):
            try:
                cells.append(f"{psnr(forward(net, x, DTYPES[name]), ref):10.2f}")
            except RuntimeError as exc:  # e.g. fp16 autocast unsupported by an op on this device
                cells.append(f"{'error':>10}")
                print(f"  {label} {name}: {str(exc).splitlines()[0]}")
        print(f"{label:<28} {cells[0]} {cells[1]}", flush=True)
        del net


def section_speed(device: torch.device, dry: bool) -> None:
    from vsrcli.models.layers.deform import use_deform_backend

    t, h, w = (2, 64, 64) if dry else (15, 180, 320)
    net = random_network("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}, device)
    x = moving_clip(t, h, w, device)
    print(f"BasicVSR++ c64n7 x4, {t} frames of {w}x{h}: seconds per frame (best of 2)")
    for backend in ("torchvision", "fast"):
        for name, dtype in DTYPES.items():
            if device.type == "cpu" and dtype == torch.float16:
                continue
            with use_deform_backend(backend):
                forward(net, x[:, :2], dtype)  # warm-up (cudnn autotuning, allocator)
                best = math.inf
                for _ in range(2):
                    sync(device)
                    t0 = time.perf_counter()
                    forward(net, x, dtype)
                    sync(device)
                    best = min(best, time.perf_counter() - t0)
            print(f"  dcn {backend:<11} {name}: {best / t:.4f} s/frame", flush=True)


def _write_clip(path: Path, t: int, h: int, w: int) -> None:
    import av

    frames = (moving_clip(t, h, w, torch.device("cpu"))[0].permute(0, 2, 3, 1).numpy() * 255).round()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25), options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames.astype(np.uint8):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def section_pipeline(device: torch.device, dry: bool) -> None:
    from vsrcli.pipeline.restore import restore_video

    t, h, w = (3, 64, 96) if dry else (24, 540, 960)  # x4: 960x540 -> 3840x2160 (4K)
    net = random_network("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}, device)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        _write_clip(src, t, h, w)
        half = ("bf16",) if device.type == "cpu" else ("fp16", "bf16")
        runs = [
            ("bicubic", "bicubic", "fp32"),
            *(("c64n7", net, p) for p in half),
            *(("vsrcli-x4", "vsrcli-x4", p) for p in ("fp32", *half)),  # the shipped default, trained
        ]
        for label, model, precision in runs:
            out = Path(tmp) / f"out-{label}-{precision}.mp4"
            t0 = time.perf_counter()
            settings = {
                "model": model,
                "device": str(device),
                "precision": precision,
                "codec": "libx264",
                "preset": "veryfast",
                "overwrite": True,
            }
            try:  # the engine refactor (issue 18) passes RestoreOptions; older trees take keywords
                from vsrcli.pipeline.options import RestoreOptions
            except ImportError:
                report = restore_video(src, out, **settings)
            else:
                report = restore_video(src, out, options=RestoreOptions(**settings))
            wall = time.perf_counter() - t0
            print(
                f"  {label:<8} {precision}: {w}x{h} -> {4 * w}x{4 * h}, {report.frames} frames, {wall:.2f} s"
                f" = {report.frames / wall:.2f} fps (tile {report.tile})",
                flush=True,
            )


def _estimate_bytes(net: torch.nn.Module, frames: int, h: int, w: int, dtype: torch.dtype) -> float:
    """The working set ``auto_tile`` budgets for (``tiling.working_set_bytes``, without its headroom)."""
    from vsrcli.pipeline.tiling import SizeRules, working_set_bytes

    return working_set_bytes(net, SizeRules.of(net), frames, h, w, dtype)


def section_memory(device: torch.device, dry: bool) -> None:
    sizes = [(2, 64, 64), (2, 64, 96)] if dry else [(14, 180, 320), (14, 360, 640), (14, 540, 960)]
    net = random_network("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}, device)
    print(f"{'window':>16} {'dtype':>5} {'peak MiB':>9} {'model MiB':>9} {'peak/model':>10}")
    for t, h, w in sizes:
        x = moving_clip(t, h, w, device)
        for name, dtype in DTYPES.items():
            if device.type == "cpu" and dtype == torch.float16:
                continue
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
            try:
                forward(net, x, dtype)
            except torch.cuda.OutOfMemoryError:
                print(f"{t}x{w}x{h:>5} {name:>5} {'OOM':>9}")
                continue
            peak = (
                (torch.cuda.max_memory_allocated(device) - base) / 2**20
                if device.type == "cuda"
                else math.nan
            )
            model = _estimate_bytes(net, t, h, w, dtype) / 2**20
            print(f"{f'{t}x{w}x{h}':>16} {name:>5} {peak:9.0f} {model:9.0f} {peak / model:10.2f}", flush=True)


class _CappedOnCpu(torch.nn.Module):
    """Dry run: the network raises the allocator's error above a pixel budget, as a capped GPU would."""

    def __init__(self, net: torch.nn.Module, max_pixels: int) -> None:
        super().__init__()
        self.net, self.max_pixels = net, max_pixels
        for key in ("scale", "min_size", "size_multiple", "min_frames", "mid_channels"):
            setattr(self, key, getattr(net, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] > self.max_pixels:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return self.net(x)


def section_oom(device: torch.device, dry: bool) -> None:
    from vsrcli.pipeline.tiling import SizeRules, restore_window

    t, h, w = (2, 128, 128) if dry else (14, 720, 1280)
    net: torch.nn.Module = random_network("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}, device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        total = torch.cuda.get_device_properties(index).total_memory
        cap = 16 * 2**30  # the window needs far more untiled; tiles of 360 px fit
        torch.cuda.set_per_process_memory_fraction(cap / total, index)
    else:
        net = _CappedOnCpu(net, max_pixels=64 * 64)
    rules = SizeRules.of(net)
    x = moving_clip(t, h, w, torch.device("cpu"))
    tried: list[int] = []
    t0 = time.perf_counter()
    try:
        out, tile = restore_window(
            net,
            x,
            rules=rules,
            device=device,
            dtype=torch.float16 if device.type == "cuda" else torch.float32,
            tile=None,
            tile_overlap=16,
            keep=slice(0, 1),
            on_retry=tried.append,
        )
        print(
            f"  window {t}x{w}x{h}: OOM back-off tried tiles {tried}, worked at {tile} "
            f"in {time.perf_counter() - t0:.1f} s; output {tuple(out.shape)}, "
            f"finite {bool(out.isfinite().all())}"
        )
    finally:
        if device.type == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0, index)
    if not tried:
        print("  no OOM happened: the cap was too generous for this device")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on any device (CPU-safe)")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    global _dry
    _dry = args.dry_run
    if device.type != "cuda" and not args.dry_run:
        print("no CUDA device: use --dry-run (toy sizes) or run on a GPU machine", file=sys.stderr)
        return 2
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        print(f"device: cpu (dry run), torch {torch.__version__}")
    sections: dict[str, Callable[[torch.device, bool], None]] = {
        "precision": section_precision,
        "speed": section_speed,
        "pipeline": section_pipeline,
        "memory": section_memory,
        "oom": section_oom,
    }
    start = time.perf_counter()
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        print(f"\n== {name}", flush=True)
        sections[name](device, args.dry_run)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
