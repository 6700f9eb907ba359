"""Where frames come from and go to: a video file or a folder of frames, with crash-safe output.

Outputs are written under a hidden temporary name beside the final path and renamed only on success; any error
or Ctrl-C removes the temporary file or folder. The input is only ever opened for reading.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vsrcli.errors import InputError, OutputError

TASK_TAGS = {
    "upscale": "upscaled",
    "denoise": "denoised",
    "deblur": "deblurred",
    "decompress": "decompressed",
}
KEEP_SUFFIXES = (".mp4", ".mkv", ".mov")
FOLDER_FPS = Fraction(25)


def _video_module() -> Any:
    try:
        from vsrcli.io import video
    except ImportError as exc:  # pragma: no cover - only before the io module exists
        raise InputError("video files need vsrcli.io.video, which is not installed") from exc
    return video


@dataclass
class FrameSource:
    """An opened input: its geometry, timing and an iterator of (frame, pts) over the requested range."""

    path: Path
    kind: str  # "video" | "folder"
    width: int
    height: int
    total: int | None
    fps: Fraction
    time_base: Fraction | None
    bit_depth: int = 8
    start: int = 0
    end: int | None = None
    info: Any = None
    files: list[Path] = field(default_factory=list)

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """Decode the range frame by frame (memory stays at one decoded chunk)."""
        if self.kind == "folder":
            from vsrcli.io.frames import read_image

            for i, file in enumerate(self.files[self.start : self.end]):
                yield read_image(file), self.start + i
            return
        video = _video_module()
        with video.VideoReader(self.path, start=self.start, end=self.end) as reader:
            for chunk in reader.iter_chunks(8):
                yield from zip(chunk.frames, chunk.pts, strict=True)

    def head(self, count: int) -> list[np.ndarray]:
        """The first ``count`` frames of the range (for the noise estimate)."""
        out: list[np.ndarray] = []
        for frame, _ in self.frames():
            out.append(frame)
            if len(out) >= count:
                break
        return out


class Prefetch:
    """Run an iterator in a background thread, ``size`` items ahead, so decoding overlaps the network.

    Errors in the thread are re-raised in the consumer; :meth:`close` (also on Ctrl-C in the consumer) stops
    the thread at its next item.
    """

    _END = object()

    def __init__(self, iterable: Iterator[Any], size: int) -> None:
        import queue
        import threading

        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, size))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._work, args=(iterable,), name="vsrcli-decode", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, iterable: Iterator[Any]) -> None:
        try:
            for item in iterable:
                if not self._put(item):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._error = exc
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
            self._put(self._END)

    def __iter__(self) -> Prefetch:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END:
            self._stop.set()
            if self._error is not None:
                raise self._error
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _check_range(start: int | None, end: int | None) -> tuple[int, int | None]:
    from vsrcli.errors import UsageError

    start = start or 0
    if start < 0 or (end is not None and end <= start):
        raise UsageError(f"--start {start} --end {end}: expected 0 <= start < end")
    return start, end


def open_source(path: str | Path, start: int | None = None, end: int | None = None) -> FrameSource:
    """Probe a video file or a folder of frames; InputError when it is neither."""
    path = Path(path)
    first, end = _check_range(start, end)
    if not path.exists():
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise InputError(f"{path}: {parent} is a file, not a folder")
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        from vsrcli.io.frames import list_frames, read_image

        files = list_frames(path)
        if first >= len(files):
            raise InputError(f"{path}: --start {first} is past the last frame ({len(files)} frames)")
        img = read_image(files[first])
        stop = len(files) if end is None else min(end, len(files))
        return FrameSource(
            path,
            "folder",
            img.shape[1],
            img.shape[0],
            stop - first,
            FOLDER_FPS,
            Fraction(1, 25),
            8,
            first,
            stop,
            None,
            files,
        )
    video = _video_module()
    info = video.probe(path)
    if end is None:  # a whole clip must be whole: refuse a truncated file now, not after decoding it
        video.check_not_truncated(info)
    n = getattr(info, "num_frames", None) or None
    if n is not None and first >= n:
        raise InputError(f"{path}: --start {first} is past the last frame ({n} frames)")
    total = None if n is None else (min(end, n) if end is not None else n) - first
    return FrameSource(
        path,
        "video",
        int(info.width),
        int(info.height),
        total,
        Fraction(info.fps),
        info.time_base,
        int(getattr(info, "bit_depth", 8) or 8),
        first,
        end,
        info,
    )


def is_folder_output(path: Path) -> bool:
    """A folder is meant when it exists as one, ends with a separator, or has no suffix."""
    try:
        is_dir = path.is_dir()
    except OSError:  # a name too long: check_output says so
        is_dir = False
    return is_dir or str(path).endswith(("/", os.sep)) or path.suffix == ""


def default_output(source: Path, task: str, *, replace: bool = False) -> Path:
    """``name.upscaled.mp4`` (or ``.mkv`` for other containers) beside the input; never an existing path
    (``name.upscaled-2.mp4`` and so on) unless ``replace`` (``--overwrite``: the same name again)."""
    tag = TASK_TAGS.get(task, task)
    if source.is_dir():
        stem, suffix = f"{source.name}.{tag}", ""
    else:
        suffix = source.suffix.lower() if source.suffix.lower() in KEEP_SUFFIXES else ".mkv"
        stem = f"{source.stem}.{tag}"
    candidate = source.parent / f"{stem}{suffix}"
    k = 2
    while not replace and (candidate.exists() or candidate.is_symlink()):
        candidate = source.parent / f"{stem}-{k}{suffix}"
        k += 1
    return candidate


#: What vsrcli writes into a frame folder (FolderSink): a folder holding only these may be replaced.
FRAME_OUTPUT_SUFFIXES = (".png",)
#: Output suffixes of video files; anything else with a suffix is refused before any work.
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".nut")


def is_frame_output_folder(path: Path) -> bool:
    """A folder vsrcli could have written: only PNG files, no subfolders, links or other files."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    return all(
        e.is_file() and not e.is_symlink() and e.suffix.lower() in FRAME_OUTPUT_SUFFIXES for e in entries
    )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(output: Path, source: Path, overwrite: bool, *, folder: bool | None = None) -> None:
    """Refuse, before any work, every output that could destroy something vsrcli did not write.

    The input itself, a folder holding the input, a path inside an input frame folder, an existing output
    without ``overwrite``, and, even with ``overwrite``, anything vsrcli would not have written (a folder
    with other files, a file where a frame folder goes, a folder where a video goes); also unknown video
    suffixes and parents that are missing, files or unwritable. ``folder``: a frame folder is meant
    (default: :func:`is_folder_output`).
    """
    try:
        _check_output(output, source, overwrite, folder)
    except OSError as exc:  # a name too long, a symlink loop: whatever the OS says, on one line
        raise OutputError(f"{output}: {exc.strerror or exc}") from exc


