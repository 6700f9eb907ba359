"""The restoration engine shared by ``restore_video`` and the batch workers.

An :class:`Engine` is a loaded model plus everything one run decides about it: device and precision, the
task and scale check, the noise level of a noise-conditioned denoiser, the automatic tile, and the identity
a resumed run must match. A :class:`WindowRestorer` turns the decoded frames of one window into its output
frames and cross-fades the seam with the previous window. The single-file pipeline streams windows through
it; a batch worker runs the windows of its segment through the very same object, so both write the same
frames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsrcli.errors import UsageError
from vsrcli.pipeline.chunking import Window, fade_weights
from vsrcli.pipeline.noise import NOISE_FRAMES, estimate_sigma, is_noise_conditioned
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.tiling import (
    SizeRules,
    auto_tile,
    frames_that_fit,
    restore_window,
    tiled_area,
    user_tile,
)
from vsrcli.pipeline.transfer import HostBuffers, peak_of, to_codes, to_unit

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from vsrcli.pipeline.streams import FrameSource

#: Window length for a network that restores each frame on its own (see ``Engine.windows``).
INDEPENDENT_CHUNK = 8

#: ``progress(done_bytes, total_bytes_or_None)`` while weights download.
DownloadCallback = Callable[[int, "int | None"], None]


def crossfade(prev_tail: np.ndarray, core: np.ndarray) -> np.ndarray:
    """Blend the previous window's outputs into the first frames of this core (new weight rising)."""
    f = len(prev_tail)
    if f == 0:
        return core
    w = fade_weights(f)[:, None, None, None]
    peak = np.iinfo(core.dtype).max
    mixed = w * core[:f].astype(np.float32) + (1.0 - w) * prev_tail.astype(np.float32)
    core = core.copy()
    core[:f] = np.clip(np.rint(mixed), 0, peak).astype(core.dtype)
    return core


def load_network(
    spec: Any,
    weights: str | Path | None,
    device: torch.device,
    *,
    download: bool,
    on_download: DownloadCallback | None = None,
) -> tuple[nn.Module, str]:
    """An nn.Module as given, or a zoo name / checkpoint path through ``load_model``; with its name."""
    if isinstance(spec, (str, Path)):
        from vsrcli.models.api import load_model

        net = load_model(
            str(spec), weights=weights, device=str(device), download=download, progress=on_download
        )
        return net, str(spec)
    if spec is None:
        raise UsageError("no model given", hint="pass --model NAME|PATH")
    return spec, type(spec).__name__


