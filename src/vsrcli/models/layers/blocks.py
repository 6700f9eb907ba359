"""Small building blocks with the official attribute names, so state-dict keys match the checkpoints."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def init_kaiming(conv: nn.Conv2d, scale: float = 1.0, negative_slope: float = 0.0) -> None:
    """He-normal (fan-in) init scaled by ``scale``, zero bias: the official recipe's initialisation.

    PyTorch's default conv init shrinks the signal by about 3x per layer, so a fresh BasicVSR++ learned
    almost nothing but its bilinear skip in our first training run; checkpoints replace this init anyway.
    """
    nonlinearity = "leaky_relu" if negative_slope else "relu"
    nn.init.kaiming_normal_(conv.weight, a=negative_slope, mode="fan_in", nonlinearity=nonlinearity)
    with torch.no_grad():
        conv.weight.mul_(scale)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ConvAct(nn.Module):
    """A convolution with an optional activation, stored under ``.conv`` like mmcv's ``ConvModule``.

    Only the key layout matters (``<name>.conv.weight``); there is no normalisation layer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        act: str | None = "relu",
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        self.act = act
        if act is not None:
            init_kaiming(self.conv, negative_slope=0.1 if act == "lrelu" else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.act == "relu":
            return F.relu(x)
        if self.act == "lrelu":
            return F.leaky_relu(x, 0.1)
        return x


class ResidualBlockNoBN(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus the identity (res_scale 1)."""

    def __init__(self, mid_channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)
        # Residual branches start small (x0.1) so a deep stack begins close to the identity.
        init_kaiming(self.conv1, 0.1)
        init_kaiming(self.conv2, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place on fresh conv outputs (autograd-safe: conv saves its input, not its output): on a CPU every
        # new full-size tensor costs page faults as well as a memory pass.
        return self.conv2(F.relu(self.conv1(x), inplace=True)).add_(x)


class ResidualBlocksWithInputConv(nn.Module):
    """Input conv (in -> out) + LeakyReLU(0.1) + ``num_blocks`` residual blocks, as ``main.{0,1,2}``."""

    def __init__(self, in_channels: int, out_channels: int = 64, num_blocks: int = 30) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),  # on the conv's fresh output
            nn.Sequential(*[ResidualBlockNoBN(out_channels) for _ in range(num_blocks)]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class PixelShufflePack(nn.Module):
    """3x3 conv to ``out * factor**2`` channels, then pixel shuffle (key ``upsample_conv``)."""

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int = 2) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.upsample_conv = nn.Conv2d(in_channels, out_channels * scale_factor * scale_factor, 3, 1, 1)
        init_kaiming(self.upsample_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), self.scale_factor)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with the family's slope 0.1."""
    return F.leaky_relu(x, 0.1)


def check_min_size(h: int, w: int, min_size: int, what: str = "input frames") -> None:
    """Raise a clear ValueError when frames are smaller than a network accepts (the pipeline pads first)."""
    if h < min_size or w < min_size:
        raise ValueError(f"{what} must be at least {min_size}x{min_size} px, got {h}x{w} (pad them first)")


def is_mirror_extended(frames: torch.Tensor) -> bool:
    """True when T is even and the clip is an exact palindrome (frame i == frame T-1-i).

    Evaluated afresh on every call (the official 0.x BasicVSR++ kept a stale flag across calls).
    """
    t = frames.shape[1]
    if t % 2:
        return False
    first, second = torch.chunk(frames, 2, dim=1)
    return bool(torch.equal(first, second.flip(1)))
