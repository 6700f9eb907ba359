"""The I/O floor of issue 19: ``vsrcli upscale --model bicubic`` against the ffmpeg command line.

Both decode the first 96 frames, upscale x4 with bicubic and encode with libx264 veryfast CRF 18 (yuv420p,
audio copied), so the difference is what vsrcli's data path costs around a network that costs nothing.
Runs alternate (ffmpeg, vsrcli, ffmpeg, vsrcli, ...) so that a busy machine slows both alike; each figure is
the best of ``--repeats``. The ffmpeg CLI is needed only here (``apt-get install ffmpeg``); vsrcli never uses
it.

``--floor`` also times, in the same rounds, the two costs no torch-based pipeline can avoid: libx264 alone
(the same settings, through PyAV, on the upscaled frames already in memory as yuv420p) and a bare
``python -c "import torch"``; their sum over ffmpeg's time is the lowest ratio such a pipeline could reach.
It also measures the CPU time of the two steps a pipeline whose models take RGB adds (RGB -> yuv420p at
the output size, swscale; PyTorch's integer bicubic x4) and prints a lower bound for such a pipeline: the
import, then all that CPU work spread perfectly over every core.

Usage:
  PYTHONPATH=src python benchmarks/io_floor.py [IN] [--frames 96] [--repeats 2] [--floor]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_INPUT = Path(__file__).resolve().parents[2] / "shared/data/sample_videos/moviepy/chaplin.mp4"


def ffmpeg_command(src: Path, out: Path, frames: int) -> list[str]:
    """The issue's reference command, verbatim apart from the paths."""
    return [
        "ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", str(frames),
        "-vf", "scale=iw*4:ih*4:flags=bicubic", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
        "-pix_fmt", "yuv420p", "-c:a", "copy", str(out),
    ]  # fmt: skip


def vsrcli_command(src: Path, out: Path, frames: int) -> list[str]:
    return [
        sys.executable, "-m", "vsrcli", "upscale", str(src), "-o", str(out), "--model", "bicubic",
        "--end", str(frames), "--codec", "libx264", "--preset", "veryfast", "--crf", "18",
        "--overwrite", "--quiet", "--device", "cpu",
    ]  # fmt: skip


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child) of one run; fails loudly on error."""
    before = os.times()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.strip()}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


ENCODE_ONLY = """
import sys, time, av
from fractions import Fraction
src, frames = sys.argv[1], int(sys.argv[2])
planes = []
with av.open(src) as container:
    stream = container.streams.video[0]
    for frame in container.decode(stream):
        planes.append(frame.reformat(width=frame.width * 4, height=frame.height * 4, format="yuv420p",
                                     interpolation="BICUBIC"))
        if len(planes) == frames:
            break
    rate = stream.average_rate or Fraction(25)
start, cpu0 = time.perf_counter(), time.process_time()
with av.open(sys.argv[3], "w") as out:
    video = out.add_stream("libx264", rate=rate)
    video.width, video.height, video.pix_fmt = planes[0].width, planes[0].height, "yuv420p"
    video.options = {"preset": "veryfast", "crf": "18"}
    video.thread_type = "AUTO"
    for frame in planes:
        frame.pts = None
        out.mux(video.encode(frame))
    out.mux(video.encode())
print(time.perf_counter() - start, time.process_time() - cpu0)
# the conversion an RGB pipeline adds in front of the encoder: RGB -> yuv420p at the output size
rgb = [frame.reformat(format="rgb24") for frame in planes]
cpu0 = time.process_time()
for frame in rgb:
    frame.reformat(format="yuv420p")
print(time.process_time() - cpu0)
"""

BICUBIC_ONLY = """
import sys, time, av, torch
import torch.nn.functional as F
src, frames = sys.argv[1], int(sys.argv[2])
rgb = []
with av.open(src) as container:
    for frame in container.decode(container.streams.video[0]):
        rgb.append(torch.from_numpy(frame.to_ndarray(format="rgb24")).unsqueeze(0).permute(0, 3, 1, 2))
        if len(rgb) == frames:
            break
