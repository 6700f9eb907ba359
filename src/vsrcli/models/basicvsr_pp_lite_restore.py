"""vsrcli's light restoration BasicVSR++ (denoise, deblur, decompress): the light x4 design at scale 1.

The official restoration variant downsamples by 4 with strided convs, so per-pixel detail must squeeze through
``mid_channels`` at 1/16 of the pixels; vsrcli's first c32 restorers needed a full-resolution guided head to
learn at all. This network instead folds each 2x2 block into channels (a pixel unshuffle: lossless, as in
FFDNet), so propagation runs at half size on every input value, and unfolds its output the same way over an
identity skip (the last conv starts at zero: an untrained network returns its input). The rest is the light
x4 network's: second-order grid propagation with flow-guided deformable alignment, deform groups sized to the
width, SPyNet on frames area-averaged to a quarter of the input size (which also averages noise away), and
reconstruction at the propagation size.

``extra_in_channels`` conditioning channels (a noise-level map for the denoiser) follow the 3 RGB channels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet
from vsrcli.models.layers.blocks import check_min_size, fold_constant_input


class BasicVSRPlusPlusLiteRestorer(BasicVSRPlusPlusLiteNet):
    """Light scale-1 BasicVSR++; (N, T, 3 + extra, H, W) in [0, 1] -> (N, T, 3, H, W), H and W even."""

    scale = 1
    min_size = 128
    size_multiple = 2

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
        extra_in_channels: int = 0,
    ) -> None:
        super().__init__(
            mid_channels,
            num_blocks,
            extract_blocks,
            reconstruction_blocks,
            deform_groups,
            offset_hidden,
            flow_downscale,
            max_residue_magnitude,
            in_channels=4 * (3 + extra_in_channels),
            out_channels=3 * 4,
        )
        self.extra_in_channels = extra_in_channels

    def adapt_state_dict(
        self, state: Mapping[str, torch.Tensor], sigma: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """A restorer's weights for this one when only the conditioning inputs differ: a denoiser without its
        noise-map channels is that denoiser told ``sigma`` (0-255; their constant input folds into the
        first conv's bias, exact but for the one-pixel border the zero padding touches), a sound start for
        deblurring (sigma 0) or decompression (a denoiser told a small sigma already removes some blocking).
        The fold keeps each input channel's four pixels together (channel c becomes 4c .. 4c + 3), so the
        map's are the trailing ones of the first conv."""
        out = dict(state)
        first = state.get("feat_extract.main.0.weight")
        keep = 4 * (3 + self.extra_in_channels)
        if first is not None and first.shape[1] > keep:
            out["feat_extract.main.0.weight"] = first[:, :keep]
            fold_constant_input(out, "feat_extract.main.0", first[:, keep:], sigma / 255)
        return out

    def memory_per_pixel(self, elem_bytes: int) -> float:
        """Working bytes per input pixel: five feature maps at half size, the folded input and two fp32 flows
        (at half size, each over 4 pixels), for the automatic tile."""
        return (5 * self.mid_channels * elem_bytes + 2 * 2 * 4) / 4 + (
            3 + self.extra_in_channels
        ) * elem_bytes

    def forward(self, lqs: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = lqs.shape
        if c != 3 + self.extra_in_channels:
            raise ValueError(
                f"BasicVSR++ lite restorer expects {3 + self.extra_in_channels} channels, got {c}"
            )
        check_min_size(h, w, self.min_size)
        if h % 2 or w % 2:
            raise ValueError(f"frame size {h}x{w} must be even (pad it first)")
        folded = F.pixel_unshuffle(lqs.reshape(-1, c, h, w), 2)
        feats_all = self.feat_extract(folded)
        rgb_half = F.avg_pool2d(lqs[:, :, :3].reshape(-1, 3, h, w), 2).view(n, t, 3, h // 2, w // 2)
        residuals = self.propagate_and_reconstruct(feats_all.view(n, t, *feats_all.shape[1:]), rgb_half)
        outputs = [lqs[:, i, :3] + F.pixel_shuffle(r, 2).to(lqs.dtype) for i, r in enumerate(residuals)]
        return torch.stack(outputs, dim=1)