@dataclass
class Engine:
    """A model ready to restore windows under one set of options."""

    options: RestoreOptions
    net: nn.Module
    name: str
    rules: SizeRules
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def load(
        cls,
        options: RestoreOptions,
        *,
        device: str | None = None,
        on_download: DownloadCallback | None = None,
    ) -> Engine:
        """Resolve device and precision, load the model, and refuse a model that does not fit the task.

        ``device`` overrides ``options.device`` for an engine that only inspects the model (the batch
        driver, on the CPU, in float32): the workers resolve the asked device and precision themselves.
        """
        from vsrcli.device import resolve_device, resolve_precision

        spec = options.model_spec()
        if spec is None:
            raise UsageError(
                f"{options.task} needs --model NAME|PATH: no default model is shipped for it yet",
                hint="see `vsrcli models list`",
            )
        dev = resolve_device(device or options.device)
        dtype = resolve_precision(options.precision if device is None else "fp32", dev)
        net, name = load_network(
            spec, options.weights, dev, download=options.download, on_download=on_download
        )
        net = net.eval()
        first_param = next(net.parameters(), None)
        if first_param is not None and first_param.device != dev:
            net = net.to(dev)
        rules = SizeRules.of(net)
        if options.task == "upscale" and rules.scale == 1:
            raise UsageError(
                f"model {name} restores at the same size; use `vsrcli denoise`, `deblur` or `decompress` "
                "(batch: --task)"
            )
        if options.task != "upscale" and rules.scale != 1:
            raise UsageError(
                f"model {name} upscales x{rules.scale}; use `vsrcli upscale` (batch: --task upscale)"
            )
        return cls(options, net, name, rules, dev, dtype)

    @property
    def precision_name(self) -> str:
        return str(self.dtype).replace("torch.", "")

    @property
    def conditioned(self) -> bool:
        """True for a denoiser told the noise level through a fourth input channel."""
        return is_noise_conditioned(self.net)

    def resolve_sigma(self, source: FrameSource, warnings: list[str]) -> tuple[float | None, bool]:
        """The noise level to feed (0-255 scale), and whether it was estimated from the first frames."""
        sigma = self.options.sigma
        if not self.conditioned:
            if sigma not in (None, "auto"):
                warnings.append("this model is blind (estimates the noise itself); --sigma was ignored")
            return None, False
        if sigma is None or sigma == "auto":
            return estimate_sigma(source.head(NOISE_FRAMES)), True
        return float(sigma), False

    def user_tile(self, warnings: list[str] | None = None) -> int | None:
        """The asked ``--tile`` (0: none), raised to this model's smallest useful tile (a note in
        ``warnings`` says so); None when the tile is automatic."""
        if self.options.tile is None:
            return None
        tile, note = user_tile(self.options.tile, self.options.tile_overlap, self.rules)
        if note and warnings is not None and note not in warnings:
            warnings.append(note)
        return tile

    def tile_for(
        self, height: int, width: int, warnings: list[str] | None = None, frames: int | None = None
    ) -> int | None:
        """The tile side for frames of this size: as asked (never below the smallest useful tile), or from
        free memory for a whole window (of at most ``frames``, the clip's length where known)."""
        if self.options.tile is not None:
            return self.user_tile(warnings)
        return auto_tile(
            self.net, self.rules, self.window_frames(frames), height, width, self.device, self.dtype
        )

    def window_frames(self, frames: int | None = None, chunk: int | None = None) -> int:
        """Frames in one network call: a chunk and its context on both sides, or the whole clip if shorter."""
        if self.rules.independent:  # frame by frame
            return 1
        o = self.options
        window = (chunk or o.chunk) + 2 * o.overlap
        return window if frames is None else max(1, min(window, frames))

    def fit_window(
        self, height: int, width: int, warnings: list[str] | None = None, frames: int | None = None
    ) -> tuple[int | None, int]:
        """``(tile, chunk)`` for a clip of ``frames`` frames of this size: :meth:`tile_for`, except that on
        the CPU a window too big for memory is shortened instead of tiled when that recomputes less. Tiles
        recompute their overlaps and small ones run the convolutions inefficiently (an automatic tile halved
        the light x4 model's speed at 640x360 on a 24 GiB machine); a shorter window recomputes only its
        context frames."""
        o = self.options
        tile = self.tile_for(height, width, warnings, frames)
        if tile is None or o.tile is not None or self.device.type != "cpu" or self.rules.independent:
            return tile, o.chunk
        ph, pw = self.rules.padded(height), self.rules.padded(width)
        spatial = tiled_area(ph, pw, tile, o.tile_overlap) / (ph * pw)

        def computed_per_kept(chunk: int) -> float:
            return self.window_frames(frames, chunk) / (chunk if frames is None else min(chunk, frames))

        # the longest chunk whose window fits untiled, never shorter than its context on one side
        fit = frames_that_fit(self.net, self.rules, height, width, self.device, self.dtype)
        chunk = min(o.chunk - 1, fit - 2 * o.overlap)
        if chunk >= max(1, o.overlap) and computed_per_kept(chunk) / computed_per_kept(o.chunk) < spatial:
            if warnings is not None:
                warnings.append(f"windows of {chunk} frames (not {o.chunk}) to fit memory untiled")
            return None, chunk
        return tile, o.chunk

    def windows(self, chunk: int | None = None) -> tuple[int, int, int]:
        """(chunk, overlap, fade) of the streaming loop (``chunk``: as :meth:`fit_window` chose). A network
        that restores frames independently needs no context and gains nothing from long windows: short
        windows with no overlap let encoding start at once and keep the encoder busy to the end (the output
        is the same frames either way)."""
        o = self.options
        if self.rules.independent:
            return min(o.chunk, INDEPENDENT_CHUNK), 0, 0
        return chunk or o.chunk, o.overlap, o.fade

    def identity(
        self, level: float | None, start: int | None, end: int | None, **recorded: Any
    ) -> dict[str, Any]:
        """Every setting that changes the pixels: a resumed run continues only when all of them match."""
        from vsrcli.pipeline.resume import model_fingerprint

        o = self.options
        return {
            "model": model_fingerprint(self.net),
            "task": o.task,
            "chunk": recorded.get("chunk", o.chunk),
            "overlap": o.overlap,
            "fade": o.fade,
            "tile": o.tile,
            "tile_overlap": o.tile_overlap,
            "start": start,
            "end": end,
            "precision": recorded.get("precision", self.precision_name),
            "device": recorded.get("device", self.device.type),
            "sigma": level,
            "scene_detect": o.scene_detect,
        }

    def restorer(
        self,
        tile: int | None,
        level: float | None,
        on_retry: Callable[[int], None] | None = None,
        chunk: int | None = None,
    ) -> WindowRestorer:
        return WindowRestorer(self, tile, level, on_retry, chunk)


