"""End-to-end seconds per frame of ``vsrcli upscale`` with two or more x4 models, back to back in one run.

Why: the own-models issue sets its speed bar end to end (decode, network, encode), per 320x180 frame, against
the turn-1 ``vsrcli-x4`` (``weights/basicvsrpp-c24n3-bix4-e2e9f494.safetensors``, kept in the repository).
Each model upscales the same frames of the REDS sample through the real command, in a fresh process, the
models alternating for ``--repeats`` rounds so that a load change on a shared machine hits every model alike;
each model's best round counts. The first round of each is also a warm-up of the disk cache. ``--input`` runs
another clip instead (the real-world bar is per 640x360 frame: ``--input
../shared/data/sample_videos/moviepy/chaplin.mp4``).

Usage:
  PYTHONPATH=src python benchmarks/x4_speed.py OLD NEW [MORE ...] [--frames 21] [--repeats 2]
      [--precision fp32] [--input CLIP] [-- EXTRA vsrcli upscale OPTIONS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REDS = DATA / "REDS_LR_sample" / "BasicVSRpp_demo_000"


def run_once(model: str, clip: Path, frames: int, precision: str, extra: list[str], out_dir: Path) -> float:
    out = out_dir / f"out-{abs(hash(model))}.mp4"
    cmd = [sys.executable, "-m", "vsrcli", "upscale", str(clip), "-o", str(out), "--model", model]
    cmd += ["--end", str(frames), "--precision", precision, "--overwrite", "--quiet", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{model}: vsrcli upscale failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def main() -> None:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--input", type=Path, default=REDS, help="clip to upscale (default: the REDS sample)")
    args = ap.parse_args(argv)
    best = {m: float("inf") for m in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for model in args.models:
                elapsed = run_once(model, args.input, args.frames, args.precision, extra, Path(tmp))
                best[model] = min(best[model], elapsed)
                print(
                    f"round {r + 1}: {model}: {elapsed:.1f} s ({elapsed / args.frames:.3f} s/frame)",
                    flush=True,
                )
    base = best[args.models[0]]
    print(
        f"\n{args.frames} frames of {args.input.name}, x4, {args.precision}, best of {args.repeats},"
        " end to end"
    )
    print("| model | s/frame | speed-up |\n| --- | ---: | ---: |")
    for model in args.models:
        print(f"| {model} | {best[model] / args.frames:.3f} | {base / best[model]:.2f}x |")


if __name__ == "__main__":
    main()
