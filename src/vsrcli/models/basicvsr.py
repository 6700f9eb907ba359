"""BasicVSR: bidirectional recurrent propagation with SPyNet flow warping, x4 upsampling."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.layers.blocks import (
    PixelShufflePack,
    ResidualBlocksWithInputConv,
    check_min_size,
    conv_act,
    is_mirror_extended,
    lrelu,
)
from vsrcli.models.layers.flow import flow_warp
from vsrcli.models.spynet import SPyNet


def compute_flows(
    spynet: SPyNet, frames: torch.Tensor, mirrored: bool
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Flows between neighbours of ``frames`` (N, T, 3, h, w), each (N, T-1, 2, h, w).

    ``backward[:, i]`` warps frame i+1 onto frame i; ``forward[:, i]`` warps frame i onto frame i+1 and is
    None for a mirror-extended clip (it equals ``backward`` reversed in time, so it is not computed).
    """
    n, t, c, h, w = frames.shape
    earlier = frames[:, :-1].reshape(-1, c, h, w)
    later = frames[:, 1:].reshape(-1, c, h, w)
    backward = spynet(earlier, later).view(n, t - 1, 2, h, w)
    forward = None if mirrored else spynet(later, earlier).view(n, t - 1, 2, h, w)
    return forward, backward


def warp(feat: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp a feature by a (N, 2, h, w) flow with zero padding."""
    return flow_warp(feat, flow.permute(0, 2, 3, 1))


#: Inference runs the x4 head on bands of this many input rows, so the 64-channel activations at 4x resolution
#: (236 MB per 180x320 frame) are never whole. On a 2-core Zen 3 the head alone went from 2.06 to 1.32 s per
#: 180x320 frame (best of 3); the whole network gains only ~6%, within that machine's run-to-run noise.
HEAD_BAND_ROWS = 16
#: Rows of context each band needs: the head's receptive radius in input pixels (1 + 1/2 + 1/4 + 1/4).
HEAD_HALO = 2


def head_halo(net: nn.Module) -> int:
    """``HEAD_HALO`` plus a quarter input row for each 3x3 conv of a full-resolution ``head_body``."""
    body = getattr(net, "head_body", None)
    convs = 2 * len(body) if body is not None else 0
    return HEAD_HALO + (convs + 3) // 4


def _head(net: Any, feat: torch.Tensor, inplace: bool, guide: torch.Tensor | None) -> torch.Tensor:
    feat = F.leaky_relu(net.upsample1(feat), 0.1, inplace=inplace)
    feat = F.leaky_relu(net.upsample2(feat), 0.1, inplace=inplace)
    if guide is not None:
        feat = torch.cat([feat, guide], dim=1)
    feat = conv_act(net.conv_hr, feat, "leaky_relu")  # fused at CPU inference, else in place
    body = getattr(net, "head_body", None)
    if body is not None:
        feat = body(feat)
    return net.conv_last(feat)


def upsample_head(net: nn.Module, feat: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
    """``lrelu(upsample1) -> lrelu(upsample2) -> lrelu(conv_hr) -> conv_last`` on ``net``'s layers (x4).

    ``guide`` (full output resolution) is concatenated to ``conv_hr``'s input when the network has a guided
    head (vsrcli's own restoration models; official networks have none).

    A network may add residual blocks at output resolution between ``conv_hr`` and ``conv_last``
    (``head_body``, vsrcli's restoration models).

    Without autograd the head runs band by band (``HEAD_BAND_ROWS`` rows plus ``head_halo`` of context on
    each side, cropped back), which gives the same values as one pass: every output row sees exactly the
    input rows it would see in the whole frame. Bands are a CPU cache trick: on other devices the head runs
    in one pass (a GPU wants large kernels, and the halo rows are work done twice).
    """
    h = feat.shape[-2]
    if torch.is_grad_enabled() or h <= 2 * HEAD_BAND_ROWS or feat.device.type != "cpu":
        return _head(net, feat, not torch.is_grad_enabled(), guide)
    out: torch.Tensor | None = None
    halo = head_halo(net)
    for r0 in range(0, h, HEAD_BAND_ROWS):
        r1 = min(h, r0 + HEAD_BAND_ROWS)
        a, b = max(0, r0 - halo), min(h, r1 + halo)
        band_guide = None if guide is None else guide[..., 4 * a : 4 * b, :]
        band = _head(net, feat[..., a:b, :], True, band_guide)
        if out is None:
            out = band.new_empty((*band.shape[:-2], 4 * h, band.shape[-1]))
        out[..., 4 * r0 : 4 * r1, :] = band[..., 4 * (r0 - a) : 4 * (r1 - a), :]
    assert out is not None
    return out


def bilinear_x4(frame: torch.Tensor) -> torch.Tensor:
    """The image skip of the x4 models: bilinear x4, align_corners=False."""
    return F.interpolate(frame, scale_factor=4, mode="bilinear", align_corners=False)


class BasicVSRNet(nn.Module):
    """BasicVSR (x4). State-dict keys equal the official MMEditing/MMagic ``BasicVSRNet``."""

    scale = 4
    min_size = 64
    size_multiple = 1
    min_frames = 1

    def __init__(self, mid_channels: int = 64, num_blocks: int = 30) -> None:
        super().__init__()
        self.mid_channels = mid_channels
        self.spynet = SPyNet()
        self.backward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.forward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.fusion = nn.Conv2d(mid_channels * 2, mid_channels, 1, 1, 0)
        self.upsample1 = PixelShufflePack(mid_channels, mid_channels, 2)
        self.upsample2 = PixelShufflePack(mid_channels, 64, 2)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def forward(self, lrs: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, h, w) in [0, 1] -> (N, T, 3, 4h, 4w), unclamped."""
        n, t, _, h, w = lrs.shape
        check_min_size(h, w, self.min_size)
        mirrored = is_mirror_extended(lrs)
        flows_forward, flows_backward = compute_flows(self.spynet, lrs, mirrored)

        backward_feats: list[torch.Tensor] = [lrs.new_zeros(0)] * t
        feat = lrs.new_zeros(n, self.mid_channels, h, w)
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = warp(feat, flows_backward[:, i])
            feat = self.backward_resblocks(torch.cat([lrs[:, i], feat], dim=1))
            backward_feats[i] = feat

        outputs = []
        feat = torch.zeros_like(feat)
        for i in range(t):
            frame = lrs[:, i]
            if i > 0:
                flow = flows_forward[:, i - 1] if flows_forward is not None else flows_backward[:, t - 1 - i]
                feat = warp(feat, flow)
            feat = self.forward_resblocks(torch.cat([frame, feat], dim=1))
            out = lrelu(self.fusion(torch.cat([backward_feats[i], feat], dim=1)))
            out = upsample_head(self, out) + bilinear_x4(frame)
            backward_feats[i] = out.new_zeros(0)  # free the backward state as soon as it is used
            outputs.append(out)
        return torch.stack(outputs, dim=1)
