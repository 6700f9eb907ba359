"""vsrcli's light real-world x4 network: RealBasicVSR's image cleaning in front of the light BasicVSR++.

RealBasicVSR's idea (clean each frame before propagation, so that noise and compression artefacts are not
carried along the recurrence) with the light x4 network of the own-models issue behind it instead of
BasicVSR: second-order grid propagation with flow-guided deformable alignment, flows at reduced size,
reconstruction at input resolution and a pixel shuffle to RGB over a bicubic skip. The cleaning module may be
wider than the propagation (``cleaning_channels``): it runs once per frame, the propagation four times.

The light network's weights sit under ``sr.``, so an x4 checkpoint of ``basicvsrpp_lite`` warm-starts it
(:meth:`RealBasicVSRLiteNet.adapt_state_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet
from vsrcli.models.layers.blocks import check_min_size
from vsrcli.models.real_basicvsr import clean_frames, cleaning_module


class RealBasicVSRLiteNet(nn.Module):
    """Cleaning + light BasicVSR++; (N, T, 3, H, W) in [0, 1] -> (N, T, 3, 4H, 4W)."""

    scale = 4
    min_size = 64
    size_multiple = 1
    min_frames = 1

    def __init__(
        self,
        mid_channels: int = 16,
        num_blocks: int = 2,
        cleaning_channels: int = 32,
        num_cleaning_blocks: int = 4,
        dynamic_refine_thres: float = 255.0,
        is_sequential_cleaning: bool = True,
        extract_blocks: int = 2,
        reconstruction_blocks: int = 2,
        deform_groups: int | None = None,
        offset_hidden: int = 1,
        flow_downscale: int = 2,
        max_residue_magnitude: float = 10,
    ) -> None:
        super().__init__()
        self.mid_channels = mid_channels
        self.dynamic_refine_thres = dynamic_refine_thres / 255.0
        self.is_sequential_cleaning = is_sequential_cleaning
        self.image_cleaning = cleaning_module(cleaning_channels, num_cleaning_blocks)
        self.sr = BasicVSRPlusPlusLiteNet(
            mid_channels,
            num_blocks,
            extract_blocks=extract_blocks,
            reconstruction_blocks=reconstruction_blocks,
            deform_groups=deform_groups,
            offset_hidden=offset_hidden,
            flow_downscale=flow_downscale,
            max_residue_magnitude=max_residue_magnitude,
        )

    def adapt_state_dict(
        self, state: Mapping[str, torch.Tensor], sigma: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """Weights of a bare ``basicvsrpp_lite`` (no cleaning module) moved under ``sr.``; others as given.
        ``sigma`` is part of the warm-start protocol but unused: no input here is a noise map."""
        if any(k.startswith(("image_cleaning.", "sr.")) for k in state):
            return dict(state)
        return {f"sr.{k}": v for k, v in state.items()}

    def forward(
        self, lqs: torch.Tensor, return_lqs: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, T, 3, h, w) -> (N, T, 3, 4h, 4w); with ``return_lqs`` also the cleaned frames."""
        check_min_size(lqs.shape[-2], lqs.shape[-1], self.min_size)
        cleaned = clean_frames(
            self.image_cleaning, lqs, self.dynamic_refine_thres, self.is_sequential_cleaning
        )
        out = self.sr(cleaned)
        return (out, cleaned) if return_lqs else out
