"""Blind noise-level estimate for ``vsrcli denoise --sigma auto``.

Donoho's robust estimator: the finest diagonal wavelet detail of a natural image is mostly noise, and the
median absolute value of that detail divided by 0.6745 is the noise standard deviation of Gaussian noise.
Computed per colour channel with an orthonormal Haar step, on a few frames, reported on the 0-255 scale.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MAD_TO_SIGMA = 0.6745
NOISE_FRAMES = 8  # `--sigma auto` looks at the first frames of a video


def estimate_sigma_frame(frame: np.ndarray) -> float:
    """Noise standard deviation (0-255 scale) of one (H, W, 3) or (H, W) uint8/uint16 frame."""
    img = frame.astype(np.float32)
    if frame.dtype == np.uint16:
        img *= 255.0 / 65535.0
    if img.ndim == 2:
        img = img[:, :, None]
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return 0.0
    g = img[:h, :w]
    # orthonormal Haar HH band per channel: (a - b - c + d) / 2 keeps the noise sigma unchanged
    hh = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / MAD_TO_SIGMA)


def estimate_sigma(frames: Iterable[np.ndarray]) -> float:
    """Median of the per-frame estimates over the given frames (pass a handful, spread over the clip)."""
    values = [estimate_sigma_frame(f) for f in frames]
    if not values:
        raise ValueError("no frames to estimate the noise level from")
    return float(np.median(values))
