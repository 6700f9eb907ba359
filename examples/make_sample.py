"""Generate examples/rocket_lr.mp4: a slow camera move over a public-domain photo, BI-downscaled x4.

The photo is scikit-image's `rocket` (SpaceX, released into the public domain), so the repository holds no
fetched media. Run from the repository root (needs the test extra for scikit-image):

    python examples/make_sample.py

It writes a 128x72 H.264 clip of 48 frames at 24 fps, plus the 512x288
ground truth frames in examples/rocket_gt/ (git-ignored) for a quick quality check.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
FRAMES, FPS = 48, 24
HR_W, HR_H = 512, 288


def camera_path(t: float) -> tuple[float, float, float, float]:
    """Smooth pan, gentle zoom and a small roll: centre x, centre y (pixels), zoom, angle (radians)."""
    ease = 0.5 - 0.5 * math.cos(math.pi * t)
    return 250.0 + 130.0 * ease, 200.0 - 40.0 * ease, 1.0 + 0.15 * ease, 0.03 * math.sin(math.pi * t)


def render(image: torch.Tensor, t: float) -> torch.Tensor:
    """One HR frame: an affine view of the photo, sampled bicubically from a 2x upsampled copy."""
    _, _, h, w = image.shape
    cx, cy, zoom, angle = camera_path(t)
    ys, xs = torch.meshgrid(
        torch.arange(HR_H, dtype=torch.float64) - (HR_H - 1) / 2,
        torch.arange(HR_W, dtype=torch.float64) - (HR_W - 1) / 2,
        indexing="ij",
    )
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    src_x = cx + cos * xs - sin * ys
    src_y = cy + sin * xs + cos * ys
    grid = torch.stack([src_x / (w - 1) * 2 - 1, src_y / (h - 1) * 2 - 1], dim=-1)[None]
    out = F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection", align_corners=True)
    return out.clamp(0, 255)


def main() -> None:
    from skimage.data import rocket

    from vsrcli.degrade import bi_downsample
    from vsrcli.io.frames import write_image
    from vsrcli.io.video import VideoWriter

    photo = torch.from_numpy(rocket()).permute(2, 0, 1)[None].double()
    hr = np.stack(
        [render(photo, i / (FRAMES - 1)).round().byte()[0].permute(1, 2, 0).numpy() for i in range(FRAMES)]
    )
    lr = bi_downsample(hr, scale=4)
    gt_dir = HERE / "rocket_gt"
    gt_dir.mkdir(exist_ok=True)
    for i, frame in enumerate(hr):
        write_image(gt_dir / f"{i:08d}.png", frame)
    out = HERE / "rocket_lr.mp4"
    with VideoWriter(
        out,
        source=None,
        width=lr.shape[2],
        height=lr.shape[1],
        fps=Fraction(FPS),
        time_base=Fraction(1, FPS),
        codec="libx264",
        crf=12,
        preset="slow",
    ) as writer:
        writer.write(lr, list(range(FRAMES)))
    print(f"wrote {out} ({out.stat().st_size} bytes, {FRAMES} frames of {lr.shape[2]}x{lr.shape[1]})")


if __name__ == "__main__":
    main()
