"""Modulated deformable convolution (DCNv2) from `grid_sample` plus one matrix product.

Why: torchvision's `deform_conv2d` CPU kernel is a scalar im2col loop that runs far below the machine's
convolution throughput and has no bf16 kernel. Here the bilinear sampling of the k*k shifted positions is done
by one `grid_sample` call with the deformable groups folded into the batch dimension (positions are always
float32), the mask is applied to the sampled columns, and the convolution itself becomes one batched matrix
product with the reshaped weight, which runs at BLAS speed and in bf16 under autocast. Backward comes from
autograd through these ops, so training needs no custom kernel.

Semantics (mmcv `ModulatedDeformConv2d` / `torchvision.ops.deform_conv2d`): offset channels are laid out
`[group][kernel point i*kw + j][(dy, dx)]`, mask channels `[group][kernel point]`; input channel c belongs to
deformable group `c // (C / G)`; the sample for output (h, w) and kernel point (i, j) is at
`(h*stride - pad + i*dil + dy, w*stride - pad + j*dil + dx)`, bilinear, each corner outside the image
contributes zero. `grid_sample(mode="bilinear", padding_mode="zeros")` has exactly these corner rules; we use
`align_corners=False` with the matching normalisation `(2p + 1)/size - 1`, which maps back to pixel p for
every size (including 1, where the align_corners=True normalisation degenerates).

One float32 image at inference takes :func:`deform_conv2d_gather` instead: the same sums, with the samples
gathered as contiguous channel rows by ``embedding_bag`` rather than plane by plane by ``grid_sample``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from vsrcli.models.layers.flow import is_channels_last

__all__ = [
    "BandOffsets",
    "PixelPositions",
    "deform_conv2d_bands",
    "deform_conv2d_fast",
    "deform_conv2d_gather",
]

# Above this many sampled column elements (N * C * k * k * H_out * W_out) the work is split over output rows,
# to bound the temporary memory and keep it cache- and allocator-friendly (16 M elements = 64 MB in float32;
# measured faster than one 256 MB pass at 180x320).
_MAX_COLUMN_ELEMENTS = 16 * 1024 * 1024


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise NotImplementedError(f"expected an int or a pair, got {value!r}")
    return int(value[0]), int(value[1])


def deform_conv2d_fast(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    deform_groups: int | None = None,
) -> torch.Tensor:
    """Modulated deformable convolution, same result as `torchvision.ops.deform_conv2d`.

    Shapes: x (N, C, H, W); offset (N, 2*G*kh*kw, Ho, Wo); mask (N, G*kh*kw, Ho, Wo) or None (all ones);
    weight (O, C, kh, kw) (convolution groups must be 1); bias (O,) or None. `deform_groups` defaults to what
    the offset's channel count implies. Raises NotImplementedError for arguments this implementation does not
    cover (grouped weights), so a dispatcher can fall back to another backend.
    """
    if x.dim() != 4 or offset.dim() != 4 or weight.dim() != 4:
        raise NotImplementedError("deform_conv2d_fast expects 4-D input, offset and weight")
    n, c, h, w = x.shape
    out_ch, c_w, kh, kw = weight.shape
    if c_w != c:
        raise NotImplementedError("grouped convolution weights are not supported by deform_conv2d_fast")
    kk = kh * kw
    if deform_groups is None:
        if offset.shape[1] % (2 * kk):
            raise ValueError(f"offset has {offset.shape[1]} channels, not a multiple of 2*{kk}")
        deform_groups = offset.shape[1] // (2 * kk)
    g = int(deform_groups)
    if g < 1 or c % g:
        raise ValueError(f"{c} input channels cannot be split into {g} deformable groups")
    if offset.shape[1] != 2 * g * kk:
        raise ValueError(f"offset has {offset.shape[1]} channels, expected 2*{g}*{kk} = {2 * g * kk}")
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"input {h}x{w} is too small for this kernel, padding and dilation")
    if offset.shape[0] != n or offset.shape[2:] != (ho, wo):
        raise ValueError(
            f"offset shape {tuple(offset.shape)} does not match output size ({n}, *, {ho}, {wo})"
        )
    if mask is not None and (mask.shape[0] != n or mask.shape[1] != g * kk or mask.shape[2:] != (ho, wo)):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match ({n}, {g * kk}, {ho}, {wo})")

    def band(r0: int, r1: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return offset[:, :, r0:r1], None if mask is None else mask[:, :, r0:r1]

    return deform_conv2d_bands(x, band, weight, bias, (kh, kw), (sh, sw), (ph, pw), (dh, dw), g, ho, wo)


#: Gives the offset and mask of output rows r0..r1-1: (N, 2*G*kh*kw, r1-r0, Wo) and (N, G*kh*kw, r1-r0, Wo).
BandOffsets = Callable[[int, int], tuple[torch.Tensor, torch.Tensor | None]]


def deform_conv2d_bands(
    x: torch.Tensor,
    offsets: BandOffsets,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    deform_groups: int,
    ho: int,
    wo: int,
) -> torch.Tensor:
    """The DCN one band of output rows at a time, asking ``offsets`` for each band's offsets and mask.

    Why bands: the sampled columns of a band stay under ``_MAX_COLUMN_ELEMENTS``, and a caller that derives
    the offsets (tanh, flow priors, sigmoid, a layout change) can do that work on one band too, in memory the
    allocator reuses instead of whole-frame buffers that are page-faulted anew on every call. Arguments are
    not checked here (``deform_conv2d_fast`` does). The result is channels_last when ``x`` or ``weight`` is:
    the product comes out pixel-major, so that layout costs nothing and the next channels_last convolution
    needs no reorder; otherwise it is the contiguous NCHW tensor torchvision returns.
    """
    n, c = x.shape[:2]
    kk = kernel[0] * kernel[1]
    out_ch = weight.shape[0]
    rows = max(1, min(ho, _MAX_COLUMN_ELEMENTS // max(n * c * kk * wo, 1)))
    record = torch.is_grad_enabled()
    parts: list[torch.Tensor] = []
    out: torch.Tensor | None = None
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        offset, mask = offsets(r0, r1)
        part = _deform_rows(
            x, offset, mask, weight, deform_groups, kernel, stride, padding, dilation, r0, r1, wo
        )
        if record or (r0 == 0 and r1 == ho):
            parts.append(part)  # autograd records a cat; a single band is the result itself
        else:
            if out is None:
                out = part.new_empty((n, ho, wo, out_ch))
            out[:, r0:r1] = part
    result = out if out is not None else parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    # (n, ho, wo, O) pixel-major
    if bias is not None:
        b = bias.to(result.dtype)
        result = result + b if record else result.add_(b)
    result = result.permute(0, 3, 1, 2)
    return result if is_channels_last(x) or is_channels_last(weight) else result.contiguous()


def _deform_rows(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    g: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    r0: int,
    r1: int,
    wo: int,
) -> torch.Tensor:
    """Output rows r0..r1-1 as (n, rows, wo, O), no bias, from that band's offset and mask: sample the
    columns, apply the mask, multiply by the weight."""
    n, c, h, w = x.shape
    kh, kw = kernel
    kk = kh * kw
    cg = c // g
    rows = r1 - r0
    length = rows * wo
    # Positions are float32 (or float64 for float64 input): bf16 cannot even represent pixel 257.5.
    pos_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    dev = x.device

    # Normalised grid_sample coordinate of every sample: u = p * 2/size + (1/size - 1) with p = base + offset,
    # computed as one fused multiply-add from a precomputed normalised base (kk, 2, rows, wo).
    oy = torch.arange(r0, r1, device=dev, dtype=pos_dtype) * stride[0] - padding[0]
    ox = torch.arange(wo, device=dev, dtype=pos_dtype) * stride[1] - padding[1]
    ky = (torch.arange(kh, device=dev, dtype=pos_dtype) * dilation[0]).repeat_interleave(kw)
    kx = (torch.arange(kw, device=dev, dtype=pos_dtype) * dilation[1]).repeat(kh)
    base_y = (ky.view(kk, 1, 1) + oy.view(1, rows, 1)) * (2.0 / h) + (1.0 / h - 1.0)
    base_x = (kx.view(kk, 1, 1) + ox.view(1, 1, wo)) * (2.0 / w) + (1.0 / w - 1.0)
    scale_y = torch.tensor(2.0 / h, device=dev, dtype=pos_dtype)
    scale_x = torch.tensor(2.0 / w, device=dev, dtype=pos_dtype)

    # one band of rows in NCHW (a no-op for NCHW offsets; the transposing copy of a channels_last band)
    off = offset.to(pos_dtype).contiguous().view(n, g, kk, 2, rows, wo)
    if torch.is_grad_enabled() and off.requires_grad:
        gx = torch.addcmul(base_x, off[:, :, :, 1], scale_x)
        gy = torch.addcmul(base_y, off[:, :, :, 0], scale_y)
        grid = torch.stack((gx, gy), dim=-1).view(n * g, kk * rows, wo, 2)
    else:
        # grid_sample's (x, y) grid, each half written in place by one fused multiply-add: no stacked copy
        grid6 = torch.empty((n, g, kk, rows, wo, 2), device=dev, dtype=pos_dtype)
        torch.addcmul(base_x, off[:, :, :, 1], scale_x, out=grid6[..., 0])
        torch.addcmul(base_y, off[:, :, :, 0], scale_y, out=grid6[..., 1])
        grid = grid6.view(n * g, kk * rows, wo, 2)

    xs = x.to(pos_dtype) if x.dtype != pos_dtype else x
    sampled = F.grid_sample(
        xs.reshape(n * g, cg, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )  # (n*g, cg, kk*rows, wo)
    cols = sampled.view(n, g, cg, kk, length)
    if mask is not None:
        m = mask.to(cols.dtype).contiguous().view(n, g, 1, kk, length)
        # In place when no gradient is recorded: saves a second column-sized buffer in inference.
        cols = cols.mul_(m) if not torch.is_grad_enabled() else cols * m
    # Column index c*kk + k matches weight.view(O, C*kk) because c = group*cg + channel-in-group.
    cols = cols.reshape(n, c * kk, length)
    wmat = weight.reshape(weight.shape[0], c * kk)
    compute_dtype = torch.promote_types(x.dtype, weight.dtype)
    if torch.is_autocast_enabled(dev.type):
        compute_dtype = torch.get_autocast_dtype(dev.type)
    wmat, cols = wmat.to(compute_dtype), cols.to(compute_dtype)
    # One image (inference): the product as (length, C*kk) @ (C*kk, O). BLAS reads both operands
    # transposed, no copy, and the result comes out pixel-major (channels_last): 167 GFLOP/s on a 2-core
    # EPYC at 64 x 1152 x 14400, against 116 for weight @ columns. A batch (training) keeps weight @ columns
    # as one bmm with a broadcast (stride-0) weight: the transposed bmm made forward + backward 3x slower
    # there, and torch.matmul would fold the batch into rows by copying the whole column tensor.
    if n == 1:
        return torch.mm(cols[0].t(), wmat.t()).view(1, rows, wo, weight.shape[0])
    out = torch.bmm(wmat.unsqueeze(0).expand(n, -1, -1), cols)  # (n, O, length)
    return out.view(n, weight.shape[0], rows, wo).permute(0, 2, 3, 1)


#: Gives the sampling positions and mask of output rows r0..r1-1 pixel-major, float32, free to overwrite:
#: (P, G, k*k, 2) absolute (y, x) input coordinates (kernel point and offset included) and (P, G, k*k),
#: P = (r1 - r0) * Wo. The mask may be a strided view.
PixelPositions = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]


def deform_conv2d_gather(
    x: torch.Tensor | Sequence[torch.Tensor],
    positions: PixelPositions,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    kernel_size: int,
    deform_groups: int,
    band_rows: int,
) -> torch.Tensor:
    """Inference DCN (stride 1, "same" padding, one float32 image) that gathers whole channel rows.

    Why: ``grid_sample`` reads an NCHW input one channel plane at a time, a scattered load per channel and
    corner, and was 60% of a DCN call in the light x4 network. Here the input is one channels-last table with
    a zero border, so each bilinear corner is a contiguous row of the group's channels, and
    ``embedding_bag`` sums the four rows of every sample with per-sample weights that fold in the mask, in
    one vectorised kernel. Positions come absolute and pixel-major (the caller folds kernel points, pixel
    coordinates and flow priors into the offsets in one product), so no transposing copy and no broadcast
    additions are made here. Same result as :func:`deform_conv2d_fast` up to float rounding (its normalised
    grid coordinates round differently, ~1e-5 px): a corner outside the image counts zero; a position is
    clamped to [-1, size] first, which changes nothing since beyond that both of its corners are zero border.
    ``x`` may come as channel parts of whole groups each, copied into the table without concatenating them.
    """
    parts = [x] if isinstance(x, torch.Tensor) else list(x)
    h, w = parts[0].shape[2:]
    c = sum(part.shape[1] for part in parts)
    kk = kernel_size * kernel_size
    g = deform_groups
    cg = c // g
    out_ch = weight.shape[0]
    width = w + 3  # one zero column on the left, two on the right (a position clamped to w reads w and w + 1)
    plane = (h + 3) * width
    table = parts[0].new_zeros((g, h + 3, width, cg))
    first = 0
    for part in parts:
        groups = part.shape[1] // cg
        inner = table[first : first + groups, 1 : h + 1, 1 : w + 1]
        inner.copy_(part[0].view(groups, cg, h, w).permute(0, 2, 3, 1))
        first += groups
    table = table.view(g * plane, cg)
    # the product's columns in the gathered order (group, kernel point, channel)
    wmat = weight.view(out_ch, g, cg, kk).transpose(2, 3).reshape(out_ch, g * kk * cg).t()
    dev = parts[0].device
    # Table row of (group, sample, corner) = group * plane + (y + 1) * width + (x + 1) + corner offset, from
    # the floored (y, x) of every sample in one small product: exact (integers below 2^24 in float32), and
    # 1.6x quicker than the same sums as broadcast additions over inner dimensions of 1 and 4.
    to_rows = torch.zeros((g * kk, 2, g * kk, 4), device=dev, dtype=torch.float32)
    to_rows_const = torch.zeros((g * kk, 4), device=dev, dtype=torch.float32)
    corners = torch.tensor([0.0, 1.0, width, width + 1.0], device=dev)
    for j in range(g * kk):
        to_rows[j, 0, j] = float(width)
        to_rows[j, 1, j] = 1.0
        to_rows_const[j] = corners + (j // kk) * plane + (width + 1)
    to_rows = to_rows.view(2 * g * kk, 4 * g * kk)
    to_rows_const = to_rows_const.view(1, 4 * g * kk)
    out = parts[0].new_empty((1, h, w, out_ch))
    for r0 in range(0, h, band_rows):
        r1 = min(h, r0 + band_rows)
        length = (r1 - r0) * w
        pos, mask = positions(r0, r1)
        pos = pos.view(length, g, kk, 2)
        # one scalar bound per coordinate: a (lower, upper) tensor pair takes a 3x slower broadcasting path
        pos[..., 0].clamp_(-1.0, float(h))
        pos[..., 1].clamp_(-1.0, float(w))
        top_left = pos.floor()
        frac = pos.sub_(top_left)
        index = torch.addmm(to_rows_const, top_left.view(length, 2 * g * kk), to_rows).to(torch.int32)
        fy, fx = frac[..., 0], frac[..., 1]
        mask = mask.view(length, g, kk)
        below = fy.mul_(mask)  # weight of the lower corner row, the mask folded in
        above = mask.sub_(below)
        weights = torch.empty((length, g, kk, 4), device=dev, dtype=torch.float32)
        torch.mul(above, fx, out=weights[..., 1])
        torch.sub(above, weights[..., 1], out=weights[..., 0])
        torch.mul(below, fx, out=weights[..., 3])
        torch.sub(below, weights[..., 3], out=weights[..., 2])
        gathered = F.embedding_bag(
            index.view(-1, 4), table, per_sample_weights=weights.view(-1, 4), mode="sum"
        )  # (P * g * kk, cg)
        torch.mm(gathered.view(length, g * kk * cg), wmat, out=out[0, r0:r1].view(length, out_ch))
    if bias is not None:
        out.add_(bias)
    return out.permute(0, 3, 1, 2)
