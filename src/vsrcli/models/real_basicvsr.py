"""RealBasicVSR: an image pre-cleaning module (up to 3 passes) in front of BasicVSR, for real-world inputs."""

from __future__ import annotations

import torch
import torch.nn as nn

from vsrcli.models.basicvsr import BasicVSRNet
from vsrcli.models.layers.blocks import ResidualBlocksWithInputConv, check_min_size

MAX_CLEANING_PASSES = 3


def cleaning_module(mid_channels: int, num_blocks: int) -> nn.Sequential:
    """RealBasicVSR's image cleaning: residual blocks on the frame and one conv back to an RGB residue."""
    return nn.Sequential(
        ResidualBlocksWithInputConv(3, mid_channels, num_blocks),
        nn.Conv2d(mid_channels, 3, 3, 1, 1, bias=True),
    )


def clean_frames(cleaning: nn.Module, lqs: torch.Tensor, threshold: float, sequential: bool) -> torch.Tensor:
    """Cleaned frames (N, T, 3, h, w): ``frames += cleaning(frames)`` until the mean absolute residue drops
    below ``threshold`` (in [0, 1] units), at most 3 times; ``sequential`` cleans frame by frame (less
    memory, same result). The input tensor is left untouched."""
    n, t, c, h, w = lqs.shape
    for _ in range(MAX_CLEANING_PASSES):
        if sequential:
            residues = torch.stack([cleaning(lqs[:, i]) for i in range(t)], dim=1)
        else:
            residues = cleaning(lqs.reshape(-1, c, h, w)).view(n, t, c, h, w)
        lqs = lqs + residues
        if torch.mean(torch.abs(residues)) < threshold:
            break
    return lqs


class RealBasicVSRNet(nn.Module):
    """Cleaning module + BasicVSR; keys equal the official ``RealBasicVSRNet``.

    Cleaning repeats ``frames += image_cleaning(frames)`` until the mean absolute residue drops below
    ``dynamic_refine_thres / 255``, at most 3 times. The official default 255 (a threshold of 1.0) means
    one pass in practice. ``is_sequential_cleaning`` cleans frame by frame (less memory, same result).
    """

    scale = 4
    min_size = 64
    size_multiple = 1
    min_frames = 1

    def __init__(
        self,
        mid_channels: int = 64,
        num_propagation_blocks: int = 20,
        num_cleaning_blocks: int = 20,
        dynamic_refine_thres: float = 255.0,
        is_sequential_cleaning: bool = False,
    ) -> None:
        super().__init__()
        self.dynamic_refine_thres = dynamic_refine_thres / 255.0
        self.is_sequential_cleaning = is_sequential_cleaning
        self.image_cleaning = cleaning_module(mid_channels, num_cleaning_blocks)
        self.basicvsr = BasicVSRNet(mid_channels, num_propagation_blocks)

    def clean(self, lqs: torch.Tensor) -> torch.Tensor:
        """The cleaned frames (N, T, 3, h, w); the input tensor is left untouched."""
        return clean_frames(self.image_cleaning, lqs, self.dynamic_refine_thres, self.is_sequential_cleaning)

    def forward(
        self, lqs: torch.Tensor, return_lqs: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, T, 3, h, w) -> (N, T, 3, 4h, 4w); with ``return_lqs`` also the cleaned frames."""
        check_min_size(lqs.shape[-2], lqs.shape[-1], self.min_size)
        cleaned = self.clean(lqs)
        out = self.basicvsr(cleaned)
        return (out, cleaned) if return_lqs else out
