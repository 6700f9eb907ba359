"""Benchmark data layouts: which clips, their ground truth, and where their model input comes from.

Three layouts are recognised (``discover``):

* ``clips``: ``DATA/<clip>/*.png`` (or ``DATA/*.png``, one clip): ground truth only, degraded on the fly;
* ``paired``: ``DATA/GT/<clip>`` with ``DATA/<LQ>/<clip>`` (or ``DATA/GT/*.png`` with ``DATA/<LQ>/*.png``, one
  clip): the stored LQ frames are used when ``--lq NAME`` names the folder, otherwise GT is degraded on
  the fly;
* ``videos``: a video file, or a folder of them: decoded ground truth, degraded on the fly.

Clips load lazily, one at a time, so a dataset never has to fit in memory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsrcli.degrade import Degradation
from vsrcli.errors import InputError, UsageError
from vsrcli.io.colour import to_8_bit
from vsrcli.io.frames import IMAGE_SUFFIXES, list_frames, natural_key, read_folder
from vsrcli.io.video import VIDEO_SUFFIXES

__all__ = ["Clip", "ClipSource", "Dataset", "discover", "read_video_frames"]


@dataclass(frozen=True)
class Clip:
    """One loaded clip: uint8 ground truth ``(T, H, W, 3)`` (None for speed runs) and the model input
    (uint8 ``(T, h, w, 3)``, or float32 on the 0-1 scale for unclipped noise)."""

    name: str
    gt: np.ndarray | None
    lq: np.ndarray


@dataclass(frozen=True)
class ClipSource:
    """A clip not yet loaded; ``load()`` reads (and degrades) it."""

    name: str
    loader: Callable[[], Clip]

    def load(self) -> Clip:
        return self.loader()


@dataclass(frozen=True)
class Dataset:
    """What ``discover`` found: name, layout, LQ source (stored folder or a degradation) and scale."""

    name: str
    layout: str
    lq_source: str
    scale: int
    clips: tuple[ClipSource, ...]


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def _subdirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))


def read_video_frames(path: Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a (short) video to uint8 RGB ``(T, H, W, 3)`` with vsrcli's colour handling; deeper sources are
    scaled to 8 bits (benchmarks score uint8 frames)."""
    from vsrcli.io.video import read_video

    frames, _ = read_video(path, 0, max_frames)
    if frames.dtype == np.uint16:
        frames = to_8_bit(frames)
    return frames


def _degraded(name: str, read_gt: Callable[[], np.ndarray], degradation: Degradation) -> Callable[[], Clip]:
    def load() -> Clip:
        gt = read_gt()
        return Clip(name, gt, degradation.apply(gt, key=name))

    return load


def _paired(name: str, gt_dir: Path, lq_dir: Path, max_frames: int | None) -> Callable[[], Clip]:
    def load() -> Clip:
        gt, lq = read_folder(gt_dir, max_frames), read_folder(lq_dir, max_frames)
        if len(gt) != len(lq):
            raise InputError(f"clip {name}: {len(gt)} GT frames but {len(lq)} LQ frames in {lq_dir}")
        return Clip(name, gt, lq)

    return load


def _pair_scale(gt_dir: Path, lq_dir: Path) -> int:
    from vsrcli.io.frames import read_image

    gh, gw = read_image(list_frames(gt_dir)[0]).shape[:2]
    lh, lw = read_image(list_frames(lq_dir)[0]).shape[:2]
    if gh % lh or gw % lw or gh // lh != gw // lw:
        raise InputError(f"GT {gw}x{gh} is not an integer multiple of LQ {lw}x{lh} ({lq_dir})")
    return gh // lh


def discover(
    data: str | Path,
    degradation: Degradation,
    *,
    lq: str | None = None,
    max_frames: int | None = None,
) -> Dataset:
    """Find the clips under ``data`` (see the module docstring) and how each one's input is made."""
    root = Path(data)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{root}: not a video file (expected one of {', '.join(VIDEO_SUFFIXES)})")
        return _videos(root.stem, [root], degradation, lq, max_frames)
    videos = sorted(
        (p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES),
        key=lambda p: natural_key(p.name),
    )
    gt_root = root / "GT"
    if gt_root.is_dir():
        return _paired_layout(root, gt_root, degradation, lq, max_frames)
    if lq is not None:
        raise UsageError(f"--lq {lq} needs a paired layout ({root}/GT/ and {root}/{lq}/)")
    if _has_images(root):
        return Dataset(
            root.name,
            "clips",
            degradation.name,
            degradation.scale,
            (
                ClipSource(
                    root.name, _degraded(root.name, lambda: read_folder(root, max_frames), degradation)
                ),
            ),
        )
    clip_dirs = [d for d in _subdirs(root) if _has_images(d)]
    if clip_dirs:
        sources = tuple(
            ClipSource(d.name, _degraded(d.name, functools.partial(read_folder, d, max_frames), degradation))
            for d in clip_dirs
        )
        return Dataset(root.name, "clips", degradation.name, degradation.scale, sources)
    if videos:
        return _videos(root.name, videos, degradation, lq, max_frames)
    raise InputError(
        f"{root}: no clips found",
        hint="expected DATA/<clip>/*.png, DATA/GT/<clip>/ with DATA/<LQ>/<clip>/, or video files",
    )


def _videos(
    name: str, files: list[Path], degradation: Degradation, lq: str | None, max_frames: int | None
) -> Dataset:
    if lq is not None:
        raise UsageError("--lq needs a paired folder layout, not video files")
    sources = tuple(
        ClipSource(
            f.stem, _degraded(f.stem, functools.partial(read_video_frames, f, max_frames), degradation)
        )
        for f in files
    )
    return Dataset(name, "videos", degradation.name, degradation.scale, sources)


def _paired_layout(
    root: Path, gt_root: Path, degradation: Degradation, lq: str | None, max_frames: int | None
) -> Dataset:
    single = _has_images(gt_root)
    gt_dirs = [gt_root] if single else [d for d in _subdirs(gt_root) if _has_images(d)]
    if not gt_dirs:
        raise InputError(f"{gt_root}: no GT frames or clip folders")
    names = [root.name] if single else [d.name for d in gt_dirs]
    if lq is None:
        sources = tuple(
            ClipSource(n, _degraded(n, functools.partial(read_folder, d, max_frames), degradation))
            for n, d in zip(names, gt_dirs, strict=True)
        )
        return Dataset(root.name, "paired", degradation.name, degradation.scale, sources)
    lq_root = root / lq
    if not lq_root.is_dir():
        others = ", ".join(d.name for d in _subdirs(root) if d.name != "GT") or "none"
        raise InputError(f"{lq_root}: no such LQ folder (found: {others})")
    lq_dirs = [lq_root] if single else [lq_root / d.name for d in gt_dirs]
    for d in lq_dirs:
        if not d.is_dir():
            raise InputError(f"{d}: LQ clip folder missing for GT clip {d.name}")
    scale = _pair_scale(gt_dirs[0], lq_dirs[0])
    sources = tuple(
        ClipSource(n, _paired(n, g, q, max_frames)) for n, g, q in zip(names, gt_dirs, lq_dirs, strict=True)
    )
    return Dataset(root.name, "paired", f"stored:{lq}", scale, sources)
