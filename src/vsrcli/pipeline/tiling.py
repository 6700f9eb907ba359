"""Size rules and spatial tiles: pad to what the network accepts, run it tile by tile, blend, crop back.

Recurrent networks need every frame of a window in one call, so a tile is a spatial crop of the whole window
(all T frames). Tiles overlap by ``tile_overlap`` input pixels and are blended with linear feathers, so no
seam is visible; on an out-of-memory error the same window is retried with smaller tiles, never skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vsrcli.errors import OutOfMemoryError
from vsrcli.pipeline.device import free_memory_bytes, is_out_of_memory, release_cached_memory

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

DEFAULT_TILE_OVERLAP = 16


@dataclass(frozen=True)
class SizeRules:
    """What a network accepts: ``scale``, smallest side, side multiple and fewest frames per call; and
    whether it restores each frame on its own (``independent``: no context frames are ever run)."""

    scale: int = 1
    min_size: int = 1
    size_multiple: int = 1
    min_frames: int = 1
    independent: bool = False

    @classmethod
    def of(cls, model: object) -> SizeRules:
        """Read the network-contract attributes (with safe defaults for foreign modules)."""
        return cls(
            scale=int(getattr(model, "scale", 1)),
            min_size=int(getattr(model, "min_size", 1)),
            size_multiple=max(1, int(getattr(model, "size_multiple", 1))),
            min_frames=max(1, int(getattr(model, "min_frames", 1))),
            independent=bool(getattr(model, "frame_independent", False)),
        )

    def padded(self, size: int) -> int:
        """Smallest accepted side length >= ``size``."""
        size = max(size, self.min_size)
        return math.ceil(size / self.size_multiple) * self.size_multiple

    def smallest_tile(self) -> int:
        """Tiles below this are pointless: padding would dominate (the network's minimum, at least 16)."""
        return self.padded(max(self.min_size, 16))


def user_tile(tile: int, tile_overlap: int, rules: SizeRules) -> tuple[int | None, str | None]:
    """The tile to use for ``--tile`` (0: none) and a note when it had to be raised.

    Why: a tile below the network's minimum is padded up to it anyway, and one at most twice the overlap
    advances by a pixel or two, so ``--tile 1`` or ``--tile 16 --tile-overlap 40`` would make thousands of
    calls per frame. Such a tile is raised to the smallest useful one (as automatic tiles are), which also
    keeps the overlap below half the tile.
    """
    if tile == 0:
        return None, None
    floor = max(rules.smallest_tile(), 2 * tile_overlap)
    floor = math.ceil(floor / rules.size_multiple) * rules.size_multiple
    if tile >= floor:
        return tile, None
    why = f"this model's smallest useful tile with --tile-overlap {tile_overlap}"
    return floor, f"--tile {tile} is below {why}; using {floor}-pixel tiles"


def pad_spatial(x: torch.Tensor, height: int, width: int, mode: str = "replicate") -> torch.Tensor:
    """Pad (N, T, C, h, w) at the bottom and right to (height, width); reflect falls back to replicate."""
    import torch.nn.functional as F

    n, t, c, h, w = x.shape
    ph, pw = height - h, width - w
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    flat = x.reshape(n * t, c, h, w)
    return F.pad(flat, (0, pw, 0, ph), mode=mode).reshape(n, t, c, height, width)


def pad_temporal(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Extend (N, T, ...) to ``frames`` by mirroring the end of the clip (replicating when T is 1)."""
    import torch

    t = x.shape[1]
    if t >= frames:
        return x
    order = list(range(t))
    step = -1
    i = t - 1
    while len(order) < frames:
        if t == 1:
            order.append(0)
            continue
        i += step
        if i < 0 or i >= t:
            step = -step
            i += 2 * step
        order.append(i)
    return x[:, torch.tensor(order, device=x.device)]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of ``tile``-sized tiles covering [0, length); neighbours share >= ``overlap`` pixels."""
    if tile >= length:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def tiled_area(height: int, width: int, tile: int | None, overlap: int) -> int:
    """Pixels the network computes for one (padded) frame split into ``tile``-sized tiles: the overlaps are
    computed twice, so this over ``height * width`` is what tiling costs."""
    if tile is None:
        return height * width
    rows = len(tile_starts(height, tile, overlap))
    cols = len(tile_starts(width, tile, overlap))
    return rows * min(tile, height) * cols * min(tile, width)


def feather(length: int, start: int, size: int, overlap: int, scale: int) -> torch.Tensor:
    """1-D blend weights of one tile in output pixels: linear ramps over the overlap where it meets another
    tile, 1 elsewhere; strictly positive so every pixel has weight."""
    import torch

    out = size * scale
    ramp_len = max(1, overlap * scale)
    weight = torch.ones(out)
    ramp = (torch.arange(ramp_len, dtype=torch.float32) + 1.0) / (ramp_len + 1.0)
    ramp_len = min(ramp_len, out)
    if start > 0:
        weight[:ramp_len] = torch.minimum(weight[:ramp_len], ramp[:ramp_len])
    if start + size < length:
        weight[out - ramp_len :] = torch.minimum(weight[out - ramp_len :], ramp[:ramp_len].flip(0))
    return weight


def _forward(
    model: nn.Module,
    x: torch.Tensor,
    rules: SizeRules,
    device: torch.device,
    dtype: torch.dtype,
    keep: slice | None = None,
) -> torch.Tensor:
    """One network call on (1, T, C, h, w) floats: pad (space and time) on the device, run, crop, return
    the ``keep`` frames (default all T) as a (K, 3, s*h, s*w) view of the output, on the device, in the
    network's dtype. Context frames are never converted or copied."""
    import torch

    _, t, _, h, w = x.shape
    x = x.to(device, non_blocking=True)
    height, width = rules.padded(h), rules.padded(w)
    x = pad_temporal(pad_spatial(x, height, width), max(t, rules.min_frames))
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        y = model(x)
    s = rules.scale
    return y[0, :t][keep or slice(None), :, : h * s, : w * s]


def blend_device(device: torch.device, acc_bytes: int) -> torch.device:
    """Where tiles are blended: on the device when the window's float32 accumulator takes at most a quarter
    of its free memory, else in host memory. Why: tiles bound the network's memory, not the accumulator's
    (40 kept 1080p frames at x4 are 16 GB in float32), so a GPU that needs tiles may not hold it."""
    import torch

    if device.type == "cpu" or acc_bytes <= 0.25 * free_memory_bytes(device):
        return device
    return torch.device("cpu")


def run_tiled(
    model: nn.Module,
    x: torch.Tensor,
    *,
    rules: SizeRules,
    device: torch.device,
    dtype: torch.dtype,
    tile: int | None,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    keep: slice | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Restore (1, T, C, h, w) in [0, 1] and return the ``keep`` frames as (K, 3, s*h, s*w) on ``device``.

    ``tile`` is the tile side in input pixels (None: whole frame). Tiles are blended on the device in
    float32; a whole frame comes back in the network's dtype (``transfer.to_codes`` converts it).
    ``on_tile(done, total)`` follows every network call, so progress can move within a long window.
    """
    import torch

    _, t, _, h, w = x.shape
    keep = keep or slice(0, t)
    s = rules.scale
    if tile is None or (tile >= h and tile >= w):
        whole = _forward(model, x, rules, device, dtype, keep)
        if on_tile is not None:
            on_tile(1, 1)
        return whole
    x = x.to(device, non_blocking=True)
    th, tw = min(tile, h), min(tile, w)
    overlap = max(0, min(tile_overlap, th - 1, tw - 1))
    calls, done = len(tile_starts(h, th, overlap)) * len(tile_starts(w, tw, overlap)), 0
    frames = len(range(x.shape[1])[keep])
    blend = blend_device(device, frames * 3 * h * s * w * s * 4)
    acc = torch.zeros(frames, 3, h * s, w * s, device=blend)
    norm = torch.zeros(1, 1, h * s, w * s, device=blend)
    for y0 in tile_starts(h, th, overlap):
        wy = feather(h, y0, th, overlap, s).to(blend)
        for x0 in tile_starts(w, tw, overlap):
            wx = feather(w, x0, tw, overlap, s).to(blend)
            out = _forward(model, x[:, :, :, y0 : y0 + th, x0 : x0 + tw], rules, device, dtype, keep)
            weight = (wy[:, None] * wx[None, :])[None, None]
            rows, cols = slice(y0 * s, (y0 + th) * s), slice(x0 * s, (x0 + tw) * s)
            acc[:, :, rows, cols].addcmul_(out.to(blend, torch.float32), weight)
            norm[:, :, rows, cols] += weight
            del out
            done += 1
            if on_tile is not None:
                on_tile(done, calls)
    return acc.div_(norm)


def working_set_bytes(
    model: nn.Module, rules: SizeRules, frames: int, height: int, width: int, dtype: torch.dtype
) -> float:
    """Bytes one call allocates on the device for ``frames`` frames of (height, width) input pixels.

    The data path's own tensors: the integer codes (3 bytes a pixel), the float32 input and its padded copy
    (up to 4 channels with a noise map), and per output pixel the network's output, its float32 conversion
    and the output codes (counted at 4 + 4 + 1 bytes, whatever the precision). The network's own working
    set comes from its ``memory_per_pixel(elem_bytes)`` where it has one (bicubic: its float passes);
    otherwise from the BasicVSR++ family: five feature maps of ``mid_channels`` per frame (the four
    propagation branches and the spatial features) at the feature resolution, in the compute dtype (under
    bf16/fp16 autocast they are half: warping and alignment hand back their input's dtype, tested in
    ``test_transfer.py``), and two float32 flows (flows, grids and offsets never leave float32).
    """
    import torch

    elem = 4 if dtype == torch.float32 else 2
    pixels = rules.padded(height) * rules.padded(width)
    data_path = 3 + 2 * 4 * 4 + rules.scale**2 * 3 * (4 + 4 + 1)
    own = getattr(model, "memory_per_pixel", None)
    if callable(own):
        network = float(own(elem))
    else:
        mid = int(getattr(model, "mid_channels", 64))
        feat_px = 1.0 / 16 if rules.scale == 1 and rules.min_size >= 256 else 1.0
        network = 5 * mid * elem * feat_px + 2 * 2 * 4
    return frames * pixels * (data_path + network)


#: Headroom over :func:`working_set_bytes` for transient buffers (convolution workspaces, temporaries). On an
#: H200 one untiled c64n7 window peaked at 1.43x the model in float32 and 1.21x in half (gpu_check.py).
WORKSPACE_FACTOR = 2.0


def frames_that_fit(
    model: nn.Module, rules: SizeRules, height: int, width: int, device: torch.device, dtype
) -> int:
    """The longest window (frames) that :func:`auto_tile` would leave untiled: the working set grows
    linearly with the frames, so one reading of free memory answers for every window length."""
    budget = 0.5 * free_memory_bytes(device)
    per_frame = WORKSPACE_FACTOR * working_set_bytes(model, rules, 1, height, width, dtype)
    return int(budget // per_frame)


def auto_tile(
    model: nn.Module, rules: SizeRules, frames: int, height: int, width: int, device: torch.device, dtype
) -> int | None:
    """Largest tile side (input pixels) whose working set (with ``WORKSPACE_FACTOR`` headroom) fits half the
    free memory; None when the whole frame fits."""
    budget = 0.5 * free_memory_bytes(device)
    need = WORKSPACE_FACTOR * working_set_bytes(model, rules, frames, height, width, dtype)
    if need <= budget:
        return None
    # the window's codes and float input stay whole whatever the tile; the rest shrinks with its area
    pixels = rules.padded(height) * rules.padded(width)
    fixed = WORKSPACE_FACTOR * frames * pixels * (3 + 2 * 4 * 4)
    per_px = (need - fixed) / pixels
    side = int(math.sqrt(max(budget - fixed, 0.0) / per_px))
    side -= side % 8
    return max(side, rules.smallest_tile())


def restore_window(
    model: nn.Module,
    x: torch.Tensor,
    *,
    rules: SizeRules,
    device: torch.device,
    dtype: torch.dtype,
    tile: int | None,
    tile_overlap: int,
    keep: slice | None = None,
    on_retry: Callable[[int], None] | None = None,
    on_tile: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, int | None]:
    """:func:`run_tiled` with out-of-memory recovery: halve the tile and retry the same frames until the
    smallest useful tile also fails, then raise OutOfMemoryError. Returns the output and the tile that worked.
    """
    _, _, _, h, w = x.shape
    floor = rules.smallest_tile()
    while True:
        try:
            return run_tiled(
                model,
                x,
                rules=rules,
                device=device,
                dtype=dtype,
                tile=tile,
                tile_overlap=tile_overlap,
                keep=keep,
                on_tile=on_tile,
            ), tile
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            release_cached_memory(device)
            current = max(h, w) if tile is None else min(tile, max(h, w))
            smaller = current // 2
            smaller -= smaller % rules.size_multiple
            if current <= floor or smaller < 1:
                raise OutOfMemoryError(
                    f"out of memory on {device} even with {current}-pixel tiles",
                    hint="try --device cpu, --precision fp16/bf16 or a smaller --chunk",
                ) from exc
            tile = max(smaller, floor)
            if on_retry is not None:
                on_retry(tile)
