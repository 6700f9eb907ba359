"""Modulated deformable convolution (DCNv2, mmcv layout): one entry point and the shared module logic.

Offsets have ``2 * G * k * k`` channels ordered ``[group][kernel point][(dy, dx)]``, the mask ``G * k * k``
channels ordered ``[group][kernel point]``; input channels are split into ``G`` contiguous groups. This is
the layout of both mmcv's ``ModulatedDeformConv2d`` and ``torchvision.ops.deform_conv2d``, so official
checkpoints load unchanged. A faster implementation can replace :func:`modulated_deform_conv2d` alone.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vsrcli.models.layers.flow import autocast_enabled, autocast_off, is_channels_last

DEFORM_BACKENDS = ("auto", "fast", "torchvision")
# Process-wide (not a ContextVar) so that a model running in a pipeline worker thread sees the choice too.
_backend: str | None = None


@contextlib.contextmanager
def use_deform_backend(name: str) -> Iterator[None]:
    """Choose the DCN implementation inside a block.

    "fast": grid_sample + one matrix product (vsrcli's own, 2-4x quicker than torchvision on CPU, forward and
    backward); "torchvision": torchvision.ops.deform_conv2d; "auto": fast on CPU, torchvision elsewhere until
    measured on GPUs. Outside any block the VSRCLI_DEFORM_BACKEND environment variable decides, else "auto".
    """
    global _backend
    if name not in DEFORM_BACKENDS:
        raise ValueError(f"unknown deformable convolution backend {name!r}; choose one of {DEFORM_BACKENDS}")
    previous, _backend = _backend, name
    try:
        yield
    finally:
        _backend = previous


def current_deform_backend(device: torch.device) -> str:
    """The backend "auto" (or the environment, or the active block) resolves to on ``device``."""
    backend = _backend or os.environ.get("VSRCLI_DEFORM_BACKEND", "auto")
    if backend == "auto":
        return "fast" if device.type == "cpu" else "torchvision"
    return backend


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    padding: int = 1,
    dilation: int = 1,
    deform_groups: int = 1,
) -> torch.Tensor:
    """DCNv2 forward; ``deform_groups`` must agree with the offset's channel count (checked here)."""
    import torchvision.ops

    kh, kw = weight.shape[-2:]
    if offset.shape[1] != 2 * deform_groups * kh * kw or mask.shape[1] != deform_groups * kh * kw:
        raise ValueError(
            f"modulated_deform_conv2d: offset/mask have {offset.shape[1]}/{mask.shape[1]} channels, "
            f"expected {2 * deform_groups * kh * kw}/{deform_groups * kh * kw} for {deform_groups} groups"
        )
    if current_deform_backend(x.device) == "fast":
        from vsrcli.models.layers._deform_fast import deform_conv2d_fast

        try:
            # Sampling positions are float32 inside; the product runs in the autocast dtype, if any.
            return deform_conv2d_fast(x, offset, mask, weight, bias, stride, padding, dilation, deform_groups)
        except NotImplementedError:
            pass  # arguments the fast path does not cover: torchvision below
    dtype = x.dtype
    if autocast_enabled(x) or (x.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16)):
        # As torchvision's own CUDA autocast rule: compute in float32, return x's dtype. Its CPU kernel has
        # no half-precision version and no autocast rule at all, so this path covers CPU too.
        with autocast_off(x):
            out = torchvision.ops.deform_conv2d(
                x.float(),
                offset.float(),
                weight.float(),
                None if bias is None else bias.float(),
                stride=(stride, stride),
                padding=(padding, padding),
                dilation=(dilation, dilation),
                mask=mask.float(),
            )
        return out.to(dtype)
    return torchvision.ops.deform_conv2d(
        x,
        offset.to(dtype),
        weight,
        bias,
        stride=(stride, stride),
        padding=(padding, padding),
        dilation=(dilation, dilation),
        mask=mask.to(dtype),
    )