def _check_output(output: Path, source: Path, overwrite: bool, folder: bool | None) -> None:
    folder = is_folder_output(output) if folder is None else folder
    if output.name in ("", ".", ".."):
        raise OutputError(f"{output}: name a new file or folder for the output, not {str(output)!r}")
    try:
        out_abs, src_abs = output.resolve(), source.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise OutputError(f"{output}: cannot resolve the path ({exc})") from exc
    if out_abs == src_abs:
        raise OutputError(f"{output}: is the input; choose another output")
    if _inside(src_abs, out_abs):
        raise OutputError(f"{output}: holds the input {source}; choose another output")
    if source.is_dir() and _inside(out_abs, src_abs):
        raise OutputError(f"{output}: is inside the input frame folder {source}; choose another output")
    if not folder and output.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
        raise OutputError(
            f"{output}: unknown output extension {output.suffix!r}",
            hint="use .mp4, .mkv, .mov or .webm, or a name without extension for a folder of PNG frames",
        )
    if output.exists() or output.is_symlink():
        if output.is_dir() and not folder:
            raise OutputError(f"{output}: is a folder; give a video file name (e.g. {output / 'out.mp4'})")
        if folder and not output.is_dir():
            raise OutputError(f"{output}: is a file, not a folder of frames; choose another output")
        if folder and not is_frame_output_folder(output):
            raise OutputError(
                f"{output}: folder holds files vsrcli did not write; it replaces only a folder of PNG "
                "frames, so choose a new folder"
            )
        if not overwrite:
            raise OutputError(f"{output}: already exists", hint="pass --overwrite to replace it")
    check_parent(output)


def check_parent(output: Path) -> None:
    """The output's folder exists, is a folder and can be written; one plain line when not."""
    parent = output.parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{output}: {p} is a file, not a folder")
            break
    if not parent.is_dir():
        raise OutputError(f"{output}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: folder {parent} is not writable")
    longest = len(os.fsencode(temp_path(output).name)) + 8  # the hidden temporary name is the longest
    try:
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if longest > limit:
        raise OutputError(f"{output}: file name too long (at most about {limit - 40} bytes here)")


def temp_path(final: Path) -> Path:
    """Hidden sibling of the final path, keeping the suffix so the container is chosen from it."""
    return final.parent / f".{final.stem}.vsrcli-tmp-{os.getpid()}{final.suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or an absurd number): leave its files alone
    return True


def stale_temporaries(final: Path) -> list[Path]:
    """Temporaries of ``final`` left by a run that was killed (kill -9, the OOM killer): their writer's
    process id, which their name carries, no longer runs on this machine."""
    patterns = (
        re.compile(rf"^\.{re.escape(final.stem)}\.vsrcli-tmp-(\d+){re.escape(final.suffix)}$"),
        re.compile(rf"^\.{re.escape(final.name)}\.vsrcli-(?:tmp|old)-(\d+)$"),
    )
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return []
    stale = []
    for path in siblings:
        for pattern in patterns:
            match = pattern.match(path.name)
            if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
                stale.append(path)
                break
    return sorted(stale)


