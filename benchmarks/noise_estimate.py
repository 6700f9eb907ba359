"""How far `vsrcli denoise --sigma auto` is from the true noise level.

Adds Gaussian noise of known sigma to held-out clean clips, stores the result as 8-bit frames (what a video
file holds: clipped and rounded), and prints the estimator's answer and its error per clip and sigma.

    python benchmarks/noise_estimate.py scratch/heldout-davis scratch/heldout-vimeo --sigma 10 25 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vsrcli.io.frames import list_frames, read_image
from vsrcli.pipeline.noise import NOISE_FRAMES, estimate_sigma


def clips(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        found += sorted(p for p in root.iterdir() if p.is_dir() and list_frames(p))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path, help="folders of clip folders (clean frames)")
    parser.add_argument("--sigma", nargs="+", type=float, default=[10.0, 25.0, 50.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{'clip':28s} {'sigma':>6s} {'estimate':>9s} {'error':>7s}")
    errors: dict[float, list[float]] = {s: [] for s in args.sigma}
    clean_estimates = []
    for clip in clips(args.roots):
        frames = np.stack([read_image(p) for p in list_frames(clip)[:NOISE_FRAMES]]).astype(np.float64)
        clean_estimates.append(estimate_sigma(frames.astype(np.uint8)))
        for sigma in args.sigma:
            noisy = np.clip(np.round(frames + rng.normal(0.0, sigma, frames.shape)), 0, 255).astype(np.uint8)
            est = estimate_sigma(noisy)
            errors[sigma].append(est - sigma)
            print(f"{clip.name:28s} {sigma:6.1f} {est:9.2f} {est - sigma:+7.2f}")
    print()
    for sigma, errs in errors.items():
        e = np.asarray(errs)
        print(
            f"sigma {sigma:4.0f}: mean error {e.mean():+.2f}, mean |error| {np.abs(e).mean():.2f}, "
            f"max |error| {np.abs(e).max():.2f} over {len(e)} clips"
        )
    print(f"clean clips (no noise added): mean estimate {np.mean(clean_estimates):.2f}")


if __name__ == "__main__":
    main()