#: Elements per block of the channels_last -> NCHW copy of ``conv_offset`` outputs (see ``deform_from``):
#: 4 rows of 432 channels at width 320, about 2 MB, where one copy per 45-row band ran 2.4x slower.
_COPY_ELEMENTS = 4 * 432 * 320
# Samples (rows of a group's channels) the gathering DCN takes per band: 16 MB of float32.
_GATHER_ELEMENTS = 4 * 1024 * 1024
# Channels a deform group needs for the gathering DCN to beat grid_sample (measured, see deform_from).
_GATHER_MIN_CHANNELS = 16


class DeformConvBase(nn.Module):
    """Holds a DCNv2's ``weight`` and ``bias`` (the checkpoint keys) and applies it given offsets.

    Subclasses add their own ``conv_offset`` predictor; the EDVR PCD pack and BasicVSR++ second-order
    alignment both derive their offsets and masks through :meth:`offsets_and_mask`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        deform_groups: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = padding
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)

    def offsets_and_mask(
        self,
        out: torch.Tensor,
        max_magnitude: float | None = None,
        flow_priors: tuple[torch.Tensor, ...] = (),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Split a ``conv_offset`` output into (offset, mask), in float32 even under autocast.

        ``out`` has 3 equal chunks o1, o2, m: offset = cat(o1, o2), optionally bounded as
        ``max_magnitude * tanh(offset)``; each flow prior (N, 2, H, W) in (dx, dy) order is then added,
        flipped to (dy, dx), to its own equal slice of the offset channels; mask = sigmoid(m).
        """
        with autocast_off(out):
            # contiguous NCHW: on a channels_last slice every elementwise op below runs 2-4x slower
            fresh = not torch.is_grad_enabled()  # inference: the conv output is ours to overwrite
            out = out.float().contiguous()
            c = out.shape[1] // 3
            # cat(o1, o2) is the first 2/3 of the channels: sliced, not copied
            offset = out[:, : 2 * c]
            if max_magnitude is not None:
                # M tanh(o) computed as 2M sigmoid(2o) - M (equal within 1e-6 px): twice as quick as tanh on
                # a CPU; the same ops in place (inference) and out of place (training), so bitwise equal
                if fresh:
                    offset = offset.mul_(2.0).sigmoid_().mul_(2.0 * max_magnitude).sub_(max_magnitude)
                else:
                    offset = (offset * 2.0).sigmoid() * (2.0 * max_magnitude) - max_magnitude
            if flow_priors:
                # each prior is added to its own equal slice, to every (dy, dx) pair of it: one broadcast
                # add over a (N, priors, pairs, 2, H, W) view instead of chunk, repeat, add and cat
                n, _, h, w = offset.shape
                priors = torch.stack([flow.float().flip(1) for flow in flow_priors], dim=1).unsqueeze(2)
                if fresh and max_magnitude is not None:  # in place on the tanh output, itself in ``out``
                    offset.unflatten(1, (len(flow_priors), -1, 2)).add_(priors)
                else:
                    offset = (offset.reshape(n, len(flow_priors), -1, 2, h, w) + priors).view(n, 2 * c, h, w)
            mask = out[:, 2 * c :].sigmoid_() if fresh else torch.sigmoid(out[:, 2 * c :])
        return offset, mask

    def position_terms(
        self,
        h: int,
        w: int,
        max_magnitude: float | None,
        flow_priors: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What turns a pixel-major ``conv_offset`` output into absolute sampling positions in one product,
        ``pos = beta * o + terms @ mix``: ``terms`` (h w, 2 priors + 3) holds each flow prior in (dy, dx), the
        pixel's (y, x) and 1; ``mix`` (2 priors + 3, 2 G k k) adds each prior to its own equal slice of the
        groups, the pixel to every sample, and the kernel point (minus ``max_magnitude`` when bounded, for
        ``M tanh(o) = 2M sigmoid(2o) - M``) as a constant. Why: the same sums as broadcast additions over an
        inner dimension of 2 took 4x longer on a CPU than this one small-K matrix product."""
        g, k = self.deform_groups, self.kernel_size
        kk = k * k
        priors = len(flow_priors)
        dev = flow_priors[0].device if priors else self.weight.device
        terms = torch.empty((h * w, 2 * priors + 3), device=dev, dtype=torch.float32)
        for j, flow in enumerate(flow_priors):
            for d in range(2):  # the flow is (dx, dy); positions are (y, x)
                terms[:, 2 * j + d].view(h, w).copy_(flow[0, 1 - d])
        grid = terms[:, 2 * priors : 2 * priors + 2].view(h, w, 2)
        grid[..., 0].copy_(torch.arange(h, device=dev, dtype=torch.float32).view(h, 1))
        grid[..., 1].copy_(torch.arange(w, device=dev, dtype=torch.float32).view(1, w))
        terms[:, -1] = 1.0
        mix = torch.zeros((2 * priors + 3, g, kk, 2), device=dev, dtype=torch.float32)
        for j in range(priors):
            share = g // priors
            for d in range(2):
                mix[2 * j + d, j * share : (j + 1) * share, :, d] = 1.0
        for d in range(2):
            mix[2 * priors + d, :, :, d] = 1.0
        pad = k // 2
        point = torch.arange(k, device=dev, dtype=torch.float32) - pad
        mix[-1, :, :, 0] = point.repeat_interleave(k)
        mix[-1, :, :, 1] = point.repeat(k)
        if max_magnitude is not None:
            mix[-1] -= max_magnitude
        return terms, mix.view(2 * priors + 3, g * kk * 2)

    def deform_from(
        self,
        x: torch.Tensor | Sequence[torch.Tensor],
        feat: torch.Tensor,
        last_conv: nn.Conv2d,
        max_magnitude: float | None = None,
        flow_priors: tuple[torch.Tensor, ...] = (),
    ) -> torch.Tensor:
        """``conv_offset``'s last convolution on ``feat``, :meth:`offsets_and_mask`, then :meth:`deform`.

        At inference on the fast backend with channels_last features, all three run one band of output rows
        at a time, as the DCN consumes them: the band's convolution (from ``feat`` with a halo), its copy to
        NCHW and the offsets live in memory the allocator reuses. Whole-frame, the 432-channel output (100 MB
        at 180x320) was page-faulted anew on every call: on a 2-core EPYC its convolution took 164 ms where
        the bands take 137, and its NCHW copy 60 ms where the banded copies take 17.

        ``x`` may come as channel parts (whole groups each, e.g. features n-1 and n-2): the gathering DCN
        builds its table from them, and every other path concatenates them first.
        """
        parts = [x] if isinstance(x, torch.Tensor) else list(x)
        first = parts[0]
        pad = last_conv.padding
        banded = (
            not torch.is_grad_enabled()
            and current_deform_backend(first.device) == "fast"
            and is_channels_last(feat)
            and feat.shape[2:] == first.shape[2:]
            and self.kernel_size % 2 == 1  # "same" output size: the bands tile the frame's rows
            and self.padding == self.kernel_size // 2
            and last_conv.out_channels == 3 * self.deform_groups * self.kernel_size**2
            and isinstance(pad, tuple)
            and last_conv.kernel_size == (2 * pad[0] + 1, 2 * pad[1] + 1)
            and last_conv.stride == (1, 1)
            and last_conv.dilation == (1, 1)
            and last_conv.groups == 1
            and last_conv.padding_mode == "zeros"
        )
        whole = first if len(parts) == 1 else None
        if not banded:
            offset, mask = self.offsets_and_mask(last_conv(feat), max_magnitude, flow_priors)
            return self.deform(whole if whole is not None else torch.cat(parts, 1), offset, mask)
        from vsrcli.models.layers._deform_fast import deform_conv2d_bands, deform_conv2d_gather

        h, w = first.shape[2:]
        halo = int(pad[0])

        def band_conv(
            r0: int,
            r1: int,
            weight: torch.Tensor = last_conv.weight,
            bias: torch.Tensor | None = last_conv.bias,
        ) -> torch.Tensor:
            lo, hi = max(0, r0 - halo), min(h, r1 + halo)
            src = feat[:, :, lo:hi]
            if lo > r0 - halo or hi < r1 + halo:  # at the image's top or bottom: zero rows, as padding gives
                src = F.pad(src, (0, 0, lo - (r0 - halo), (r1 + halo) - hi))
                src = src.contiguous(memory_format=torch.channels_last)
            return F.conv2d(src, weight, bias, padding=(0, int(pad[1])))

        k, p = self.kernel_size, self.padding
        # Gathering pays where a group's channel row is long: per alignment call on a 2-core EPYC, 16 channels
        # a group took 44 ms against 61 (light x4) and 232 against 306 (light restorer); 8 took 457 against
        # 408 (official c64) and 3 took 229 against 185 (c24n3).
        cg = self.in_channels // self.deform_groups
        gather_row = cg >= _GATHER_MIN_CHANNELS and all(part.shape[1] % cg == 0 for part in parts)
        if (
            gather_row
            and first.device.type == "cpu"
            and all(part.dtype == torch.float32 for part in parts)
            and first.shape[0] == 1
        ):
            gk = self.deform_groups * k * k
            weight, bias = last_conv.weight, last_conv.bias
            if max_magnitude is not None:
                # the offset rows doubled, so one sigmoid over the whole output gives sigmoid(2o) and the mask
                double = torch.ones(weight.shape[0], device=weight.device, dtype=weight.dtype)
                double[: 2 * gk] = 2.0
                weight = weight * double.view(-1, 1, 1, 1)
                bias = bias * double if bias is not None else None
            terms, mix = self.position_terms(h, w, max_magnitude, flow_priors)
            beta = 2.0 * max_magnitude if max_magnitude is not None else 1.0

            def pixels(r0: int, r1: int) -> tuple[torch.Tensor, torch.Tensor]:
                out = band_conv(r0, r1, weight, bias)  # channels_last: the permuted view is pixel-major
                rows = out.permute(0, 2, 3, 1).reshape(-1, out.shape[1]).float()
                if max_magnitude is not None:
                    rows = rows.sigmoid_()  # the conv's fresh output
                    mask = rows[:, 2 * gk :]
                else:
                    mask = rows[:, 2 * gk :].sigmoid()
                pos = torch.addmm(rows[:, : 2 * gk], terms[r0 * w : r1 * w], mix, beta=beta)
                return pos, mask

            per_row = w * self.in_channels * k * k  # gathered samples a row of output needs
            band_rows = max(1, min(h, _GATHER_ELEMENTS // per_row))
            return deform_conv2d_gather(
                parts, pixels, self.weight, self.bias, k, self.deform_groups, band_rows
            )

        def band(r0: int, r1: int) -> tuple[torch.Tensor, torch.Tensor]:
            out = band_conv(r0, r1)
            piece = out.new_empty(out.shape, dtype=torch.float32)  # NCHW
            # the transposing copy a few rows at a time, each source block cache-sized (3x quicker than one
            # copy per band on that EPYC)
            step = max(1, _COPY_ELEMENTS // (out.shape[0] * out.shape[1] * out.shape[3]))
            for r in range(0, r1 - r0, step):
                piece[:, :, r : r + step].copy_(out[:, :, r : r + step])
            return self.offsets_and_mask(piece, max_magnitude, tuple(f[:, :, r0:r1] for f in flow_priors))

        return deform_conv2d_bands(
            whole if whole is not None else torch.cat(parts, 1),
            band,
            self.weight,
            self.bias,
            (k, k),
            (1, 1),
            (p, p),
            (1, 1),
            self.deform_groups,
            h,
            w,
        )

    def deform(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Apply the deformable convolution with this module's weights."""
        return modulated_deform_conv2d(
            x, offset, mask, self.weight, self.bias, 1, self.padding, 1, self.deform_groups
        )


class ModulatedDCNPack(DeformConvBase):
    """EDVR's DCN pack: offsets and mask predicted from a separate feature by one plain conv.

    No tanh bound and no flow prior; ``conv_offset`` outputs ``3 * G * k * k`` channels.
    """

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int = 8) -> None:
        super().__init__(in_channels, out_channels, 3, 1, deform_groups)
        self.conv_offset = nn.Conv2d(in_channels, deform_groups * 3 * 9, 3, 1, 1)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor, extra_feat: torch.Tensor) -> torch.Tensor:
        return self.deform_from(x, extra_feat, self.conv_offset)
