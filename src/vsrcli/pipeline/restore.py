"""``restore_video``: stream a clip through a recurrent network in overlapping chunks and tiles.

Decode -> scene-cut detection -> windows (chunk + overlap, never across a cut) -> pad/tile/run -> crop,
cross-fade -> encode under a temporary name -> check the frame count -> rename. Nothing here prints;
progress goes to a callback and the result is a :class:`RestoreReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsrcli.device import precision_warning
from vsrcli.errors import InputError, OutputError
from vsrcli.pipeline.chunking import SceneCutDetector, Window, next_window
from vsrcli.pipeline.engine import DownloadCallback, Engine, WindowRestorer
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.resume import Partial, input_identity
from vsrcli.pipeline.streams import (
    BackgroundSink,
    FolderSink,
    FrameSource,
    Prefetch,
    VideoSink,
    check_output,
    default_output,
    is_folder_output,
    open_source,
)

__all__ = ["Progress", "ProgressCallback", "RestoreOptions", "RestoreReport", "restore_video"]


@dataclass(frozen=True)
class Progress:
    """Where a run stands: frames done so far (within a window: the share of its network calls made), the
    total if known, the processing speed, and what is running now (``stage``, e.g. ``frames 0-39``)."""

    done: int
    total: int | None
    fps: float
    elapsed_s: float
    chunk: int
    stage: str = ""

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current speed; None until a speed and a total are known."""
        if not self.total or self.fps <= 0:
            return None
        return max(0, self.total - self.done) / self.fps


ProgressCallback = Callable[[Progress], None]


@dataclass
class RestoreReport:
    """What a run did, for the CLI to print and for scripts to check."""

    input: Path
    output: Path
    task: str
    model: str
    frames: int
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    device: str
    precision: str
    chunks: int = 0
    resumed_chunks: int = 0
    scene_cuts: list[int] = field(default_factory=list)
    #: False where no cut was looked for (``--no-scene-detect``, or a model whose frames are independent)
    scene_detected: bool = True
    tile: int | None = None
    sigma: float | None = None
    sigma_estimated: bool = False
    elapsed_s: float = 0.0
    fps: float = 0.0
    warnings: list[str] = field(default_factory=list)


def restore_video(
    input: str | Path,
    output: str | Path | None = None,
    *,
    options: RestoreOptions,
    progress: ProgressCallback | None = None,
    on_download: DownloadCallback | None = None,
) -> RestoreReport:
    """Restore ``input`` (video file or folder of frames) into ``output`` (video file, or PNG folder; default:
    beside the input) as ``options`` say. With ``options.resume`` finished chunks are kept in
    ``OUTPUT.vsrcli-partial/`` so an interrupted run can continue. ``on_download`` reports the bytes of an
    official model's first download.
    """
    t0 = time.monotonic()
    src_path = Path(input)
    source = open_source(src_path, options.start, options.end)
    out_path = (
        Path(output)
        if output is not None
        else default_output(src_path, options.task, replace=options.overwrite)
    )
    folder_out = source.kind == "folder" if output is None else is_folder_output(out_path)
    check_output(out_path, src_path, options.overwrite, folder=folder_out)

    engine = Engine.load(options, on_download=on_download)
    rules = engine.rules
    report = RestoreReport(
        input=src_path,
        output=out_path,
        task=options.task,
        model=engine.name,
        frames=0,
        input_size=(source.width, source.height),
        output_size=(source.width * rules.scale, source.height * rules.scale),
        device=str(engine.device),
        precision=engine.precision_name,
    )
    slow_precision = precision_warning(options.precision, engine.device)
    if slow_precision:
        report.warnings.append(slow_precision)
    # the output (container, encoder and its options) is opened before anything is decoded (noise estimate,
    # automatic tile), so a bad option or path fails in a second, not after the whole clip
    if folder_out:
        names = [p.name for p in source.files[source.start : source.end]] if source.kind == "folder" else None
        sink: Any = FolderSink(out_path, names)
    else:
        if source.kind == "folder":
            report.warnings.append(f"frame folder input: output frame rate set to {source.fps} fps")
        sink = VideoSink(
            out_path,
            source,
            report.output_size[0],
            report.output_size[1],
            codec=options.codec,
            crf=options.crf,
            preset=options.preset,
            pix_fmt=options.pix_fmt,
        )
    sink = BackgroundSink(sink, depth=1)  # encoding overlaps the next chunk's network pass
    try:
        level, estimated = engine.resolve_sigma(source, report.warnings)
        report.sigma, report.sigma_estimated = level, estimated
        report.tile, chunk = engine.fit_window(source.height, source.width, report.warnings, source.total)

        partial: Partial | None = None
        if options.resume:
            settings = engine.identity(level, source.start, source.end, chunk=chunk)
            partial = Partial(out_path, input_identity(src_path), settings)
            partial.open()
            if partial.discarded:
                report.warnings.append("an unrelated partial run was found and discarded")
    except BaseException:
        sink.abort()
        raise

    def retry(new_tile: int) -> None:
        report.warnings.append(f"out of memory: retried with {new_tile}-pixel tiles")

    try:
        _run(
            source,
            sink,
            engine.restorer(report.tile, level, retry, chunk),
            options.scene_detect,
            partial,
            progress,
            report,
            t0,
        )
        if sink.count != report.frames:
            raise OutputError(f"internal error: wrote {sink.count} frames for {report.frames} input frames")
        report.warnings.extend(w for w in sink.warnings if w not in report.warnings)
        sink.commit()
    except BaseException:
        sink.abort()
        if partial is not None and not partial.segments:
            partial.remove()  # nothing finished: nothing worth keeping
        raise
    if partial is not None:
        partial.remove()
    report.elapsed_s = time.monotonic() - t0
    return report


