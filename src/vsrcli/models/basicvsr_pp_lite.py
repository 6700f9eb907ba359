"""vsrcli's light x4 BasicVSR++: the seed's propagation, with the cost moved to where the network learns.

It keeps what the seed contributes, bidirectional second-order grid propagation with flow-guided deformable
alignment (the very same :func:`~vsrcli.models.basicvsr_pp.propagate` loop and alignment module), and changes
what a profile of the official design on a CPU shows to be spent elsewhere:

- SPyNet runs on frames downscaled by ``flow_downscale`` (area average) and its flows are scaled back up:
  the official network spends about a quarter of its FLOPs on flow at full input resolution;
- deform groups follow the width (``mid_channels // 8``, even) and the offset predictor has ``offset_hidden``
  hidden convs: at width 24-32 the official 16 groups make the offset conv wider than everything it feeds;
- reconstruction stays at input resolution and ends in one conv to ``3 * 16`` channels, pixel-shuffled x4
  straight to RGB over a bicubic x4 skip. The official head runs 64-channel convs at 2x and 4x resolution,
  half of the network's FLOPs. The last conv starts at zero, so an untrained network is exactly bicubic.

``flow_downscale`` is stored as a buffer so that the weights alone say how the network was trained.
"""

from __future__ import annotations

import functools
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.basicvsr import compute_flows
from vsrcli.models.basicvsr_pp import BRANCHES, SecondOrderDeformableAlignment, propagate
from vsrcli.models.bicubic import phase_taps
from vsrcli.models.layers.blocks import ResidualBlocksWithInputConv, check_min_size, is_mirror_extended
from vsrcli.models.spynet import SPyNet

#: PyTorch's bicubic convolution parameter (OpenCV's INTER_CUBIC too).
_TORCH_CUBIC_A = -0.75


@functools.lru_cache(maxsize=1)
def _phase_taps() -> tuple[float, ...]:
    """16 x 5 x 5 weights: output phase (dy, dx) of PyTorch's bicubic x4 as a 5x5 filter over the input.

    Numbers, not a cached tensor: a tensor made under inference mode could not serve a later training step.
    """
    rows = []
    for first, weights in phase_taps(4, _TORCH_CUBIC_A):  # first is -2 or -1: inside the 5 taps -2..2
        row = [0.0] * 5
        row[first + 2 : first + 6] = weights
        rows.append(row)
    return tuple(a * b for ry in rows for rx in rows for a in ry for b in rx)


