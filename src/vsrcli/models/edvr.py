"""EDVR-M feature extractor (PCD alignment + TSA fusion), the information-refill branch of IconVSR."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.layers.blocks import ConvAct, ResidualBlockNoBN, lrelu
from vsrcli.models.layers.deform import ModulatedDCNPack


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2, align_corners=False (the PCD/TSA upsampling)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class PCDAlignment(nn.Module):
    """Pyramid, cascading and deformable alignment of one neighbour's 3-level features to the centre's."""

    def __init__(self, mid_channels: int = 64, deform_groups: int = 8) -> None:
        super().__init__()
        mid = mid_channels
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in (3, 2, 1):
            level = f"l{i}"
            self.offset_conv1[level] = ConvAct(2 * mid, mid, 3, 1, 1, act="lrelu")
            if i == 3:
                self.offset_conv2[level] = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
            else:
                self.offset_conv2[level] = ConvAct(2 * mid, mid, 3, 1, 1, act="lrelu")
                self.offset_conv3[level] = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
            self.dcn_pack[level] = ModulatedDCNPack(mid, mid, deform_groups)
            if i < 3:
                self.feat_conv[level] = ConvAct(2 * mid, mid, 3, 1, 1, act="lrelu" if i == 2 else None)
        self.cas_offset_conv1 = ConvAct(2 * mid, mid, 3, 1, 1, act="lrelu")
        self.cas_offset_conv2 = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
        self.cas_dcnpack = ModulatedDCNPack(mid, mid, deform_groups)

    def forward(self, nbr: list[torch.Tensor], ref: list[torch.Tensor]) -> torch.Tensor:
        """``nbr`` and ``ref`` are [L1, L2, L3] features; returns the aligned L1 feature."""
        up_offset = up_feat = nbr[0]  # placeholders: level 3 (the first) uses neither
        feat = nbr[0]
        for i in (3, 2, 1):
            level = f"l{i}"
            offset = self.offset_conv1[level](torch.cat([nbr[i - 1], ref[i - 1]], dim=1))
            if i == 3:
                offset = self.offset_conv2[level](offset)
            else:
                offset = self.offset_conv2[level](torch.cat([offset, up_offset], dim=1))
                offset = self.offset_conv3[level](offset)
            feat = self.dcn_pack[level](nbr[i - 1], offset)
            if i == 3:
                feat = lrelu(feat)
            else:
                feat = self.feat_conv[level](torch.cat([feat, up_feat], dim=1))
            if i > 1:
                up_offset = _up2(offset) * 2
                up_feat = _up2(feat)
        offset = self.cas_offset_conv2(self.cas_offset_conv1(torch.cat([feat, ref[0]], dim=1)))
        return lrelu(self.cas_dcnpack(feat, offset))


class TSAFusion(nn.Module):
    """Temporal (correlation to the centre frame) and spatial (pyramid) attention fusion of F frames."""

    def __init__(self, mid_channels: int = 64, num_frames: int = 5, center_frame_idx: int = 2) -> None:
        super().__init__()
        mid = mid_channels
        self.center_frame_idx = center_frame_idx
        self.temporal_attn1 = nn.Conv2d(mid, mid, 3, 1, 1)
        self.temporal_attn2 = nn.Conv2d(mid, mid, 3, 1, 1)
        self.feat_fusion = ConvAct(num_frames * mid, mid, 1, act="lrelu")
        self.spatial_attn1 = ConvAct(num_frames * mid, mid, 1, act="lrelu")
        self.spatial_attn2 = ConvAct(2 * mid, mid, 1, act="lrelu")
        self.spatial_attn3 = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
        self.spatial_attn4 = ConvAct(mid, mid, 1, act="lrelu")
        self.spatial_attn5 = nn.Conv2d(mid, mid, 3, 1, 1)
        self.spatial_attn_l1 = ConvAct(mid, mid, 1, act="lrelu")
        self.spatial_attn_l2 = ConvAct(2 * mid, mid, 3, 1, 1, act="lrelu")
        self.spatial_attn_l3 = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
        self.spatial_attn_add1 = ConvAct(mid, mid, 1, act="lrelu")
        self.spatial_attn_add2 = nn.Conv2d(mid, mid, 1)

    @staticmethod
    def _pools(x: torch.Tensor) -> torch.Tensor:
        """Max and average pooling (3x3, stride 2, pad 1; the average counts the padding), concatenated."""
        return torch.cat([F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)], dim=1)

    def forward(self, aligned: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = aligned.shape
        emb_ref = self.temporal_attn1(aligned[:, self.center_frame_idx])
        emb = self.temporal_attn2(aligned.reshape(-1, c, h, w)).view(n, t, -1, h, w)
        corr = torch.stack([torch.sum(emb[:, i] * emb_ref, 1) for i in range(t)], dim=1)
        prob = torch.sigmoid(corr).unsqueeze(2).expand(n, t, c, h, w).reshape(n, -1, h, w)
        weighted = aligned.reshape(n, -1, h, w) * prob

        feat = self.feat_fusion(weighted)
        attn = self.spatial_attn2(self._pools(self.spatial_attn1(weighted)))
        attn_level = self.spatial_attn_l2(self._pools(self.spatial_attn_l1(attn)))
        attn_level = _up2(self.spatial_attn_l3(attn_level))
        attn = self.spatial_attn4(self.spatial_attn3(attn) + attn_level)
        attn = self.spatial_attn5(_up2(attn))
        attn_add = self.spatial_attn_add2(self.spatial_attn_add1(attn))
        return feat * torch.sigmoid(attn) * 2 + attn_add


class EDVRFeatureExtractor(nn.Module):
    """EDVR-M up to the fused feature: (N, F, 3, h, w) -> (N, mid, h, w); h and w multiples of 4."""

    def __init__(
        self,
        mid_channels: int = 64,
        num_frames: int = 5,
        center_frame_idx: int = 2,
        deform_groups: int = 8,
        num_blocks_extraction: int = 5,
    ) -> None:
        super().__init__()
        mid = mid_channels
        self.center_frame_idx = center_frame_idx
        self.conv_first = nn.Conv2d(3, mid, 3, 1, 1)
        self.feature_extraction = nn.Sequential(
            *[ResidualBlockNoBN(mid) for _ in range(num_blocks_extraction)]
        )
        self.feat_l2_conv1 = ConvAct(mid, mid, 3, 2, 1, act="lrelu")
        self.feat_l2_conv2 = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
        self.feat_l3_conv1 = ConvAct(mid, mid, 3, 2, 1, act="lrelu")
        self.feat_l3_conv2 = ConvAct(mid, mid, 3, 1, 1, act="lrelu")
        self.pcd_alignment = PCDAlignment(mid, deform_groups)
        self.fusion = TSAFusion(mid, num_frames, center_frame_idx)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        l1 = self.feature_extraction(lrelu(self.conv_first(x.reshape(-1, c, h, w))))
        l2 = self.feat_l2_conv2(self.feat_l2_conv1(l1))
        l3 = self.feat_l3_conv2(self.feat_l3_conv1(l2))
        levels = [
            l1.view(n, t, -1, h, w),
            l2.view(n, t, -1, h // 2, w // 2),
            l3.view(n, t, -1, h // 4, w // 4),
        ]
        ref = [lv[:, self.center_frame_idx] for lv in levels]
        aligned = torch.stack([self.pcd_alignment([lv[:, i] for lv in levels], ref) for i in range(t)], dim=1)
        return self.fusion(aligned)
