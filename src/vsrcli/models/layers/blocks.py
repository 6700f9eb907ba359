"""Small building blocks with the official attribute names, so state-dict keys match the checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

_fusion_enabled = True


@contextlib.contextmanager
def fused_convs(enabled: bool) -> Iterator[None]:
    """Turn the fused inference convolutions on or off inside a block (benchmarks: the official code's cost,
    and FLOP counting, which sees only plain convolutions). Process-wide, like the DCN backend choice."""
    global _fusion_enabled
    previous, _fusion_enabled = _fusion_enabled, enabled
    try:
        yield
    finally:
        _fusion_enabled = previous


def _can_fuse(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """oneDNN's fused convolution applies: float32 CPU inference, no autograd, no autocast, zero padding."""
    return (
        _fusion_enabled
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and conv.weight.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    )


def conv_act(
    conv: nn.Conv2d,
    x: torch.Tensor,
    act: str | None = None,
    slope: float = 0.1,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``conv(x)`` then ``act`` (``relu``, ``leaky_relu`` with ``slope``, or None), or ``conv(x) + residual``.

    At float32 CPU inference the activation or the addition runs inside oneDNN's convolution as a post-op
    (the op PyTorch's compiler emits for the same pattern): no separate pass over the output, no temporary.
    Equal to the plain ops (bitwise in NCHW). Elsewhere the plain ops run.
    """
    if residual is not None and act is not None:
        raise ValueError("conv_act fuses an activation or a residual addition, not both")
    if _can_fuse(conv, x):
        geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        if residual is not None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, residual, conv.weight, conv.bias, *geometry, "add", None, None, [], None
            )
        scalars = [slope] if act == "leaky_relu" else []
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, *geometry, act or "none", scalars, ""
        )
    y = conv(x)
    if residual is not None:
        return y.add_(residual)  # in place on the conv's fresh output (autograd-safe: conv saves its input)
    if act == "relu":
        return F.relu(y, inplace=True)
    if act == "leaky_relu":
        return F.leaky_relu(y, slope, inplace=True)
    return y


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
        return conv_act(self.conv, x, {"relu": "relu", "lrelu": "leaky_relu", None: None}[self.act])


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
        # relu and the identity fused into the convs at CPU inference, else in place on their fresh outputs:
        # on a CPU every new full-size tensor costs page faults as well as a memory pass
        return conv_act(self.conv2, conv_act(self.conv1, x, "relu"), residual=x)


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
        x = conv_act(self.main[0], x, "leaky_relu")
        return self.main[2](x)


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


def fold_constant_input(
    state: dict[str, torch.Tensor], conv: str, weight: torch.Tensor, value: float
) -> None:
    """Add to ``conv``'s bias in ``state`` what input channels held at ``value`` contribute through
    ``weight`` (their slice of the conv's weight): a conv that loses constant inputs keeps its output (but
    for the border its zero padding touches)."""
    bias = state.get(f"{conv}.bias")
    if value and bias is not None:
        state[f"{conv}.bias"] = (bias.float() + weight.float().sum(dim=(1, 2, 3)) * value).to(bias.dtype)
