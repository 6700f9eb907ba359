"""BasicVSR++: second-order grid propagation with flow-guided deformable alignment.

Two variants share the code: x4 super-resolution (``is_low_res_input=True``) and the strided restoration
variant (``is_low_res_input=False``: two stride-2 convs in front, flows on bicubic x0.25 frames, output at
input size) used for deblurring, denoising and compressed-video enhancement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.basicvsr import bilinear_x4, compute_flows, upsample_head, warp
from vsrcli.models.layers.blocks import (
    PixelShufflePack,
    ResidualBlockNoBN,
    ResidualBlocksWithInputConv,
    check_min_size,
    conv_act,
    fold_constant_input,
    is_mirror_extended,
)
from vsrcli.models.layers.deform import DeformConvBase
from vsrcli.models.layers.prefilter import motion_compensated_average
from vsrcli.models.spynet import SPyNet

BRANCHES = ("backward_1", "forward_1", "backward_2", "forward_2")


class SecondOrderDeformableAlignment(DeformConvBase):
    """DCN over [feature n-1, feature n-2] whose offsets are residues (bounded by ``max_residue_magnitude``
    through tanh) on top of the optical flows to frames n-1 and n-2.

    ``conv_offset`` sees ``[warped n-1, current, warped n-2, flow n-1, flow n-2]`` (3*mid + 4 channels).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deform_groups: int = 16,
        max_residue_magnitude: float = 10,
        offset_hidden: int = 2,
    ) -> None:
        super().__init__(in_channels, out_channels, 3, 1, deform_groups)
        self.max_residue_magnitude = max_residue_magnitude
        mid = out_channels
        # The official stack has 2 hidden mid->mid convs (keys conv_offset.0/2/4/6); a light network may
        # use fewer, the offsets being residues on a flow that already does most of the aligning.
        # activations in place on each conv's fresh output
        layers: list[nn.Module] = [nn.Conv2d(3 * mid + 4, mid, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(offset_hidden):
            layers += [nn.Conv2d(mid, mid, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        layers.append(nn.Conv2d(mid, 27 * deform_groups, 3, 1, 1))
        self.conv_offset = nn.Sequential(*layers)
        last = self.conv_offset[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(
        self,
        x: torch.Tensor | Sequence[torch.Tensor],
        extra_feat: torch.Tensor | Sequence[torch.Tensor],
        flow_1: torch.Tensor,
        flow_2: torch.Tensor,
    ) -> torch.Tensor:
        """``x`` and ``extra_feat`` may come as their channel parts ([n-1, n-2] and [warped n-1, current,
        warped n-2]): each is then concatenated once, with the flows, where it is used; the gathering DCN
        reads the parts of ``x`` without concatenating them."""
        parts = [extra_feat] if isinstance(extra_feat, torch.Tensor) else list(extra_feat)
        # the flows in the features' layout, so the concatenation (and the first conv) stays channels_last
        cl = parts[0].is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if cl else torch.preserve_format
        flows = [f.to(parts[0].dtype, memory_format=layout) for f in (flow_1, flow_2)]
        out = torch.cat([*parts, *flows], 1)
        convs = [m for m in self.conv_offset if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            out = conv_act(conv, out, "leaky_relu")
        return self.deform_from(x, out, convs[-1], self.max_residue_magnitude, (flow_1, flow_2))


def propagate(
    net: nn.Module,
    feats: dict[str, list[torch.Tensor]],
    flows: torch.Tensor,
    name: str,
    device: torch.device,
    cache: bool = False,
) -> list[torch.Tensor]:
    """One branch of second-order grid propagation (section 4.3 of the reference); returns its features in
    chronological order. ``net`` holds ``deform_align[name]``, ``backbone[name]`` and ``mid_channels``: the
    official network and vsrcli's light one share this loop, which is the seed's contribution."""
    deform_align = cast(nn.ModuleDict, net.deform_align)[name]
    backbone = cast(nn.ModuleDict, net.backbone)[name]
    n, t_flows, _, h, w = flows.shape
    t = t_flows + 1
    backward = name.startswith("backward")
    frames = list(range(t - 1, -1, -1)) if backward else list(range(t))
    earlier = [k for k in BRANCHES if k in feats and k != name]
    out: list[torch.Tensor] = []
    feat_prop = flows.new_zeros(n, int(net.mid_channels), h, w, device=device)
    for i, idx in enumerate(frames):
        feat_current = feats["spatial"][idx].to(device)
        if i > 0:
            flow_n1 = flows[:, idx if backward else idx - 1].to(device)
            cond_n1 = warp(feat_prop, flow_n1)
            if i > 1:
                feat_n2 = out[-2].to(device)
                flow_prev = flows[:, idx + 1 if backward else idx - 2].to(device)
                flow_n2 = flow_n1 + warp(flow_prev, flow_n1)
                cond_n2 = warp(feat_n2, flow_n2)
            else:
                feat_n2 = torch.zeros_like(feat_prop)
                flow_n2 = torch.zeros_like(flow_n1)
                cond_n2 = torch.zeros_like(cond_n1)
            # the parts, not their concatenations: each is concatenated once where it is used
            cond = (cond_n1, feat_current, cond_n2)
            feat_prop = deform_align((feat_prop, feat_n2), cond, flow_n1, flow_n2)
        feat = torch.cat([feat_current] + [feats[k][idx].to(device) for k in earlier] + [feat_prop], dim=1)
        feat_prop = backbone(feat).add_(feat_prop)  # the backbone's output is fresh
        out.append(feat_prop.cpu() if cache else feat_prop)
        if cache:
            torch.cuda.empty_cache()
    return out[::-1] if backward else out


class BasicVSRPlusPlusNet(nn.Module):
    """BasicVSR++ with keys equal to the official ``BasicVSRPlusPlusNet`` (MMEditing ``BasicVSRPlusPlus``).

    ``extra_in_channels`` conditioning channels (e.g. a noise-level map) may follow the 3 RGB channels of
    the input; they only enter the first conv of ``feat_extract``. With the default 0 the layout is the
    official one. ``cpu_cache`` (features parked on the CPU between uses) is implemented as in the official
    code: active only for CUDA inputs longer than ``cpu_cache_length`` frames, numerically identical, and
    its output is returned on the CPU.
    """

    min_frames = 1

    def __init__(
        self,
        mid_channels: int = 64,
        num_blocks: int = 7,
        max_residue_magnitude: float = 10,
        is_low_res_input: bool = True,
        cpu_cache_length: int = 100,
        extra_in_channels: int = 0,
        guided_head: bool = False,
        guide_neighbours: bool = False,
        head_blocks: int = 0,
        prefilter_radius: int = 0,
        prefilter_strictness: float = 0.5,
    ) -> None:
        super().__init__()
        if guide_neighbours and (is_low_res_input or not guided_head):
            raise ValueError("guide_neighbours needs the restoration variant with a guided head")
        if prefilter_radius and (is_low_res_input or extra_in_channels != 1):
            raise ValueError("prefilter_radius needs the restoration variant with a noise-level map")
        # Inference only: a second pass over motion-compensated averages of the input (layers/prefilter.py).
        self.prefilter_radius = prefilter_radius
        self.prefilter_strictness = prefilter_strictness
        self.mid_channels = mid_channels
        self.guided_head = guided_head
        self.is_low_res_input = is_low_res_input
        self.cpu_cache_length = cpu_cache_length
        self.extra_in_channels = extra_in_channels
        self.scale = 4 if is_low_res_input else 1
        self.min_size = 64 if is_low_res_input else 256
        self.size_multiple = 1 if is_low_res_input else 4
        in_ch = 3 + extra_in_channels

        self.spynet = SPyNet()
        if is_low_res_input:
            self.feat_extract: nn.Module = ResidualBlocksWithInputConv(in_ch, mid_channels, 5)
        else:
            self.feat_extract = nn.Sequential(
                nn.Conv2d(in_ch, mid_channels, 3, 2, 1),
                nn.LeakyReLU(negative_slope=0.1),
                nn.Conv2d(mid_channels, mid_channels, 3, 2, 1),
                nn.LeakyReLU(negative_slope=0.1),
                ResidualBlocksWithInputConv(mid_channels, mid_channels, 5),
            )
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(BRANCHES):
            self.deform_align[name] = SecondOrderDeformableAlignment(
                2 * mid_channels, mid_channels, 16, max_residue_magnitude
            )
            self.backbone[name] = ResidualBlocksWithInputConv(
                (2 + i) * mid_channels, mid_channels, num_blocks
            )
        self.reconstruction = ResidualBlocksWithInputConv(5 * mid_channels, mid_channels, 5)
        self.upsample1 = PixelShufflePack(mid_channels, mid_channels, 2)
        self.upsample2 = PixelShufflePack(mid_channels, 64, 2)
        # vsrcli's guided head: conv_hr also sees the input frame at output resolution (bilinear x4 for SR,
        # the frame and its extra channels for restoration), so per-pixel detail and noise need not squeeze
        # through the 1/4-resolution features. Off for every official checkpoint.
        # With guide_neighbours the guide also holds the previous and next frames warped onto this one by the
        # propagation's flows (x4): the only full-resolution temporal evidence the head gets, which is what
        # lets high-frequency noise average out across frames instead of only across 1/4-resolution features.
        self.guide_neighbours = guide_neighbours
        guide_ch = (3 if is_low_res_input else in_ch + (6 if guide_neighbours else 0)) if guided_head else 0
        self.conv_hr = nn.Conv2d(64 + guide_ch, 64, 3, 1, 1)
        if head_blocks:
            # Full-resolution residual blocks for per-pixel restoration; they start as the identity (zero
            # second conv), so a network warm-started from one without them computes the same function.
            self.head_body = nn.Sequential(*[ResidualBlockNoBN(64) for _ in range(head_blocks)])
            for block in self.head_body:
                nn.init.zeros_(block.conv2.weight)
                nn.init.zeros_(block.conv2.bias)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def _cpu_cache_active(self, lqs: torch.Tensor) -> bool:
        """The official rule: park features on the CPU for CUDA inputs longer than ``cpu_cache_length``."""
        return lqs.is_cuda and lqs.shape[1] > self.cpu_cache_length

    def adapt_state_dict(self, state: dict[str, torch.Tensor], sigma: float = 0.0) -> dict[str, torch.Tensor]:
        """A restoration network's weights for this one when only the conditioning inputs differ: a
        noise-conditioned denoiser without its noise-map channels (in ``feat_extract.0`` and the guide of
        ``conv_hr``) is that denoiser told ``sigma`` (0-255; the constant map folds into those convs'
        biases, exact but for the border their zero padding touches), a sound start for deblurring or
        decompression."""
        first = state.get("feat_extract.0.weight")
        if self.is_low_res_input or first is None:
            return state
        drop = first.shape[1] - (3 + self.extra_in_channels)
        if drop <= 0:
            return state
        keep = 3 + self.extra_in_channels
        out = dict(state)
        out["feat_extract.0.weight"] = first[:, :keep]
        fold_constant_input(out, "feat_extract.0", first[:, keep:], sigma / 255)
        hr = state.get("conv_hr.weight")
        if hr is not None and self.guided_head:
            start = 64 + keep  # the guide is [features, RGB, extra channels, neighbours]
            out["conv_hr.weight"] = torch.cat([hr[:, :start], hr[:, start + drop :]], dim=1)
            fold_constant_input(out, "conv_hr", hr[:, start : start + drop], sigma / 255)
        return out

    @staticmethod
    def _warped_neighbours(
        images: torch.Tensor, flows_forward: torch.Tensor, flows_backward: torch.Tensor, i: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames i-1 and i+1 warped onto frame i with the 1/4-resolution flows scaled x4 (the frame itself at
        the clip's ends)."""
        t = images.shape[1]
        device = images.device

        def full_res(flow: torch.Tensor) -> torch.Tensor:
            return 4 * F.interpolate(flow.to(device), scale_factor=4, mode="bilinear", align_corners=False)

        current = images[:, i]
        prev = warp(images[:, i - 1], full_res(flows_forward[:, i - 1])) if i > 0 else current
        nxt = warp(images[:, i + 1], full_res(flows_backward[:, i])) if i < t - 1 else current
        return prev, nxt

    def forward(self, lqs: torch.Tensor) -> torch.Tensor:
        """(N, T, 3+extra, H, W) in [0, 1] -> (N, T, 3, sH, sW), unclamped.

        With ``prefilter_radius`` (and not training) a denoiser runs twice: once on the input, then on each
        frame averaged with its aligned neighbours, told the lower noise level that is left."""
        if not self.prefilter_radius or self.training or lqs.shape[1] < 2:
            return self._single_pass(lqs)
        first = self._single_pass(lqs).clamp(0, 1).to(lqs.device)
        inputs = []
        for i in range(lqs.shape[0]):
            average, level = motion_compensated_average(
                lqs[i, :, :3],
                first[i],
                lqs[i, :, 3:4],
                self.spynet,
                self.prefilter_radius,
                self.prefilter_strictness,
            )
            inputs.append(torch.cat([average, level], dim=1).to(lqs.dtype))
        return self._single_pass(torch.stack(inputs))

    def _single_pass(self, lqs: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = lqs.shape
        if c != 3 + self.extra_in_channels:
            raise ValueError(f"BasicVSR++ expects {3 + self.extra_in_channels} input channels, got {c}")
        check_min_size(h, w, self.min_size)
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"frame size {h}x{w} must be a multiple of {self.size_multiple} (pad it first)")
        images = lqs[:, :, :3]
        device = lqs.device
        cache = self._cpu_cache_active(lqs)

        if self.is_low_res_input:
            flow_frames = images
        else:
            flow_frames = F.interpolate(images.reshape(-1, 3, h, w), scale_factor=0.25, mode="bicubic").view(
                n, t, 3, h // 4, w // 4
            )
        mirrored = is_mirror_extended(images)

        feats: dict[str, list[torch.Tensor]] = {}
        if cache:
            spatial = []
            for i in range(t):
                spatial.append(self.feat_extract(lqs[:, i]).cpu())
                torch.cuda.empty_cache()
            feats["spatial"] = spatial
        else:
            all_feats = self.feat_extract(lqs.reshape(-1, c, h, w))
            all_feats = all_feats.view(n, t, *all_feats.shape[1:])
            feats["spatial"] = [all_feats[:, i] for i in range(t)]

        flows_forward, flows_backward = compute_flows(self.spynet, flow_frames, mirrored)
        if flows_forward is None:
            flows_forward = flows_backward.flip(1)
        if cache:
            flows_forward, flows_backward = flows_forward.cpu(), flows_backward.cpu()

        for name in BRANCHES:
            flows = flows_backward if name.startswith("backward") else flows_forward
            feats[name] = propagate(self, feats, flows, name, device, cache)

        outputs = []
        for i in range(t):
            hr = torch.cat([feats[k][i].to(device) for k in ("spatial", *BRANCHES)], dim=1)
            for k in ("spatial", *BRANCHES):
                feats[k][i] = hr.new_zeros(0)  # free each frame's features once used
            skip = bilinear_x4(images[:, i]) if self.is_low_res_input else images[:, i]
            guide = None
            if self.guided_head:
                guide = skip if self.is_low_res_input else lqs[:, i]
            if self.guide_neighbours:
                neighbours = self._warped_neighbours(images, flows_forward, flows_backward, i)
                guide = torch.cat([guide, *neighbours], dim=1)
            hr = upsample_head(self, self.reconstruction(hr), guide)
            hr = hr + skip
            if cache:
                hr = hr.cpu()
                torch.cuda.empty_cache()
            outputs.append(hr)
        return torch.stack(outputs, dim=1)
