"""PNG frame writing: vsrcli's encoder (FFmpeg's, Paeth prediction, zlib level 1) against torchvision's
``encode_png`` at libpng's default level 6 (what vsrcli used before) and at level 1, back to back.

The frames are the REDS sample upscaled x4 with bicubic (1280x720, the size of a default `vsrcli upscale`
output), or ``--folder``'s images. Prints milliseconds and KiB per frame of each, best of ``--repeats``.

Usage:
  python benchmarks/png_write.py [--folder DIR] [--frames 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import encode_png as tv_encode_png

from vsrcli.io.frames import encode_png, read_folder

REDS = Path(__file__).resolve().parents[2] / "shared/data/REDS_LR_sample/BasicVSRpp_demo_000"


def frames_to_write(folder: Path | None, count: int) -> list[np.ndarray]:
    if folder is not None:
        return list(read_folder(folder, count))
    low = torch.from_numpy(read_folder(REDS, count)).permute(0, 3, 1, 2)
    up = F.interpolate(low.float(), scale_factor=4, mode="bicubic").round().clamp(0, 255).to(torch.uint8)
    return list(up.permute(0, 2, 3, 1).contiguous().numpy())


def torchvision_png(level: int) -> Callable[[np.ndarray], bytes]:
    def encode(rgb: np.ndarray) -> bytes:
        chw = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
        return bytes(tv_encode_png(chw, compression_level=level).numpy())

    return encode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    frames = frames_to_write(args.folder, args.frames)
    h, w = frames[0].shape[:2]
    encoders = {
        "vsrcli (FFmpeg png, paeth, level 1)": encode_png,
        "torchvision level 6 (before)": torchvision_png(6),
        "torchvision level 1": torchvision_png(1),
    }
    best: dict[str, float] = {}
    size: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, encode in encoders.items():
            t0 = time.perf_counter()
            total = sum(len(encode(f)) for f in frames)
            per_frame = (time.perf_counter() - t0) / len(frames)
            best[name] = min(best.get(name, float("inf")), per_frame)
            size[name] = total / len(frames) / 1024
    print(f"{len(frames)} frames of {w}x{h}, best of {args.repeats}, torch threads {torch.get_num_threads()}")
    base = best["torchvision level 6 (before)"]
    for name in encoders:
        ms, kib, speed = best[name] * 1000, size[name], base / best[name]
        print(f"  {name:38s} {ms:7.1f} ms/frame {kib:8.0f} KiB  {speed:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
