"""The motion-compensated second pass of the shipped denoiser (models/layers/prefilter.py)."""

from __future__ import annotations

import pytest
import torch

from vsrcli.models.arch import build_network
from vsrcli.models.layers.prefilter import motion_compensated_average


class StillSpyNet(torch.nn.Module):
    """A flow network that sees no motion: every neighbour is aligned as it is."""

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        return ref.new_zeros(ref.shape[0], 2, *ref.shape[-2:])


def _noisy_still(frames: int, sigma: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(1, 3, 32, 32, generator=g).expand(frames, 3, 32, 32).clone()
    return clean, clean + torch.randn(clean.shape, generator=g) * sigma


def test_a_still_scene_averages_all_neighbours_and_reports_the_noise_left() -> None:
    sigma = 0.1
    clean, noisy = _noisy_still(7, sigma)
    level = torch.full((7, 1, 32, 32), sigma)
    average, left = motion_compensated_average(noisy, clean, level, StillSpyNet(), radius=2, strictness=0.35)
    # a frame with 2 neighbours each side averages 5 frames; the first has 2, the second 3 (both after it)
    counts = torch.tensor([3, 4, 5, 5, 5, 4, 3], dtype=torch.float32)
    torch.testing.assert_close(left[:, 0, 0, 0], sigma / counts.sqrt())
    residual = (average - clean).std(dim=(1, 2, 3))
    assert residual[3] < 0.6 * sigma  # 1/sqrt(5) = 0.45 of the input's noise
    assert (noisy - clean).std() > 0.9 * sigma


def test_neighbours_that_do_not_match_after_alignment_are_left_out() -> None:
    """A cut: frames 0-2 and 3-5 show different pictures. Across the cut the guides differ far more than the
    noise level, so no frame borrows from the other shot, and its noise level stays as it was on that side."""
    sigma = 0.05
    a, noisy_a = _noisy_still(3, sigma, seed=1)
    b, noisy_b = _noisy_still(3, sigma, seed=2)
    clean, noisy = torch.cat([a, b]), torch.cat([noisy_a, noisy_b])
    level = torch.full((6, 1, 32, 32), sigma)
    average, left = motion_compensated_average(noisy, clean, level, StillSpyNet(), radius=2, strictness=0.35)
    torch.testing.assert_close(left[2, 0, 0, 0], torch.tensor(sigma / 3**0.5), atol=1e-4, rtol=0)
    torch.testing.assert_close(left[3, 0, 0, 0], torch.tensor(sigma / 3**0.5), atol=1e-4, rtol=0)
    # frame 2 is the mean of frames 0-2 only
    torch.testing.assert_close(average[2], noisy[:3].mean(0), atol=1e-4, rtol=0)


TINY_DENOISER = {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": False, "extra_in_channels": 1}


def _denoiser(**extra: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network("basicvsrpp", **TINY_DENOISER, guided_head=True, **extra)


def test_the_second_pass_runs_at_inference_only() -> None:
    single = _denoiser().eval()
    double = _denoiser(prefilter_radius=2, prefilter_strictness=0.35).eval()
    with torch.no_grad():  # a head that reads the noise level (a fresh one starts close to the identity)
        single.conv_last.weight.normal_(0, 0.05)
    double.load_state_dict(single.state_dict())  # same weights: the radius is no tensor
    single.spynet = double.spynet = StillSpyNet()  # a fresh SPyNet's random flows would match nothing
    still = torch.rand(1, 1, 3, 256, 256) + 0.02 * torch.randn(1, 4, 3, 256, 256)
    x = torch.cat([still, torch.full((1, 4, 1, 256, 256), 0.1)], dim=2)
    with torch.no_grad():
        one, two = single(x), double(x)
        assert two.shape == one.shape
        assert (two - one).abs().max() > 1e-4
        double.train()
        torch.testing.assert_close(double(x), one)  # training learns the single pass


@pytest.mark.parametrize("args", [{"is_low_res_input": True}, {"extra_in_channels": 0}])
def test_the_second_pass_needs_a_noise_conditioned_restoration_network(args: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="prefilter_radius"):
        build_network("basicvsrpp", **{**TINY_DENOISER, **args}, prefilter_radius=2)