def bicubic_x4_phases(frames: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, 16 C, H, W): PyTorch's bicubic x4 (a = -0.75, half-pixel centres, as OpenCV's
    INTER_CUBIC) before its pixel shuffle, in pixel-shuffle order.

    Why: adding the skip to the network's residual at input size and shuffling once costs one 5x5 filter
    instead of PyTorch's bicubic kernel plus a full-size sum, 3-4x less on a CPU. Edges repeat (PyTorch
    clamps its taps the same way), so ``pixel_shuffle(bicubic_x4_phases(x), 4)`` equals
    ``F.interpolate(x, scale_factor=4, mode="bicubic")`` to float rounding. It runs in the frames' dtype
    even under autocast: in bf16 the skip would lose the input's 8-bit detail.
    """
    c = frames.shape[1]
    kernel = torch.tensor(_phase_taps(), dtype=frames.dtype).view(16, 1, 5, 5)
    weight = kernel.repeat(c, 1, 1, 1).to(frames.device)
    with torch.autocast(frames.device.type, enabled=False):
        return F.conv2d(F.pad(frames, (2, 2, 2, 2), mode="replicate"), weight, groups=c)


def downscaled_flows(
    spynet: SPyNet, frames: torch.Tensor, mirrored: bool, factor: int
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """:func:`compute_flows` on frames area-averaged by ``factor``, returned at the frames' size in pixels."""
    if factor == 1:
        return compute_flows(spynet, frames, mirrored)
    n, t, c, h, w = frames.shape
    small = F.interpolate(frames.reshape(-1, c, h, w), size=(h // factor, w // factor), mode="area")
    forward, backward = compute_flows(spynet, small.view(n, t, c, *small.shape[-2:]), mirrored)

    def full(flow: torch.Tensor | None) -> torch.Tensor | None:
        if flow is None:
            return None
        k, s = flow.shape[:2]
        big = F.interpolate(flow.reshape(-1, 2, *flow.shape[-2:]), size=(h, w), mode="bilinear")
        scale = big.new_tensor([w / flow.shape[-1], h / flow.shape[-2]]).view(1, 2, 1, 1)
        return (big * scale).view(k, s, 2, h, w)

    backward_full = full(backward)
    assert backward_full is not None
    return full(forward), backward_full


class BasicVSRPlusPlusLiteNet(nn.Module):
    """Light x4 BasicVSR++ (see the module docstring); (N, T, 3, H, W) in [0, 1] -> (N, T, 3, 4H, 4W)."""

    scale = 4
    min_size = 64
    size_multiple = 1
    min_frames = 1

    def __init__(
        self,
        mid_channels: int = 32,
        num_blocks: int = 2,
        extract_blocks: int = 2,
        reconstruction_blocks: int = 2,
        deform_groups: int | None = None,
        offset_hidden: int = 1,
        flow_downscale: int = 2,
        max_residue_magnitude: float = 10,
        *,
        in_channels: int = 3,
        out_channels: int = 3 * 16,
    ) -> None:
        super().__init__()
        if mid_channels % 8:
            raise ValueError(f"mid_channels must be a multiple of 8, got {mid_channels}")
        if flow_downscale not in (1, 2, 4):
            raise ValueError(f"flow_downscale must be 1, 2 or 4, got {flow_downscale}")
        # Half the groups' offsets start from the flow to frame n-1, half from the flow to n-2: an even count.
        groups = deform_groups or max(2, 2 * (mid_channels // 16))
        if groups % 2:
            raise ValueError(f"deform_groups must be even (half per flow prior), got {groups}")
        self.mid_channels = mid_channels
        self.register_buffer("flow_downscale", torch.tensor(flow_downscale, dtype=torch.int64))
        self.spynet = SPyNet()
        self.feat_extract = ResidualBlocksWithInputConv(in_channels, mid_channels, extract_blocks)
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(BRANCHES):
            self.deform_align[name] = SecondOrderDeformableAlignment(
                2 * mid_channels, mid_channels, groups, max_residue_magnitude, offset_hidden
            )
            self.backbone[name] = ResidualBlocksWithInputConv(
                (2 + i) * mid_channels, mid_channels, num_blocks
            )
        self.reconstruction = ResidualBlocksWithInputConv(
            5 * mid_channels, mid_channels, reconstruction_blocks
        )
        self.to_rgb = nn.Conv2d(mid_channels, out_channels, 3, 1, 1)
        nn.init.zeros_(self.to_rgb.weight)
        assert self.to_rgb.bias is not None
        nn.init.zeros_(self.to_rgb.bias)

    def forward(self, lqs: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = lqs.shape
        if c != 3:
            raise ValueError(f"BasicVSR++ lite expects 3 input channels, got {c}")
        check_min_size(h, w, self.min_size)
        feats_all = self.feat_extract(lqs.reshape(-1, c, h, w))
        residuals = self.propagate_and_reconstruct(feats_all.view(n, t, *feats_all.shape[1:]), lqs)
        outputs = [
            F.pixel_shuffle(bicubic_x4_phases(lqs[:, i]) + r.to(lqs.dtype), 4)
            for i, r in enumerate(residuals)
        ]
        return torch.stack(outputs, dim=1)

    def propagate_and_reconstruct(
        self, feats_all: torch.Tensor, flow_frames: torch.Tensor
    ) -> list[torch.Tensor]:
        """Grid propagation over ``feats_all`` (N, T, C, h, w), flows from ``flow_frames`` (N, T, 3, h, w);
        per frame, ``to_rgb`` of the reconstructed features (before any pixel shuffle)."""
        n, t = feats_all.shape[:2]
        feats: dict[str, list[torch.Tensor]] = {"spatial": [feats_all[:, i] for i in range(t)]}
        factor = int(cast(torch.Tensor, self.flow_downscale))
        mirrored = is_mirror_extended(flow_frames)
        flows_forward, flows_backward = downscaled_flows(self.spynet, flow_frames, mirrored, factor)
        if flows_forward is None:
            flows_forward = flows_backward.flip(1)
        for name in BRANCHES:
            flows = flows_backward if name.startswith("backward") else flows_forward
            feats[name] = propagate(self, feats, flows, name, feats_all.device)
        outputs = []
        for i in range(t):
            fused = torch.cat([feats[k][i] for k in ("spatial", *BRANCHES)], dim=1)
            for k in ("spatial", *BRANCHES):
                feats[k][i] = fused.new_zeros(0)  # free each frame's features once used
            outputs.append(self.to_rgb(self.reconstruction(fused)))
        return outputs
