"""What vsrcli's malloc tuning (``vsrcli/allocator.py``) buys: the same commands with glibc's defaults
(``VSRCLI_MALLOC=system``) and tuned, alternating so that a busy machine slows both alike.

Prints wall, user and system seconds of each run and the best of ``--repeats`` per setting. System time is
where the page faults of freshly mapped frame buffers show.

Usage:
  python benchmarks/allocator.py [--repeats 3] [--case x4 --case bicubic]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = {
    # the shipped default x4 model on 24 frames of 320x180
    "x4": ["upscale", str(DATA / "REDS_LR_sample/BasicVSRpp_demo_000"), "--end", "24", "-o", "{out}/x4"],
    # the I/O floor of issue 19: 96 frames of 640x360 -> 2560x1440, libx264 veryfast CRF 18
    "bicubic": [
        "upscale",
        str(DATA / "sample_videos/moviepy/chaplin.mp4"),
        "--model",
        "bicubic",
        "--end",
        "96",
        "--codec",
        "libx264",
        "--preset",
        "veryfast",
        "--crf",
        "18",
        "-o",
        "{out}/bicubic.mp4",
    ],  # fmt: skip
    # the shipped default denoiser on 24 frames of 320x180
    "denoise": [
        "denoise",
        str(DATA / "REDS_LR_sample/BasicVSRpp_demo_000"),
        "--end",
        "24",
        "--sigma",
        "25",
        "-o",
        "{out}/dn",
    ],  # fmt: skip
}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall, user and system seconds of one child run; fails loudly on error."""
    before = os.times()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.strip()}")
    return wall, after.children_user - before.children_user, after.children_system - before.children_system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: x4 and bicubic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/vsrcli-allocator-bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    for case in args.case or ["x4", "bicubic"]:
        cmd = [sys.executable, "-m", "vsrcli"] + [a.format(out=args.out) for a in CASES[case]]
        cmd += ["--overwrite", "--quiet", "--device", "cpu"]
        best: dict[str, tuple[float, float, float]] = {}
        for r in range(args.repeats):
            for name, value in (("glibc defaults", "system"), ("tuned", "")):
                env = {**os.environ, "VSRCLI_MALLOC": value}
                wall, user, system = timed(cmd, env)
                print(f"  {case} run {r + 1} {name:14s} {wall:6.2f} s, {user:.2f} user, {system:.2f} sys")
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, user, system)
        base, tuned = best["glibc defaults"], best["tuned"]
        print(
            f"{case}: best of {args.repeats}: glibc defaults {base[0]:.2f} s ({base[2]:.2f} s system), "
            f"tuned {tuned[0]:.2f} s ({tuned[2]:.2f} s system): {base[0] / tuned[0]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
