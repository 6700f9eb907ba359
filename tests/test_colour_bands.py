"""High-bit-depth RGB -> YUV in row bands on threads gives exactly the single-threaded planes."""

from __future__ import annotations

import numpy as np
import pytest

from vsrcli.io import colour


def whole(rgb: np.ndarray, sx: int, sy: int, gray: bool, **tags: str) -> list[np.ndarray]:
    y, u, v = colour.rgb_to_yuv(rgb, bits=10, gray=gray, **tags)
    if u is None or v is None:
        return [y]
    return [y, colour.subsample(u, sx, sy), colour.subsample(v, sx, sy)]


@pytest.mark.parametrize("height", [1, 63, 200, 331])
@pytest.mark.parametrize("sx, sy, gray", [(2, 2, False), (2, 1, False), (1, 1, False), (2, 2, True)])
@pytest.mark.parametrize("workers", [1, 3, 4])
def test_bands_equal_the_whole_frame(height, sx, sy, gray, workers, monkeypatch):
    monkeypatch.setattr(colour, "MIN_BAND_ROWS", 16)  # small frames still split into several bands
    rng = np.random.default_rng(height)
    rgb = rng.integers(0, 65536, (height, 45, 3), dtype=np.uint16)
    tags = {"matrix": "bt2020nc", "color_range": "tv"}
    got = colour.rgb_to_planes(rgb, bits=10, sx=sx, sy=sy, gray=gray, workers=workers, **tags)
    expected = whole(rgb, sx, sy, gray, **tags)
    assert len(got) == len(expected) == (1 if gray else 3)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