cpu0 = time.process_time()
for x in rgb:  # vsrcli's integer path (BicubicUpsampler.forward_codes)
    F.interpolate(x, scale_factor=4, mode="bicubic", antialias=True).permute(0, 2, 3, 1).contiguous()
print(time.process_time() - cpu0)
"""


def child(script: str, *args: str) -> list[float]:
    """The numbers a timing script prints (its work timed inside it, set-up excluded)."""
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"timing run failed: {done.stderr.strip()}")
    return [float(v) for v in done.stdout.split()]


def encode_only(src: Path, out: Path, frames: int) -> tuple[float, float, float]:
    """libx264 alone: wall and CPU seconds (frames decoded and upscaled beforehand, untimed), then the CPU
    seconds of converting the same frames from RGB to yuv420p."""
    wall, cpu, convert = child(ENCODE_ONLY, str(src), str(frames), str(out))
    return wall, cpu, convert


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--floor", action="store_true", help="also time x264 alone and `import torch`")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("the ffmpeg command line is needed for the comparison: apt-get install ffmpeg", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"no input video at {args.input}", file=sys.stderr)
        return 2
    print(f"{args.input.name}: first {args.frames} frames, bicubic x4, libx264 veryfast CRF 18; load avg "
          f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")  # fmt: skip
    best = {"ffmpeg": (float("inf"), 0.0), "vsrcli": (float("inf"), 0.0)}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, make in (("ffmpeg", ffmpeg_command), ("vsrcli", vsrcli_command)):
                wall, cpu = timed(make(args.input, Path(tmp) / f"{name}{i}.mp4", args.frames))
                print(f"  run {i + 1} {name:<6} {wall:7.2f} s wall, {cpu:7.2f} s CPU", flush=True)
                if wall < best[name][0]:
                    best[name] = (wall, cpu)
            if args.floor:
                x264_out = Path(tmp) / f"x264-{i}.mp4"
                encode, encode_cpu, convert = encode_only(args.input, x264_out, args.frames)
                imported, _ = timed([sys.executable, "-c", "import torch"])
                (bicubic,) = child(BICUBIC_ONLY, str(args.input), str(args.frames))
                print(
                    f"  run {i + 1} x264 alone {encode:5.2f} s ({encode_cpu:.2f} s CPU), import torch "
                    f"{imported:5.2f} s, RGB -> YUV {convert:.2f} s CPU, bicubic {bicubic:.2f} s CPU",
                    flush=True,
                )
                for key, value in (
                    ("x264", (encode, encode_cpu)),
                    ("torch", (imported, 0.0)),
                    ("convert", (convert, 0.0)),
                    ("bicubic", (bicubic, 0.0)),
                ):
                    best[key] = min(best.get(key, (float("inf"), 0.0)), value)
    (fw, fc), (vw, vc) = best["ffmpeg"], best["vsrcli"]
    print(f"ffmpeg CLI  {fw:.2f} s wall ({fc:.2f} s CPU), best of {args.repeats}")
    print(f"vsrcli      {vw:.2f} s wall ({vc:.2f} s CPU), best of {args.repeats}")
    print(f"ratio       {vw / fw:.2f}x wall, {vc / fc:.2f}x CPU (bar: 1.5x wall)")
    if args.floor:
        (encode, encode_cpu), imported = best["x264"], best["torch"][0]
        convert, bicubic = best["convert"][0], best["bicubic"][0]
        cores = os.cpu_count() or 1
        print(
            f"floor       x264 alone {encode:.2f} s + import torch {imported:.2f} s = "
            f"{(encode + imported) / fw:.2f}x ffmpeg's time, best of {args.repeats}"
        )
        # An RGB pipeline's CPU work after the import, spread perfectly over every core: a lower bound.
        work = encode_cpu + convert + bicubic
        bound = imported + work / cores
        print(
            f"RGB bound   import torch {imported:.2f} s + (x264 {encode_cpu:.2f} + RGB -> YUV {convert:.2f}"
            f" + bicubic {bicubic:.2f} s CPU) / {cores} cores = {bound:.2f} s = {bound / fw:.2f}x ffmpeg's"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
