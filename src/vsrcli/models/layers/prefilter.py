"""Motion-compensated temporal averaging: the second pass of a noise-conditioned denoiser.

Measured on vsrcli-denoise, its recurrent propagation adds only 0.07 dB over running each frame alone: the
network denoises spatially. Averaging each noisy frame with its neighbours, aligned by flows read off a first
denoising pass and weighted by how well they match there, cuts the noise the network faces by up to
sqrt(2 * radius + 1); the network then runs again, told the per-pixel noise level that is left.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsrcli.models.layers.flow import autocast_off, flow_warp

#: Side of the box over which frame differences are averaged before they become weights.
MATCH_WINDOW = 5


def quarter_size(x: torch.Tensor) -> torch.Tensor:
    """Area-downsample (B, C, H, W) by 4 (replicate-padded up to a multiple of 4): what SPyNet sees here,
    and what its fine-tune trains on (training/graft_denoise_mc.py)."""
    h, w = x.shape[-2:]
    return F.avg_pool2d(F.pad(x, (0, (-w) % 4, 0, (-h) % 4), mode="replicate"), 4)


def _full_res_flow(
    spynet: torch.nn.Module, ref: torch.Tensor, supp: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Flow (B, 2, H, W) that warps ``supp`` onto ``ref``, estimated on 1/4-size frames and scaled x4."""
    flow = spynet(ref, supp)
    flow = 4 * F.interpolate(flow, scale_factor=4, mode="bilinear", align_corners=False)
    return flow[..., : size[0], : size[1]]


def motion_compensated_average(
    noisy: torch.Tensor,
    guide: torch.Tensor,
    level: torch.Tensor,
    spynet: torch.nn.Module,
    radius: int,
    strictness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average each frame of ``noisy`` (T, 3, H, W) with its neighbours up to ``radius`` frames away.

    ``guide`` is a first denoising pass of ``noisy``: flows are read off it and a neighbour's weight is
    exp(-d / (strictness * sigma)^2), d the local mean squared difference of the aligned guides, so moving
    edges, occlusions and bad flows fall back to the frame itself. ``level`` (T, 1, H, W) is sigma on the
    0-1 scale; returns the average and the noise level left in it, sigma * sqrt(sum w^2) / sum w.
    """
    t, _, h, w = noisy.shape
    with autocast_off(noisy):
        noisy, guide, level = noisy.float(), guide.float(), level.float()
        small = quarter_size(guide)
        tau2 = (strictness * level).square().clamp(min=1e-8)
        total = noisy.clone()
        weight_sum = torch.ones_like(level)
        weight_sq = torch.ones_like(level)
        ones = torch.ones_like(level[:1]).expand(t, 1, h, w)
        for k in range(1, min(radius, t - 1) + 1):
            for ref, supp in ((slice(0, t - k), slice(k, t)), (slice(k, t), slice(0, t - k))):
                flow = _full_res_flow(spynet, small[ref], small[supp], (h, w)).permute(0, 2, 3, 1)
                aligned_guide = flow_warp(guide[supp], flow)
                aligned = flow_warp(noisy[supp], flow)
                inside = flow_warp(ones[supp], flow) > 0.999
                diff = (aligned_guide - guide[ref]).square().mean(1, keepdim=True)
                diff = F.avg_pool2d(diff, MATCH_WINDOW, 1, MATCH_WINDOW // 2, count_include_pad=False)
                wgt = torch.exp(-diff / tau2[ref]) * inside
                total[ref] += wgt * aligned
                weight_sum[ref] += wgt
                weight_sq[ref] += wgt.square()
        return total / weight_sum, level * weight_sq.sqrt() / weight_sum
