"""IconVSR: BasicVSR with information refill from an EDVR-M extractor at keyframes, coupled propagation."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.basicvsr import bilinear_x4, compute_flows, upsample_head, warp
from vsrcli.models.edvr import EDVRFeatureExtractor
from vsrcli.models.layers.blocks import (
    PixelShufflePack,
    ResidualBlocksWithInputConv,
    check_min_size,
    is_mirror_extended,
)
from vsrcli.models.spynet import SPyNet


class IconVSRNet(nn.Module):
    """IconVSR (x4). Keys equal the official ``IconVSRNet``; ``padding`` 2 (REDS) or 3 (Vimeo-90K).

    The EDVR branch has ``mid_channels`` channels: the official code hard-wires 64, which is the same thing
    for every official checkpoint (other widths do not run there at all).
    """

    scale = 4
    min_size = 64
    size_multiple = 1

    def __init__(
        self, mid_channels: int = 64, num_blocks: int = 30, keyframe_stride: int = 5, padding: int = 2
    ) -> None:
        super().__init__()
        if padding < 1:
            raise ValueError(f"IconVSR padding must be at least 1, got {padding}")
        self.mid_channels = mid_channels
        self.keyframe_stride = keyframe_stride
        self.padding = padding
        self.min_frames = 2 * padding + 1
        self.spynet = SPyNet()
        self.edvr = EDVRFeatureExtractor(mid_channels, num_frames=2 * padding + 1, center_frame_idx=padding)
        self.backward_fusion = nn.Conv2d(2 * mid_channels, mid_channels, 3, 1, 1)
        self.forward_fusion = nn.Conv2d(2 * mid_channels, mid_channels, 3, 1, 1)
        self.backward_resblocks = ResidualBlocksWithInputConv(mid_channels + 3, mid_channels, num_blocks)
        self.forward_resblocks = ResidualBlocksWithInputConv(2 * mid_channels + 3, mid_channels, num_blocks)
        self.upsample1 = PixelShufflePack(mid_channels, mid_channels, 2)
        self.upsample2 = PixelShufflePack(mid_channels, 64, 2)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def keyframes(self, t: int) -> list[int]:
        """Every ``keyframe_stride``-th frame from 0, plus the last frame."""
        idx = list(range(0, t, self.keyframe_stride))
        if idx[-1] != t - 1:
            idx.append(t - 1)
        return idx

    def refill_features(self, lrs: torch.Tensor, keyframes: list[int]) -> dict[int, torch.Tensor]:
        """EDVR features centred on each keyframe, from the temporally padded clip.

        The clip gets frames ``2p, 2p-1, ..., p+1`` in front and ``T-p-2, ..., T-2p-1`` behind (for p = 2:
        ``[4, 3]`` and ``[T-4, T-5]``), exactly the official indices, not a symmetric reflection.
        """
        p = self.padding
        front = list(range(2 * p, p, -1))
        back = [-k for k in range(p + 2, 2 * p + 2)]
        padded = torch.cat([lrs[:, front], lrs, lrs[:, back]], dim=1)
        span = 2 * p + 1
        return {k: self.edvr(padded[:, k : k + span].contiguous()) for k in keyframes}

    def forward(self, lrs: torch.Tensor) -> torch.Tensor:
        """(N, T, 3, h, w) in [0, 1] -> (N, T, 3, 4h, 4w); T >= 2*padding+1."""
        n, t, c, h_in, w_in = lrs.shape
        check_min_size(h_in, w_in, self.min_size)
        if t < self.min_frames:
            raise ValueError(
                f"IconVSR with padding {self.padding} needs at least {self.min_frames} frames, got {t}"
            )
        mirrored = is_mirror_extended(lrs)
        pad_h, pad_w = (4 - h_in % 4) % 4, (4 - w_in % 4) % 4
        if pad_h or pad_w:
            lrs = F.pad(lrs.reshape(-1, c, h_in, w_in), [0, pad_w, 0, pad_h], mode="reflect")
            lrs = lrs.view(n, t, c, h_in + pad_h, w_in + pad_w)
        h, w = lrs.shape[-2:]

        keyframes = self.keyframes(t)
        flows_forward, flows_backward = compute_flows(self.spynet, lrs, mirrored)
        refill = self.refill_features(lrs, keyframes)

        backward_feats: list[torch.Tensor] = [lrs.new_zeros(0)] * t
        feat = lrs.new_zeros(n, self.mid_channels, h, w)
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = warp(feat, flows_backward[:, i])
            if i in refill:
                feat = self.backward_fusion(torch.cat([feat, refill[i]], dim=1))
            feat = self.backward_resblocks(torch.cat([lrs[:, i], feat], dim=1))
            backward_feats[i] = feat

        outputs = []
        feat = torch.zeros_like(feat)
        for i in range(t):
            frame = lrs[:, i]
            if i > 0:
                flow = flows_forward[:, i - 1] if flows_forward is not None else flows_backward[:, t - 1 - i]
                feat = warp(feat, flow)
            if i in refill:
                feat = self.forward_fusion(torch.cat([feat, refill[i]], dim=1))
            feat = self.forward_resblocks(torch.cat([frame, backward_feats[i], feat], dim=1))
            backward_feats[i] = feat.new_zeros(0)
            outputs.append(upsample_head(self, feat) + bilinear_x4(frame))
        return torch.stack(outputs, dim=1)[:, :, :, : 4 * h_in, : 4 * w_in]
