"""How far chunked restoration is from whole-clip restoration, per temporal overlap (and cross-fade).

Runs ``restore_video`` on a real low-resolution clip once as one window (the reference) and then in chunks of
``--chunk`` frames with each overlap, and reports the PSNR between chunked and whole-clip outputs (RGB, 0-255,
over all frames, and the worst frame), next to the whole-clip output's PSNR against the ground truth and the
PSNR of frames restored one by one (no temporal context at all), which says how much the network uses time.

    PYTHONPATH=src python benchmarks/chunk_seams.py --clip ../shared/data/Vid4_calendar/BIx4 \
        --gt ../shared/data/Vid4_calendar/GT --chunk 10 --overlaps 0,2,4,6,8,10

Without trained weights the network is a randomly initialised BasicVSR++ (seeded): its propagation strength is
not that of a trained model, so the figures show the mechanism; re-run them once weights exist (``--model``).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main() -> None:
    import torch

    from vsrcli.io.frames import read_folder, write_image
    from vsrcli.pipeline import RestoreOptions, restore_video

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/Vid4_calendar/BIx4"))
    parser.add_argument("--gt", type=Path, default=Path("../shared/data/Vid4_calendar/GT"))
    parser.add_argument("--crop", default="", help="HxW crop of the LR frames (centre), to save time")
    parser.add_argument("--frames", type=int, default=0, help="use only the first N frames")
    parser.add_argument("--model", default="", help="zoo name or checkpoint; default: random BasicVSR++")
    parser.add_argument("--mid", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--overlaps", default="0,2,4,6,8,10")
    parser.add_argument("--fade", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lr = read_folder(args.clip)
    gt = read_folder(args.gt) if args.gt and args.gt.is_dir() else None
    if args.frames:
        lr = lr[: args.frames]
        gt = None if gt is None else gt[: args.frames]
    if args.crop:
        ch, cw = (int(v) for v in args.crop.split("x"))
        y0, x0 = (lr.shape[1] - ch) // 2, (lr.shape[2] - cw) // 2
        lr = lr[:, y0 : y0 + ch, x0 : x0 + cw]
        gt = None if gt is None else gt[:, 4 * y0 : 4 * (y0 + ch), 4 * x0 : 4 * (x0 + cw)]
    if args.model:
        model: object = args.model
    else:
        from vsrcli.models.arch import build_network

        torch.manual_seed(0)
        model = build_network("basicvsrpp", mid_channels=args.mid, num_blocks=args.blocks)
    results: dict[str, object] = {"clip": str(args.clip), "frames": len(lr), "lr_size": list(lr.shape[1:3])}
    with tempfile.TemporaryDirectory(prefix="vsrcli-seams-") as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i, frame in enumerate(lr):
            write_image(src / f"{i:08d}.png", frame)
        common = dict(model=model, tile=0, scene_detect=False, task="upscale")
        t0 = time.monotonic()
        restore_video(src, Path(tmp) / "whole", options=RestoreOptions(chunk=len(lr), overlap=0, **common))
        whole = read_folder(Path(tmp) / "whole")
        results["whole_seconds"] = round(time.monotonic() - t0, 1)
        if gt is not None:
            results["whole_vs_gt_psnr"] = round(psnr(whole, gt), 2)
            print(f"whole clip vs ground truth: {results['whole_vs_gt_psnr']:.2f} dB", flush=True)
        t0 = time.monotonic()
        restore_video(src, Path(tmp) / "alone", options=RestoreOptions(chunk=1, overlap=0, **common))
        alone = read_folder(Path(tmp) / "alone")
        results["no_context_vs_whole_psnr"] = round(psnr(alone, whole), 2)
        alone_db = results["no_context_vs_whole_psnr"]
        print(f"frames restored alone (no temporal context) vs whole clip: {alone_db:.2f} dB", flush=True)
        rows = []
        for overlap in (int(v) for v in args.overlaps.split(",")):
            out = Path(tmp) / f"o{overlap}"
            fade = min(args.fade, overlap)
            t0 = time.monotonic()
            options = RestoreOptions(chunk=args.chunk, overlap=overlap, fade=fade, **common)
            restore_video(src, out, options=options)
            chunked = read_folder(out)
            per_frame = [psnr(a, b) for a, b in zip(chunked, whole, strict=True)]
            row = {
                "chunk": args.chunk,
                "overlap": overlap,
                "fade": fade,
                "psnr_vs_whole": round(psnr(chunked, whole), 2),
                "worst_frame_psnr": round(min(per_frame), 2),
                "seconds": round(time.monotonic() - t0, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        results["rows"] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
