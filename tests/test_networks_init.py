"""Fresh networks start the way the official recipe starts them, so training from scratch can learn."""

from __future__ import annotations

import math

import torch

from vsrcli.models.arch import build_network
from vsrcli.models.layers.blocks import ResidualBlockNoBN


def test_residual_branches_are_he_normal_scaled_by_a_tenth():
    net = build_network("basicvsrpp", mid_channels=32, num_blocks=2)
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlockNoBN)]
    assert blocks
    weights = torch.cat([conv.weight.flatten() for b in blocks for conv in (b.conv1, b.conv2)])
    expected = 0.1 * math.sqrt(2.0 / (32 * 9))
    assert abs(weights.std().item() - expected) / expected < 0.05
    assert all(float(b.conv1.bias.abs().max()) == 0.0 for b in blocks)


def test_a_fresh_x4_network_does_not_collapse_to_its_bilinear_skip():
    """The learned residual on top of the bilinear skip carries signal from the first step."""
    torch.manual_seed(0)
    net = build_network("basicvsrpp", mid_channels=16, num_blocks=2)
    lq = torch.rand(1, 2, 3, 64, 64)
    with torch.no_grad():
        out = net(lq)
    skip = torch.nn.functional.interpolate(lq[0], scale_factor=4, mode="bilinear", align_corners=False)
    assert (out[0] - skip).abs().mean().item() > 5e-3
