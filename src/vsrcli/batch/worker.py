"""Run one segment anywhere (this process, a local worker process or a Ray task) and write its frames.

A worker gets a :class:`SegmentTask` (plain data: paths, the run's :class:`RestoreOptions` with the model as a
*spec*, the windows) so nothing large or unpicklable travels; it loads the pipeline's :class:`Engine` once per
process, decodes only the segment's frames (seeking to the keyframe before them), runs the windows through the
engine's :class:`WindowRestorer` exactly as ``restore_video`` does and writes the kept frames losslessly as
``.npy`` into the video's state folder, then a done marker, each under a temporary name renamed when complete.
Errors come back as a :class:`SegmentResult` with a message rather than an exception, so they survive any
transport.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vsrcli.errors import InputError, VsrError
from vsrcli.pipeline.chunking import Window
from vsrcli.pipeline.engine import Engine
from vsrcli.pipeline.options import RestoreOptions

CRASH_ENV = "VSRCLI_TEST_CRASH_SEGMENT"
_ENGINES: dict[tuple[Any, ...], Engine] = {}


@dataclass(frozen=True)
class SegmentTask:
    """Everything a worker needs for one segment; all paths must be visible to every worker."""

    video_id: str
    name: str  # the input's stem, for the crash test hook and messages
    index: int
    input: str
    kind: str  # "video" | "folder"
    offset: int  # absolute index of the video's frame 0 (--start)
    windows: tuple[Window, ...]
    start_pts: int | None
    files: tuple[str, ...]  # frame files of [read_start, read_stop) for a folder input
    state_dir: str
    options: RestoreOptions  # model: zoo name or checkpoint path (or an nn.Module for in-process runs)
    sigma: float | None  # the noise level the driver resolved for the whole video (0-255 scale)
    threads: int | None = None
    crash: str | None = None  # "<name or video_id>:<segment>": exit on the first attempt (tests)


@dataclass(frozen=True)
class SegmentResult:
    video_id: str
    index: int
    ok: bool
    frames: int = 0
    seconds: float = 0.0
    host: str = ""
    error: str = ""
    error_type: str = ""


def segment_paths(state_dir: Path, index: int) -> dict[str, Path]:
    """The files of segment ``index``: kept frames, their pts, the fade-out tail and the done marker."""
    stem = f"seg-{index:04d}"
    return {
        "frames": state_dir / f"{stem}.npy",
        "pts": state_dir / f"{stem}.pts.npy",
        "tail": state_dir / f"{stem}.tail.npy",
        "done": state_dir / f"{stem}.done",
    }


def read_done(state_dir: Path, index: int) -> dict[str, Any] | None:
    """The done marker of a finished segment, or None."""
    try:
        return json.loads(segment_paths(state_dir, index)["done"].read_text())
    except (OSError, ValueError):
        return None


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)


def _maybe_crash(task: SegmentTask) -> None:
    """Test hook: the first attempt of the named segment dies like a killed worker."""
    if not task.crash:
        return
    who, _, seg = task.crash.rpartition(":")
    if who not in (task.name, task.video_id) or seg != str(task.index):
        return
    state = Path(task.state_dir)  # the marker outlives the segment folder, so tests can see the crash
    marker = state.parent / f"{state.name}.seg-{task.index:04d}.crashed"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(1)


def _engine(options: RestoreOptions) -> Engine:
    """The pipeline engine for these options, loaded once per process and model."""
    model = options.model
    key = (model if isinstance(model, (str, Path)) else id(model), options.weights, options.device,
           options.precision, options.task)  # fmt: skip
    if key not in _ENGINES:
        _ENGINES[key] = Engine.load(options)
    engine = _ENGINES[key]
    return engine if engine.options == options else replace(engine, options=options)


def _frames(task: SegmentTask, start: int, stop: int) -> Any:
    """(frame, pts) for relative frames [start, stop) of the video."""
    if task.kind == "folder":
        from vsrcli.io.frames import read_image

        for i, file in enumerate(task.files):
            yield read_image(Path(file)), task.offset + start + i
        return
    from vsrcli.io.video import VideoReader

    first, last = task.offset + start, task.offset + stop
    given = 0
    try:
        with VideoReader(task.input, start=first, end=last, start_pts=task.start_pts) as reader:
            for chunk in reader.iter_chunks(8):
                given += len(chunk.frames)
                yield from zip(chunk.frames, chunk.pts, strict=True)
    except ValueError:  # the seek found no frame with that pts: decode from the start instead (exact)
        if given:
            raise
        with VideoReader(task.input, start=first, end=last) as reader:
            for chunk in reader.iter_chunks(8):
                yield from zip(chunk.frames, chunk.pts, strict=True)


#: ``on_frames(done)``: frames of the segment restored so far, moving within a window (in-process runs only).
FramesCallback = Callable[[int], None]


def run_segment(task: SegmentTask, on_frames: FramesCallback | None = None) -> SegmentResult:
    """Restore one segment into its state folder; never raises for a VsrError (returns ok=False).

    ``on_frames`` follows the work inside the segment as ``restore_video``'s progress does (every network
    call, and the per-frame modules of the BasicVSR++ family), so a segment of hundreds of frames is not one
    silent step.
    """
    began = time.monotonic()
    host = socket.gethostname()
    try:
        _maybe_crash(task)
        if task.threads:
            import torch

            torch.set_num_threads(task.threads)
        frames = _restore(task, on_frames)
    except VsrError as exc:
        return SegmentResult(task.video_id, task.index, False, host=host, error=str(exc),
                             error_type=type(exc).__name__)  # fmt: skip
    except (OSError, RuntimeError, ValueError) as exc:
        message = f"{type(exc).__name__}: {exc}"
        return SegmentResult(task.video_id, task.index, False, host=host, error=message,
                             error_type=type(exc).__name__)  # fmt: skip
    return SegmentResult(task.video_id, task.index, True, frames, time.monotonic() - began, host)


def _restore(task: SegmentTask, on_frames: FramesCallback | None = None) -> int:
    state = Path(task.state_dir)
    if task.kind == "video" and not os.access(task.input, os.R_OK):
        raise InputError(f"{task.input}: not readable on worker {socket.gethostname()} (shared filesystem?)")
    if not state.is_dir():
        raise InputError(f"{state}: segment folder not visible on worker {socket.gethostname()}")
    engine = _engine(task.options)
    windows = task.windows
    read_start, read_stop = windows[0].start, max(w.stop for w in windows)
    core_start, core_stop = windows[0].core_start, windows[-1].core_stop
    n_kept = core_stop - core_start
    paths = segment_paths(state, task.index)

    buffer: list[np.ndarray] = []
    pts: list[int] = []
    base = read_start
    it = iter(_frames(task, read_start, read_stop))
    out: np.memmap[Any, Any] | None = None
    tmp_frames = state / f".{paths['frames'].name}.tmp-{os.getpid()}"
    kept_pts: list[int] = []
    written = 0
    restorer = None
    meter = None
    if on_frames is not None:
        from vsrcli.pipeline.restore import WindowMeter

        meter = WindowMeter(engine.net, lambda p: on_frames(p.done), n_kept, time.monotonic())
    try:
        for k, win in enumerate(windows):
            while base + len(buffer) < win.stop:
                try:
                    frame, stamp = next(it)
                except StopIteration:
                    raise InputError(
                        f"{task.input}: ended at frame {base + len(buffer)} of the {read_stop} planned"
                    ) from None
                buffer.append(frame)
                pts.append(int(stamp))
            if restorer is None:  # as restore_video: the tile for the frame size, then the same windows
                h, w = buffer[0].shape[:2]
                restorer = engine.restorer(engine.tile_for(h, w, frames=win.stop - win.start), task.sigma)
            # the first window's head is blended by the driver (it needs the previous segment's tail): the
            # restorer starts with no tail, as restore_video's first window does
            if meter is not None:
                n_win = win.core_stop - win.core_start
                meter.start(written, n_win, max(win.stop - win.start, engine.rules.min_frames), "", k, 0.0)
            core, _ = restorer.restore(
                buffer[win.start - base : win.stop - base], win, meter.tile if meter is not None else None
            )
            n_core = len(core)
            if out is None:
                out = np.lib.format.open_memmap(
                    tmp_frames, mode="w+", dtype=core.dtype, shape=(n_kept, *core.shape[1:])
                )
            out[written : written + n_core] = core
            kept_pts += pts[win.core_start - base : win.core_stop - base]
            written += n_core
            if on_frames is not None:
                on_frames(written)
            if k + 1 < len(windows):
                drop = max(0, windows[k + 1].start - base)
                del buffer[:drop], pts[:drop]
                base += drop
        if out is None or restorer is None or written != n_kept:
            raise InputError(f"internal error: segment {task.index} kept {written} of {n_kept} frames")
        out.flush()
        del out
        os.replace(tmp_frames, paths["frames"])
    except BaseException:
        tmp_frames.unlink(missing_ok=True)
        raise
    finally:
        if meter is not None:
            meter.close()
    _save_npy(paths["pts"], np.asarray(kept_pts, dtype=np.int64))
    _save_npy(paths["tail"], restorer.tail)
    marker = {"core": [core_start, core_stop], "frames": written, "host": socket.gethostname()}
    tmp = state / f".{paths['done'].name}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(marker))
    os.replace(tmp, paths["done"])
    return written
