"""What a batch will do: the input list, and each video cut into segments of whole pipeline windows.

A segment is a run of consecutive windows from :func:`vsrcli.pipeline.chunking.plan_windows`, the windows
the single-machine run uses, so running them anywhere and concatenating their kept frames gives the frames of
one ``restore_video`` call. Windows never cross a scene cut and carry their own context frames, so a segment
needs nothing from its neighbours except, with ``fade > 0``, the previous segment's fade-out frames (blended
by the driver when it joins the segments).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vsrcli.errors import InputError, UsageError
from vsrcli.pipeline.chunking import Window, plan_windows

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LIST_SUFFIXES = (".txt", ".lst", ".list")
MAX_AUTO_SEGMENT = 1200


@dataclass(frozen=True)
class Segment:
    """Windows ``windows`` of one video: outputs [core_start, core_stop) are this segment's to write."""

    index: int
    windows: tuple[Window, ...]

    @property
    def core_start(self) -> int:
        return self.windows[0].core_start

    @property
    def core_stop(self) -> int:
        return self.windows[-1].core_stop

    @property
    def read_start(self) -> int:
        """First frame decoded (the context before the first core)."""
        return self.windows[0].start

    @property
    def read_stop(self) -> int:
        return max(w.stop for w in self.windows)

    @property
    def frames(self) -> int:
        return self.core_stop - self.core_start


@dataclass
class VideoPlan:
    """One input, probed and decoded once: frame count, timestamps, scene cuts and its segments."""

    input: Path
    video_id: str
    frames: int = 0
    pts: list[int] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)


def _is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _looks_like_frame_folder(path: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file())


@dataclass(frozen=True)
class FoundInput:
    """An input and the folder under OUTDIR its output goes to: where it sat below the folder given on the
    command line (so ``day1/C0001.mp4`` and ``day2/C0001.mp4`` do not collide), ``.`` for files given by
    name."""

    path: Path
    subfolder: Path = Path(".")


def find_inputs(items: Iterable[str | Path], skip: Callable[[Path], bool] | None = None) -> list[FoundInput]:
    """Files as given; folders: every video inside (recursively, hidden files and folders left out, and
    whatever ``skip`` says), or the folder itself when it holds frames; ``.txt``/``.lst`` files: one path
    per line (relative to the list's folder, ``#`` comments allowed).

    Missing paths are kept (they fail alone, as that video's error); duplicates are dropped.
    """
    out: list[FoundInput] = []
    seen: set[str] = set()

    def add(p: Path, sub: Path = Path(".")) -> None:
        key = str(p.resolve()) if p.exists() else str(p)
        if key not in seen:
            seen.add(key)
            out.append(FoundInput(p, sub))

    for item in items:
        path = Path(item)
        if path.is_dir():
            videos = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and _is_video_name(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and not (skip is not None and skip(p))
            )
            if videos:
                for v in videos:
                    add(v, v.parent.relative_to(path))
            elif _looks_like_frame_folder(path):
                add(path)
            else:
                raise UsageError(f"{path}: folder holds no videos and no frames")
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = path.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{path}: cannot read the list of inputs ({exc})") from exc
            listed = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
            for found in find_inputs(
                (path.parent / e if not Path(e).is_absolute() else Path(e) for e in listed), skip
            ):
                add(found.path, found.subfolder)
        else:
            add(path)
    return out


def discover_inputs(items: Iterable[str | Path], skip: Callable[[Path], bool] | None = None) -> list[Path]:
    """The paths of :func:`find_inputs`."""
    return [found.path for found in find_inputs(items, skip)]


def video_id(path: Path) -> str:
    """A folder name for this input's segments: readable stem plus a hash of the resolved path."""
    resolved = str(path.resolve()) if path.exists() else str(path)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem if path.is_file() else path.name)[:40] or "video"
    return f"{stem}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


def auto_segment(frames: int, workers: int, chunk: int) -> int:
    """Short videos stay whole; long ones get at least one segment per worker, each at most
    ``MAX_AUTO_SEGMENT`` frames (so a lost worker costs little and resume is fine-grained)."""
    per_worker = math.ceil(frames / max(1, workers))
    return max(chunk, min(MAX_AUTO_SEGMENT, per_worker))


def group_windows(windows: Sequence[Window], target: int) -> list[Segment]:
    """Consecutive windows into segments of about ``target`` kept frames (never splitting a window)."""
    if target < 1:
        raise UsageError(f"--segment {target}: expected at least 1 frame")
    segments: list[Segment] = []
    current: list[Window] = []
    kept = 0
    for win in windows:
        current.append(win)
        kept += win.core_stop - win.core_start
        if kept >= target:
            segments.append(Segment(len(segments), tuple(current)))
            current, kept = [], 0
    if current:
        segments.append(Segment(len(segments), tuple(current)))
    return segments


def plan_segments(
    frames: int, cuts: Sequence[int], chunk: int, overlap: int, fade: int, target: int
) -> list[Segment]:
    """The single-machine windows of a clip, grouped; checks that the cores tile [0, frames) exactly."""
    windows = plan_windows(frames, cuts, chunk, overlap, fade)
    segments = group_windows(windows, target)
    expect = 0
    for seg in segments:
        for win in seg.windows:
            if win.core_start != expect:
                raise InputError(
                    f"internal error: window {win.index} starts at {win.core_start}, not {expect}"
                )
            expect = win.core_stop
    if expect != frames:
        raise InputError(f"internal error: windows cover {expect} of {frames} frames")
    return segments
