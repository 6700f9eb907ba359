"""PSNR/SSIM by the official protocol: float BT.601 Y with offset 16, uint8-rounded outputs, Wang et al. SSIM
(checked against scikit-image), PSNR against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vsrcli.metrics import psnr, rgb_to_y, ssim, to_uint8

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pair(seed: int = 0, h: int = 40, w: int = 52) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1) % 256
    a = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_rgb_to_y_is_bt601_with_offset_16_and_not_rounded():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 20, 30]]], dtype=np.uint8)
    y = rgb_to_y(px)
    assert y.dtype == np.float64
    assert y[0, 0] == pytest.approx(16.0)
    assert y[0, 1] == pytest.approx(235.0)
    assert y[0, 2] == pytest.approx(16 + 65.481)
    assert y[0, 3] == pytest.approx(16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255)
    assert y[0, 3] != round(y[0, 3])


def test_psnr_against_an_independent_computation():
    a, b = _pair()
    diff = a.astype(np.float64) - b.astype(np.float64)
    expected = 20 * math.log10(255) - 10 * math.log10(np.mean(diff**2))
    assert psnr(a, b) == pytest.approx(expected, abs=1e-10)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    expected_y = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert psnr(a, b, y_channel=True) == pytest.approx(expected_y, abs=1e-10)
    c = 4
    dc = diff[c:-c, c:-c]
    assert psnr(a, b, crop_border=c) == pytest.approx(10 * math.log10(255**2 / np.mean(dc**2)), abs=1e-10)


def test_psnr_of_one_grey_level_everywhere_and_of_identical_images():
    a = np.full((8, 8, 3), 100, dtype=np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255))
    assert psnr(a, a) == math.inf


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_rgb_matches_scikit_image(seed):
    a, b = _pair(seed)
    ref = skimage_metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-6)


def test_ssim_y_and_cropped_match_scikit_image():
    a, b = _pair(2)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ref_y = skimage_metrics.structural_similarity(rgb_to_y(a), rgb_to_y(b), **kw)
    assert ssim(a, b, y_channel=True) == pytest.approx(ref_y, abs=1e-6)
    ref_crop = skimage_metrics.structural_similarity(a[3:-3, 3:-3], b[3:-3, 3:-3], channel_axis=-1, **kw)
    assert ssim(a, b, crop_border=3) == pytest.approx(ref_crop, abs=1e-6)


def test_ssim_of_identical_images_is_one_and_lower_otherwise():
    a, b = _pair(3)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) < 0.99


def test_metrics_reject_mismatched_shapes():
    a, _ = _pair()
    with pytest.raises(ValueError):
        psnr(a, a[:-1])
    with pytest.raises(ValueError):
        ssim(a, a[:, :-1])


def test_to_uint8_clamps_scales_and_rounds_half_to_even():
    x = torch.tensor([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.9999, 1.3]).view(1, 7, 1).expand(3, 7, 1)
    out = to_uint8(x)
    assert out.shape == (7, 1, 3) and out.dtype == np.uint8
    assert out[:, 0, 0].tolist() == [0, 0, 0, 2, 2, 255, 255]


def test_to_uint8_keeps_leading_dims():
    assert to_uint8(torch.rand(2, 4, 3, 5, 6)).shape == (2, 4, 5, 6, 3)
