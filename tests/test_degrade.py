"""Degradations: BI is MATLAB's imresize bit for bit, BD follows the BasicVSR protocol, DUF-BD matches
DUF's data, and the random ones (noise, blur, compression) are seeded and reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsrcli import degrade
from vsrcli.errors import UsageError
from vsrcli.io.frames import read_folder
from vsrcli.metrics import psnr


@pytest.fixture(scope="module")
def calendar_gt(shared_data):
    return read_folder(shared_data / "Vid4_calendar" / "GT")


def _smooth_frames(t: int = 3, h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth moving colour gradients: realistic enough for codecs and blur tests."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for i in range(t):
        r = 128 + 100 * np.sin((xx + 2 * i) / 9.0)
        g = 128 + 100 * np.cos((yy - i) / 7.0)
        b = 128 + 60 * np.sin((xx + yy + 3 * i) / 11.0)
        frames.append(np.stack([r, g, b], axis=-1))
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


# ---- BI


def test_bi_reproduces_official_vid4_bix4_bit_for_bit(shared_data, calendar_gt):
    official = read_folder(shared_data / "Vid4_calendar" / "BIx4")
    ours = degrade.bi_downsample(calendar_gt, 4)
    assert ours.shape == official.shape == (41, 144, 180, 3)
    assert ours.dtype == np.uint8
    assert np.array_equal(ours, official)


def test_imresize_matches_hand_computed_matlab_weights_for_x2_upscaling():
    # MATLAB, x2, first output pixel: u = 0.75; the cubic weights over the (mirrored) inputs give
    # 1.09375 a - 0.09375 b
    x = torch.tensor([[[[10.0, 50.0, 20.0, 30.0]]]], dtype=torch.float64)
    y = degrade.imresize_matlab(x, 2)
    assert y.shape == (1, 1, 2, 8)
    assert y[0, 0, 0, 0].item() == pytest.approx(1.09375 * 10 - 0.09375 * 50, abs=1e-12)


def test_imresize_is_float_batched_and_keeps_constants():
    x = torch.full((2, 3, 3, 37, 50), 0.3)
    y = degrade.imresize_matlab(x, 0.25)
    assert y.shape == (2, 3, 3, 10, 13)  # ceil(37/4), ceil(50/4) as MATLAB
    assert torch.allclose(y, torch.full_like(y, 0.3), atol=1e-6)
    z = torch.rand(1, 3, 16, 16)
    assert not torch.equal(
        degrade.imresize_matlab(z, 0.5) * 255, torch.round(degrade.imresize_matlab(z, 0.5) * 255)
    )


def test_imresize_caches_its_weight_matrices():
    x = torch.rand(1, 3, 20, 24)
    degrade.imresize_matlab(x, 0.5)
    key = (20, 10, 0.5, str(torch.float32), "cpu")
    first = degrade._TORCH_WEIGHTS[key]
    degrade.imresize_matlab(torch.rand(4, 3, 20, 24), 0.5)
    assert degrade._TORCH_WEIGHTS[key] is first


# ---- BD


def test_bd_kernel_is_12_taps_for_sigma_1_6():
    assert degrade._bd_kernel_size(1.6) == 12
    k = degrade.gaussian_kernel1d(12, 1.6)
    assert k.sum() == pytest.approx(1.0)
    assert np.allclose(k, k[::-1])


def test_bd_samples_from_offset_1_with_the_matlab_anchor():
    # On a ramp f(x) = 2x the blur is the ramp at the kernel centre: pixel 1 + 4j, and the 12-tap kernel's
    # centre lies half a pixel further, so the interior samples are 2 * (4j + 1.5) = 8j + 3.
    ramp = torch.arange(64, dtype=torch.float64).mul(2).expand(1, 3, 16, 64).clone()
    y = degrade.bd_blur(ramp, 4, 1.6, "basicvsr")
    assert y.shape == (1, 3, 4, 16)
    interior = y[0, 0, 0, 2:-2]
    assert torch.allclose(interior, 8 * torch.arange(2, 14, dtype=torch.float64) + 3, atol=1e-9)


def test_duf_bd_samples_from_offset_0_centred():
    ramp = torch.arange(64, dtype=torch.float64).mul(2).expand(1, 3, 16, 64).clone()
    y = degrade.bd_blur(ramp, 4, 1.6, "duf")
    assert torch.allclose(y[0, 0, 0, 2:-2], 8 * torch.arange(2, 14, dtype=torch.float64), atol=1e-9)


def test_bd_uint8_rounds_half_up_and_keeps_size_rules():
    frames = np.full((2, 40, 44, 3), 77, dtype=np.uint8)
    out = degrade.bd_downsample(frames)
    assert out.shape == (2, 10, 11, 3) and out.dtype == np.uint8
    assert (out == 77).all()
    assert degrade._tensor_to_uint8_half_up(
        torch.tensor([[[2.5]], [[3.5]], [[0.49]]]).reshape(3, 1, 1)
    ).ravel().tolist() == [3, 4, 0]


def test_duf_bd_matches_the_published_vid4_frames_within_two_levels(shared_data, calendar_gt):
    official = read_folder(shared_data / "Vid4_calendar" / "BDx4_DUF")
    ours = degrade.bd_downsample_duf(calendar_gt)
    assert ours.shape == official.shape
    assert np.abs(ours.astype(int) - official).max() <= 2


# ---- noise & blur


def test_noise_is_float_unclipped_and_has_the_requested_sigma():
    x = torch.full((2, 5, 3, 64, 64), 0.02)
    y = degrade.add_gaussian_noise(x, 25, generator=torch.Generator().manual_seed(1))
    assert y.dtype == torch.float32
    assert y.min() < 0  # not clipped
    assert (y - x).std().item() * 255 == pytest.approx(25, rel=0.02)


def test_noise_is_reproducible_and_takes_a_sigma_per_batch_item():
    x = torch.zeros(2, 3, 64, 64)
    a = degrade.add_gaussian_noise(x, torch.tensor([0.0, 50.0]), generator=torch.Generator().manual_seed(3))
    b = degrade.add_gaussian_noise(x, torch.tensor([0.0, 50.0]), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert a[0].abs().max() == 0
    assert a[1].std().item() * 255 == pytest.approx(50, rel=0.03)


def test_gaussian_blur_keeps_constants_and_smooths():
    x = torch.full((1, 3, 20, 20), 0.4)
    assert torch.allclose(degrade.gaussian_blur(x, 2.0), x, atol=1e-6)
    noisy = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert degrade.gaussian_blur(noisy, 2.0).std() < noisy.std() / 2


def test_motion_kernel_is_normalised_seeded_and_random():
    k1 = degrade.motion_kernel(15, generator=torch.Generator().manual_seed(5))
    k2 = degrade.motion_kernel(15, generator=torch.Generator().manual_seed(5))
    k3 = degrade.motion_kernel(15, generator=torch.Generator().manual_seed(6))
    assert k1.shape == (15, 15) and k1.sum() == pytest.approx(1.0)
    assert np.array_equal(k1, k2) and not np.array_equal(k1, k3)
    assert (k1 > 0).sum() > 5  # a trajectory, not a point
    y = degrade.motion_blur(torch.rand(2, 3, 24, 24), 15, generator=torch.Generator().manual_seed(5))
    assert y.shape == (2, 3, 24, 24)


def test_temporal_average_blur_averages_consecutive_frames():
    x = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 3, 4, 4)
    y = degrade.temporal_average_blur(x, 3)
    assert y.shape == x.shape
    assert y[:, 0, 0, 0].tolist() == pytest.approx([1 / 3, 1, 2, 3, 11 / 3])


# ---- compression


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_compression_round_trip_keeps_frames_and_loses_detail(codec):
    frames = _smooth_frames(5, 46, 63)  # odd width: padded for 4:2:0 and cropped back
    light = degrade.compress(frames, codec, crf=18, preset="ultrafast")
    heavy = degrade.compress(frames, codec, crf=45, preset="ultrafast")
    assert light.shape == heavy.shape == frames.shape
    assert light.dtype == np.uint8
    q_light = np.mean([psnr(a, b) for a, b in zip(light, frames, strict=True)])
    q_heavy = np.mean([psnr(a, b) for a, b in zip(heavy, frames, strict=True)])
    assert 28 < q_light < 100
    assert q_heavy < q_light


def test_compression_is_reproducible():
    frames = _smooth_frames(3)
    assert np.array_equal(degrade.compress(frames, "h264", 30), degrade.compress(frames, "h264", 30))


# ---- --degrade


@pytest.mark.parametrize(
    "spec, scale, kind",
    [
        ("bi", 4, "bi"),
        ("BD", 4, "bd"),
        ("bd:2.0", 4, "bd"),
        ("bd-duf", 4, "bd-duf"),
        ("noise:25", 1, "noise"),
        ("blur:gauss:2.0", 1, "blur"),
        ("blur:motion:11", 1, "blur"),
        ("blur:temporal:3", 1, "blur"),
        ("h264:35", 1, "compress"),
        ("hevc:35", 1, "compress"),
        ("none", 1, "none"),
    ],
)
def test_parse_degradation_specs(spec, scale, kind):
    d = degrade.parse_degradation(spec)
    assert (d.scale, d.kind) == (scale, kind)
    assert d.name


@pytest.mark.parametrize(
    "spec", ["", "bicubic", "noise", "noise:abc", "noise:-1", "blur:motion:4", "h264:99", "bi:3"]
)
def test_parse_degradation_rejects_nonsense(spec):
    with pytest.raises(UsageError):
        degrade.parse_degradation(spec)


def test_degradation_apply_shapes_and_types():
    gt = _smooth_frames(3, 32, 40)
    assert degrade.parse_degradation("bi").apply(gt).shape == (3, 8, 10, 3)
    assert degrade.parse_degradation("bd").apply(gt).shape == (3, 8, 10, 3)
    assert degrade.parse_degradation("bi", scale=2).apply(gt).shape == (3, 16, 20, 3)
    noisy = degrade.parse_degradation("noise:30").apply(gt)
    assert noisy.dtype == np.float32 and noisy.shape == gt.shape
    for spec in ("blur:gauss:1.5", "blur:motion", "blur:temporal", "h264:30", "none"):
        out = degrade.parse_degradation(spec).apply(gt)
        assert out.dtype == np.uint8 and out.shape == gt.shape


def test_degradation_is_seeded_per_clip_key():
    gt = _smooth_frames(2, 32, 32)
    d = degrade.parse_degradation("noise:20", seed=7)
    assert np.array_equal(d.apply(gt, key="a"), d.apply(gt, key="a"))
    assert not np.array_equal(d.apply(gt, key="a"), d.apply(gt, key="b"))
    other = degrade.parse_degradation("noise:20", seed=8)
    assert not np.array_equal(d.apply(gt, key="a"), other.apply(gt, key="a"))