def per_frame_modules(net: Any) -> list[Any]:
    """Submodules the BasicVSR++ family runs once per frame per pass: each propagation branch's backbone
    and the reconstruction; empty for a network without them."""
    from torch import nn

    found: list[Any] = []
    backbone = getattr(net, "backbone", None)
    if isinstance(backbone, nn.ModuleDict):
        found += list(backbone.values())
    reconstruction = getattr(net, "reconstruction", None)
    if isinstance(reconstruction, nn.Module):
        found.append(reconstruction)
    return found


class WindowMeter:
    """Progress inside one window, so the count moves while a call that takes minutes runs.

    Why: a window of 40 frames plus context is one network call; on a CPU that is minutes without a sign.
    The meter counts finished tiles and, within a call, the per-frame modules (:func:`per_frame_modules`,
    through forward hooks that only count), and reports the share of the window's frames done. A finished
    window is reported by the caller once its frames are written.
    """

    def __init__(self, net: Any, progress: ProgressCallback | None, total: int | None, t0: float) -> None:
        self.progress, self.total, self.t0 = progress, total, t0
        self.per_frame = per_frame_modules(net) if progress is not None else []
        self.handles = [m.register_forward_hook(self._tick) for m in self.per_frame]
        self.base = self.n_core = self.frames = self.index = self.ticks = self.tiles_done = 0
        self.tiles = 1
        self.stage, self.speed, self.shown = "", 0.0, -1
        self.began = time.monotonic()

    def start(self, base: int, n_core: int, frames: int, stage: str, index: int, speed: float) -> None:
        self.base, self.n_core, self.frames, self.stage, self.index, self.speed = (
            base, n_core, frames, stage, index, speed,
        )  # fmt: skip
        self.ticks, self.tiles_done, self.tiles, self.shown = 0, 0, 1, -1
        self.began = time.monotonic()
        self._emit(0)

    def tile(self, done: int, calls: int) -> None:
        self.tiles_done, self.tiles, self.ticks = done, max(1, calls), 0
        if done < calls:
            self._emit(self.n_core * done // self.tiles)

    def _tick(self, *_: Any) -> None:
        self.ticks += 1
        expected = max(1, len(self.per_frame) * self.frames)
        within = min(self.ticks / expected, 0.99)  # a network that runs twice must not reach the end early
        self._emit(int(self.n_core * (self.tiles_done + within) / self.tiles))

    def _emit(self, part: int) -> None:
        if self.progress is None or part == self.shown or part >= self.n_core > 0:
            return
        self.shown = part
        now = time.monotonic()
        speed = self.speed
        if not speed and part > 0:  # the first window: its own pace so far, so an ETA shows early
            speed = part / max(now - self.began, 1e-9)
        self.progress(Progress(self.base + part, self.total, speed, now - self.t0, self.index, self.stage))

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def _run(
    source: FrameSource,
    sink: Any,
    restorer: WindowRestorer,
    scene_detect: bool,
    partial: Partial | None,
    progress: ProgressCallback | None,
    report: RestoreReport,
    t0: float,
) -> None:
    """The streaming loop: decode until the next window is decidable, restore it, write its core."""
    # a model whose frames are independent draws nothing across a cut: no detector (its thumbnails and
    # decisions were ~3% of the bicubic I/O floor's time)
    detector = SceneCutDetector() if scene_detect and not restorer.engine.rules.independent else None
    report.scene_detected = detector is not None
    frames: list[np.ndarray] = []  # decoded frames from index `base`
    pts: list[int] = []
    base = 0
    decoded = 0
    cuts: list[int] = []
    next_out = 0
    index = 0
    chunk, overlap, fade = restorer.engine.windows(restorer.chunk)
    shape: tuple[int, ...] | None = None
    computed_frames = 0
    compute_time = 0.0
    if progress is not None:
        progress(Progress(0, source.total, 0.0, time.monotonic() - t0, 0))
    it = Prefetch(source.frames(), chunk + 2 * overlap)
    meter = WindowMeter(restorer.engine.net, progress, source.total, t0)
    try:
        eof = False
        while True:
            # a cut is confirmed one frame late, so the last decoded frame is not yet usable (until the end)
            settled = decoded if eof or detector is None else max(0, decoded - 1)
            win: Window | None = next_window(index, next_out, settled, eof, cuts, chunk, overlap, fade)
            if win is None:
                if eof:
                    break
                try:
                    frame, stamp = next(it)
                except StopIteration:
                    eof = True
                    last = detector.finish() if detector is not None else None
                    if last is not None:
                        cuts.append(last)
                    continue
                if shape is None:
                    shape = frame.shape
                elif frame.shape != shape:
                    raise InputError(
                        f"{source.path}: frame {source.start + decoded} is {frame.shape[1]}x"
                        f"{frame.shape[0]}, the first was {shape[1]}x{shape[0]}"
                    )
                cut = detector.push(frame) if detector is not None else None
                if cut is not None:
                    cuts.append(cut)
                frames.append(frame)
                pts.append(int(stamp))
                decoded += 1
                continue

            saved = partial.load(win.index, win.core_start, win.core_stop) if partial is not None else None
            if saved is not None:
                core, restorer.tail = saved
                report.resumed_chunks += 1
            else:
                began = time.monotonic()
                n_core = win.core_stop - win.core_start
                stage = f"frames {source.start + win.core_start}-{source.start + win.core_stop - 1}"
                meter.start(
                    report.frames, n_core, max(win.stop - win.start, restorer.engine.rules.min_frames),
                    stage, index, computed_frames / compute_time if compute_time else 0.0,
                )  # fmt: skip
                core, tail = restorer.restore(frames[win.start - base : win.stop - base], win, meter.tile)
                if partial is not None:
                    partial.save(win.index, win.core_start, win.core_stop, core, tail)
                computed_frames += len(core)
                compute_time += time.monotonic() - began
            sink.write(core, pts[win.core_start - base : win.core_stop - base])
            report.frames += len(core)
            report.chunks += 1
            next_out = win.core_stop
            index += 1
            drop = max(0, next_out - overlap - base)
            if drop:
                del frames[:drop], pts[:drop]
                base += drop
            report.tile = restorer.tile
            if progress is not None:
                elapsed = time.monotonic() - t0
                progress(
                    Progress(
                        report.frames,
                        source.total,
                        computed_frames / compute_time if compute_time else 0.0,
                        elapsed,
                        index,
                    )
                )
    finally:
        meter.close()
        it.close()
    if decoded == 0:
        raise InputError(f"{source.path}: no frames to restore")
    if report.frames != decoded:
        raise OutputError(f"internal error: restored {report.frames} of {decoded} frames")
    report.scene_cuts = cuts
    report.fps = computed_frames / compute_time if compute_time else 0.0