@contextlib.contextmanager
def out_of_memory_is_clear(device: torch.device) -> Iterator[None]:
    """The data path's own tensors (a window's float input, its output codes) do not shrink with tiles: an
    out-of-memory error there is vsrcli's one-line OutOfMemoryError with what to change."""
    from vsrcli.errors import OutOfMemoryError
    from vsrcli.pipeline.device import is_out_of_memory, release_cached_memory

    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        release_cached_memory(device)
        raise OutOfMemoryError(
            f"out of memory on {device} holding one window's frames",
            hint="use a smaller --chunk, or --device cpu",
        ) from exc


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """cuDNN autotuning on CUDA for the duration of one window (every window has the same shape, so the
    search pays off), restored afterwards: a library must not change the caller's global settings."""
    import torch

    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@dataclass
class WindowRestorer:
    """Runs windows in order: network, integers, cross-fade with the previous window's tail."""

    engine: Engine
    tile: int | None
    level: float | None
    on_retry: Callable[[int], None] | None = None
    chunk: int | None = None  # frames kept per window, when fit_window shortened the asked --chunk
    tail: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.uint8))
    buffers: HostBuffers | None = None

    def _codes(
        self,
        uploaded: torch.Tensor,
        keep: slice | None,
        peak: float,
        on_tile: Callable[[int, int], None] | None,
    ) -> torch.Tensor:
        """Uploaded codes through the network (tiled, out-of-memory recovery): the kept frames' codes."""
        e = self.engine
        with out_of_memory_is_clear(e.device):
            x = to_unit(uploaded, peak, self.level)
        with cudnn_autotune(e.device):
            y, self.tile = restore_window(
                e.net,
                x,
                rules=e.rules,
                device=e.device,
                dtype=e.dtype,
                tile=self.tile,
                tile_overlap=e.options.tile_overlap,
                keep=keep,
                on_retry=self.on_retry,
                on_tile=on_tile,
            )
        del x
        with out_of_memory_is_clear(e.device):
            return to_codes(y, peak)

    def restore(
        self,
        frames: Sequence[np.ndarray],
        win: Window,
        on_tile: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(core, tail) of window ``win`` from its decoded ``frames`` [win.start, win.stop).

        The core's first frames are blended with the previous window's tail; the new tail (the frames the
        next window fades in over) is kept for that window and returned. ``on_tile(done, total)`` follows
        every network call, so progress can move within a long window.
        """
        e = self.engine
        if self.buffers is None:
            self.buffers = HostBuffers(e.device)
        peak = peak_of(frames[0].dtype)
        if e.rules.independent:  # no context: only the kept frames cross and run, one call each
            kept = list(frames)[win.keep]
            integer_kernel = getattr(e.net, "forward_codes", None)  # integers in, integers out, if it has one
            out = np.empty(0, dtype=kept[0].dtype)
            for i in range(len(kept)):
                up = self.buffers.upload(kept[i : i + 1])
                fast = integer_kernel(up) if integer_kernel is not None and self.level is None else None
                frame = self.buffers.download(fast if fast is not None else self._codes(up, None, peak, None))
                if i == 0:
                    out = np.empty((len(kept), *frame.shape[1:]), dtype=frame.dtype)
                out[i] = frame[0]
                if on_tile is not None:
                    on_tile(i + 1, len(kept))
        else:
            out = self.buffers.download(self._codes(self.buffers.upload(frames), win.keep, peak, on_tile))
        n_core = win.core_stop - win.core_start
        core, self.tail = crossfade(self.tail, out[:n_core]), out[n_core:]
        return core, self.tail
