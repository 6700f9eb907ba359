"""Peak memory of `restore_video` against clip length: a 10x longer clip must not raise peak RSS by > 10%.

Generates two synthetic clips (N and factor*N frames, textured, moving) with the io writer, then restores each
in a fresh process with a cheap recurrent x4 stand-in network (the pipeline's buffers, decoder and encoder are
what is measured; a real network adds the same per-window amount to both runs) and reports each child's peak
RSS.

    PYTHONPATH=src python benchmarks/pipeline_memory.py --frames 60 --factor 10 --size 180x320
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(path: Path, frames: int, height: int, width: int) -> None:
    """Stream a moving textured pattern into a lossless-ish H.264 file without holding the clip in memory."""
    from fractions import Fraction

    import numpy as np

    from vsrcli.io.video import VideoWriter

    rng = np.random.default_rng(0)
    canvas = (rng.random((height + 64, width + 64 + frames, 3)) * 255).astype(np.uint8)
    canvas = ((canvas[:, :-1].astype(np.uint16) + canvas[:, 1:]) // 2).astype(np.uint8)
    with VideoWriter(path, source=None, width=width, height=height, fps=Fraction(25), codec="libx264", crf=12,
                     preset="ultrafast") as writer:  # fmt: skip
        for t in range(0, frames, 16):
            n = min(16, frames - t)
            batch = np.stack(
                [canvas[(t + i) % 32 : (t + i) % 32 + height, t + i : t + i + width] for i in range(n)]
            )
            writer.write(batch, None)


def child(src: Path, dst: Path, chunk: int, overlap: int) -> None:
    """Restore one clip and print the peak RSS (KiB) of this process."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from vsrcli.pipeline import RestoreOptions, restore_video

    torch.set_num_threads(1)

    class CheapRecurrentX4(nn.Module):
        scale, min_size, size_multiple, min_frames = 4, 16, 1, 1

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(6, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs, state = [], x[:, 0]
            for i in range(x.shape[1]):
                state = 0.5 * state + 0.5 * x[:, i]
                outs.append(
                    F.interpolate(x[:, i] + 0.1 * self.conv(torch.cat([x[:, i], state], 1)), scale_factor=4)
                )
            return torch.stack(outs, 1)

    t0 = time.monotonic()
    net = CheapRecurrentX4()
    options = RestoreOptions(model=net, chunk=chunk, overlap=overlap, preset="ultrafast", overwrite=True)
    report = restore_video(src, dst, options=options)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"frames": report.frames, "peak_rss_kib": peak, "seconds": round(time.monotonic() - t0, 1)}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--size", default="180x320", help="HxW of the input")
    parser.add_argument("--chunk", type=int, default=40)
    parser.add_argument("--overlap", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.chunk, args.overlap)
        return
    h, w = (int(v) for v in args.size.split("x"))
    results = {}
    with tempfile.TemporaryDirectory(prefix="vsrcli-mem-") as tmp:
        for n in (args.frames, args.frames * args.factor):
            src, dst = Path(tmp) / f"in{n}.mp4", Path(tmp) / f"out{n}.mp4"
            make_clip(src, n, h, w)
            cmd = [sys.executable, __file__, "--chunk", str(args.chunk), "--overlap", str(args.overlap),
                   "--child", str(src), str(dst)]  # fmt: skip
            out = (
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            results[n] = json.loads(out)
            print(f"{n:6d} frames {h}x{w} -> x4: peak RSS {results[n]['peak_rss_kib'] / 1024:.1f} MiB "
                  f"({results[n]['seconds']} s)", flush=True)  # fmt: skip
    short, long = results[args.frames]["peak_rss_kib"], results[args.frames * args.factor]["peak_rss_kib"]
    print(f"growth for {args.factor}x the frames: {100 * (long - short) / short:+.1f}% (limit +10%)")


if __name__ == "__main__":
    main()