def clean_stale_temporaries(final: Path) -> list[str]:
    """Remove :func:`stale_temporaries`; one warning per removed path."""
    notes = []
    for path in stale_temporaries(final):
        _remove(path)
        notes.append(f"removed {path}, the unfinished output of a run that was killed")
    return notes


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace(tmp: Path, final: Path) -> None:
    """Atomic rename; an existing output (only with --overwrite) is replaced if vsrcli could have made it."""
    if final.is_dir() and not final.is_symlink():
        if not tmp.is_dir() or not is_frame_output_folder(final):
            raise OutputError(f"{final}: is a folder vsrcli did not write; left as it is")
        old = final.parent / f".{final.name}.vsrcli-old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if tmp.is_dir() and (final.exists() or final.is_symlink()):
            final.unlink()
        os.replace(tmp, final)


class FolderSink:
    """PNG frames ``00000000.png ...`` (or the input's names) in a temporary folder renamed at the end."""

    def __init__(self, final: Path, names: list[str] | None = None) -> None:
        self.final = final
        self.tmp = final.parent / f".{final.name}.vsrcli-tmp-{os.getpid()}"
        self.names = names
        self.count = 0
        self.warnings: list[str] = clean_stale_temporaries(final)
        try:
            self.tmp.mkdir()
        except OSError as exc:
            raise OutputError(f"{final}: cannot create ({exc.strerror})") from exc

    def write(self, frames: np.ndarray, pts: list[int]) -> None:
        from vsrcli.io.frames import write_image

        for frame in frames:
            name = Path(self.names[self.count]).stem if self.names else f"{self.count:08d}"
            write_image(self.tmp / f"{name}.png", frame)  # 16-bit frames as 16-bit PNG
            self.count += 1

    def commit(self) -> None:
        _replace(self.tmp, self.final)

    def abort(self) -> None:
        _remove(self.tmp)


class VideoSink:
    """The io writer on a temporary path; renamed to the final path when complete."""

    def __init__(self, final: Path, source: FrameSource, width: int, height: int, **options: Any) -> None:
        video = _video_module()
        self.final = final
        self.tmp = temp_path(final)
        kwargs = {k: v for k, v in options.items() if v is not None}
        _, ignored = video.check_encoder(final, kwargs.get("codec"), kwargs.get("crf"), kwargs.get("preset"))
        self._notes = clean_stale_temporaries(final) + ignored
        copy_from = source.path if source.kind == "video" else None
        try:
            self._writer = video.VideoWriter(
                self.tmp,
                source=source.info,
                width=width,
                height=height,
                fps=source.fps,
                time_base=source.time_base,
                copy_streams_from=copy_from,
                trim=source.start > 0 or source.end is not None,
                **kwargs,
            )
            self._writer.__enter__()
        except BaseException:
            _remove(self.tmp)
            raise
        self.count = 0

    @property
    def warnings(self) -> list[str]:
        return self._notes + list(getattr(self._writer, "warnings", []) or [])

    def write(self, frames: np.ndarray, pts: list[int]) -> None:
        self._writer.write(frames, pts)
        self.count += len(frames)

    def commit(self) -> None:
        self._writer.__exit__(None, None, None)
        _replace(self.tmp, self.final)

    def abort(self) -> None:
        try:
            self._writer.__exit__(RuntimeError, RuntimeError("aborted"), None)
        except Exception:  # noqa: BLE001 - the original error matters, not the cleanup's
            pass
        _remove(self.tmp)


class BackgroundSink:
    """Write through another sink from a worker thread, at most ``depth`` chunks behind the caller.

    Why: colour conversion and encoding (numpy, FFmpeg) release the GIL, so running them beside the network
    hides their cost instead of adding it to every chunk; the bounded queue keeps memory at a few chunks. An
    error in the worker is raised in the caller at its next ``write``, ``warnings`` or ``commit``; after an
    error (or ``abort``) queued chunks are dropped, never written.
    """

    _END = object()

    def __init__(self, inner: Any, depth: int = 1) -> None:
        import queue
        import threading

        self.inner = inner
        self.count = 0
        self._error: BaseException | None = None
        self._dropping = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._thread = threading.Thread(target=self._work, name="vsrcli-encode", daemon=True)
        self._thread.start()
        self._closed = False

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is self._END:
                    return
                if self._error is None and not self._dropping.is_set():
                    self.inner.write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, frames: np.ndarray, pts: list[int]) -> None:
        self._check()
        if self._closed:
            raise OutputError("internal error: write after the output was closed")
        self._queue.put((frames, list(pts)))
        self.count += len(frames)

    def flush(self) -> None:
        """Wait until every queued chunk is written; raise the worker's error if it had one."""
        self._queue.join()
        self._check()

    @property
    def warnings(self) -> list[str]:
        self.flush()
        return list(getattr(self.inner, "warnings", []) or [])

    def _stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(self._END)
            self._thread.join()

    def commit(self) -> None:
        self.flush()
        self._stop()
        self._check()
        self.inner.commit()

    def abort(self) -> None:
        self._dropping.set()
        self._stop()
        self.inner.abort()
