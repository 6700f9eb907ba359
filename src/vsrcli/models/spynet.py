"""SPyNet optical flow (6-level pyramid), the flow estimator inside every network of the family."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.layers.blocks import ConvAct
from vsrcli.models.layers.flow import autocast_off, flow_warp


class SPyNetBasicModule(nn.Module):
    """Five 7x7 convs 8 -> 32 -> 64 -> 32 -> 16 -> 2, ReLU after all but the last (one pyramid level)."""

    def __init__(self) -> None:
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(
            *[
                ConvAct(chans[i], chans[i + 1], 7, 1, 3, act="relu" if i < 4 else None)
                for i in range(len(chans) - 1)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SPyNet(nn.Module):
    """``forward(ref, supp)`` gives the (N, 2, H, W) flow in pixels that warps ``supp`` onto ``ref``.

    Frames are RGB in [0, 1]; they are resized (not padded) to multiples of 32 internally. Runs in float32
    even inside autocast: a flow error of a fraction of a pixel at the coarsest level is amplified 32x.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([SPyNetBasicModule() for _ in range(6)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _pyramid_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Coarse-to-fine flow for frames whose sides are multiples of 32."""
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(5):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2, count_include_pad=False))
        refs.reverse()
        supps.reverse()

        n, _, h, w = refs[0].shape
        flow = refs[0].new_zeros(n, 2, h, w)
        for level, (ref_l, supp_l) in enumerate(zip(refs, supps, strict=True)):
            if level == 0:
                flow_up = flow
            else:
                flow_up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supp_l, flow_up.permute(0, 2, 3, 1), padding_mode="border")
            flow = flow_up + self.basic_module[level](torch.cat([ref_l, warped, flow_up], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[-2:]
        h_up = h if h % 32 == 0 else 32 * (h // 32 + 1)
        w_up = w if w % 32 == 0 else 32 * (w // 32 + 1)
        # float32 unless the whole module was cast (e.g. .half()): then its own weight dtype.
        work = next(self.basic_module.parameters()).dtype
        with autocast_off(ref):
            ref_w = F.interpolate(ref.to(work), size=(h_up, w_up), mode="bilinear", align_corners=False)
            supp_w = F.interpolate(supp.to(work), size=(h_up, w_up), mode="bilinear", align_corners=False)
            flow = self._pyramid_flow(ref_w, supp_w)
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = torch.stack((flow[:, 0] * (w / w_up), flow[:, 1] * (h / h_up)), dim=1)
        return flow.to(ref.dtype)
