"""Training clips: discovery with held-out clips excluded, an in-memory frame cache, and a seeded sampler.

Real clips (folders of frames, or video files decoded once into memory) give real motion; still images become
clips through smooth synthetic camera motion (pan, zoom, rotation, sub-pixel shifts) so alignment is learned
from many textures. A sample may first be shrunk (``gt_downscale``): the ground truth then carries more detail
per pixel and less of the source camera's softness and compression than the footage it came from. Every
sample gets a random crop, flips and a transpose; with ``seq_flip`` only half the frames are loaded and the
clip is mirrored to full length (RealBasicVSR's trick: same length, half the loading and degradation work).

All randomness comes from one ``numpy.random.Generator`` whose state is part of a checkpoint, so a resumed run
draws exactly the samples the uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsrcli.errors import InputError
from vsrcli.io.frames import IMAGE_SUFFIXES, list_frames, natural_key, read_image
from vsrcli.io.video import count_frames, is_video_file, probe, read_video
from vsrcli.train.config import DataConfig

# Clips that must never train or tune a model (see ../shared/data/README.md):
VID4_MARKER = "vid4"  # any path component starting with this: Vid4 is the final check only, never validation
VIMEO_TEST = ("00002/0004", "00002/0007", "00002/0008")  # the Vimeo-90K-T septuplets of the sample
DAVIS_VAL = ("blackswan", "car-roundabout", "parkour")  # held out for validation during training


def is_held_out(path: str | Path, extra: tuple[str, ...] | list[str] = ()) -> bool:
    """True if a clip folder or image is one of the held-out clips (or matches an extra name / path tail)."""
    parts = [p.lower() for p in Path(path).parts]
    if any(p.startswith(VID4_MARKER) for p in parts):
        return True
    tail = "/".join(parts[-2:])
    if tail in VIMEO_TEST or "/".join(parts[-3:-1]) in VIMEO_TEST:  # the folder or a frame inside it
        return True
    names = set(DAVIS_VAL) | {e.lower() for e in extra if "/" not in e}
    tails = {e.lower().strip("/") for e in extra if "/" in e}
    stem = Path(path).stem.lower()  # a video file named after a held-out clip
    if parts and (parts[-1] in names or stem in names or (len(parts) > 1 and parts[-2] in names)):
        return True
    joined = "/".join(parts)
    return any(joined.endswith(t) or f"{t}/" in joined for t in tails)


@dataclass
class Clip:
    """A training source: a real clip (``frames`` in order), a still image (one frame), or a video file
    (``video``: every entry of ``frames`` is the file, one per decoded frame)."""

    name: str
    frames: list[Path]
    still: bool
    height: int
    width: int
    video: bool = False


def _split_kind(spec: str) -> tuple[str, str]:
    for kind in ("video", "images"):
        if spec.startswith(kind + ":"):
            return kind, spec[len(kind) + 1 :]
    return "auto", spec


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: natural_key(p.name),
    )


def resolve_path(spec: str, root: str | Path) -> tuple[str, Path]:
    kind, raw = _split_kind(spec)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(root) / path
    return kind, path


def discover(
    specs: list[str], root: str | Path, extra_held_out: list[str] | None = None
) -> tuple[list[Clip], list[Path]]:
    """Training clips under ``specs`` (see :class:`DataConfig`), and the held-out paths that were skipped."""
    extra = list(extra_held_out or [])
    clips: list[Clip] = []
    skipped: list[Path] = []
    for spec in specs:
        kind, path = resolve_path(spec, root)
        if not path.exists():
            raise InputError(f"{path}: training data not found", hint="check --data / --data-root")
        if path.is_file() and is_video_file(path):
            if is_held_out(path, extra):
                skipped.append(path)
                continue
            info = probe(path)  # the container's count when it stores one; demuxing only when it does not
            count = info.num_frames if info.num_frames_exact else count_frames(path)
            clips.append(Clip(str(path), [path] * count, False, info.height, info.width, video=True))
            continue
        if path.is_file():
            folders = {path.parent: [path]}
            kind = "images"
        else:
            folders = {}
            for folder in sorted([path, *[p for p in path.rglob("*") if p.is_dir()]], key=lambda p: str(p)):
                files = _image_files(folder)
                if files:
                    folders[folder] = files
        for folder, files in folders.items():
            if is_held_out(folder, extra):
                skipped.append(folder)
                continue
            sizes = [read_image(f).shape[:2] for f in files[: 1 if kind == "video" else len(files)]]
            as_video = kind == "video" or (kind == "auto" and len(files) >= 2 and len(set(sizes)) == 1)
            if as_video:
                (h, w) = sizes[0]
                clips.append(Clip(str(folder), files, False, h, w))
                continue
            for file, (h, w) in zip(files, sizes, strict=True):
                if is_held_out(file, extra):
                    skipped.append(file)
                else:
                    clips.append(Clip(str(file), [file], True, h, w))
    return clips, skipped


class FrameCache:
    """Decoded frames as (3, H, W) uint8 tensors, kept while they fit in ``budget_mb``.

    Training frames are small and reused thousands of times; decoding them once keeps the loader far below
    the cost of a training step. Past the budget, frames are decoded on every use.
    """

    def __init__(self, budget_mb: int) -> None:
        self.budget = budget_mb * 1024 * 1024
        self.used = 0
        self._frames: dict[Path, torch.Tensor] = {}
        self._videos: dict[Path, torch.Tensor] = {}

    def video_frame(self, path: Path, index: int) -> torch.Tensor:
        """Frame ``index`` of a video file. The whole file is decoded on first use and kept: seeking a
        compressed stream for every sample would cost more than the training step."""
        frames = self._videos.get(path)
        if frames is None:
            decoded, _ = read_video(path)
            if decoded.dtype != np.uint8:  # a deeper source: its top 8 bits, as every other training frame
                decoded = (decoded >> 8).astype(np.uint8)
            frames = torch.from_numpy(decoded).permute(0, 3, 1, 2).contiguous()
            self._videos[path] = frames
            self.used += frames.numel()
        return frames[min(index, frames.shape[0] - 1)]  # the container's count may exceed what decodes

    def get(self, path: Path) -> torch.Tensor:
        frame = self._frames.get(path)
        if frame is None:
            frame = torch.from_numpy(read_image(path)).permute(2, 0, 1).contiguous()
            if self.used + frame.numel() <= self.budget:
                self._frames[path] = frame
                self.used += frame.numel()
        return frame


def _affine_grids(
    n: int, size: int, height: int, width: int, rng: np.random.Generator, cfg: DataConfig, scale: float
) -> torch.Tensor:
    """Sampling grids (n, size, size, 2) of a smooth camera path over a (height, width) image.

    The path is a constant velocity plus a small acceleration for the centre, and steady zoom and rotation
    rates, so consecutive frames differ by a smooth, mostly sub-pixel-accurate warp. Motion is drawn in
    low-resolution pixels (that is what the network sees) and scaled to the ground truth.
    """
    still = rng.random() < 0.1  # some clips do not move at all
    shift = 0.0 if still else cfg.max_shift * scale
    vel = rng.uniform(-shift, shift, size=2)
    acc = rng.uniform(-0.1, 0.1, size=2) * shift
    zoom_rate = 0.0 if still else rng.uniform(-cfg.max_zoom, cfg.max_zoom)
    rot_rate = 0.0 if still else math.radians(rng.uniform(-cfg.max_rotate, cfg.max_rotate))
    half = (size - 1) / 2.0
    margin_y, margin_x = max(height - size, 0), max(width - size, 0)
    start = np.array([rng.uniform(0, margin_x) + half, rng.uniform(0, margin_y) + half])  # x, y of the centre
    t = np.arange(n, dtype=np.float64)
    if rng.random() < 0.5:  # the clip may play either way along its path
        t = t[::-1].copy()
    centres = start[None, :] + vel[None, :] * t[:, None] + 0.5 * acc[None, :] * (t**2)[:, None]
    zooms = (1.0 + zoom_rate) ** t
    angles = rot_rate * t
    offs = torch.arange(size, dtype=torch.float64) - half
    gy, gx = torch.meshgrid(offs, offs, indexing="ij")
    grids = []
    for i in range(n):
        c, s = math.cos(angles[i]) * zooms[i], math.sin(angles[i]) * zooms[i]
        sx = centres[i, 0] + c * gx - s * gy
        sy = centres[i, 1] + s * gx + c * gy
        # pixel centres -> normalised coordinates of grid_sample with align_corners=False
        grids.append(torch.stack([(2 * sx + 1) / width - 1, (2 * sy + 1) / height - 1], dim=-1))
    return torch.stack(grids).float()


def synthetic_clip(
    image: torch.Tensor, n: int, size: int, rng: np.random.Generator, cfg: DataConfig, scale: float
) -> torch.Tensor:
    """(n, 3, size, size) float frames of a still (3, H, W) uint8 image seen by a smoothly moving camera."""
    import torch.nn.functional as F

    _, h, w = image.shape
    grid = _affine_grids(n, size, h, w, rng, cfg, scale)
    src = image.float().div(255.0).unsqueeze(0).expand(n, -1, -1, -1)
    out = F.grid_sample(src, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
    return out.clamp_(0.0, 1.0)


class ClipSampler:
    """Draws batches of ground-truth clips (N, T, 3, P, P) in [0, 1] from cached frames."""

    def __init__(self, clips: list[Clip], cfg: DataConfig, scale: int, seed: int) -> None:
        self.cfg = cfg
        self.scale = scale
        self.size = cfg.patch * scale
        self.n_load = cfg.clip_len // 2 if cfg.seq_flip else cfg.clip_len
        self.videos = [
            c for c in clips if not c.still and min(c.height, c.width) >= self.size and len(c.frames) >= 2
        ]
        self.stills = [c for c in clips if c.still and min(c.height, c.width) >= self.size]
        if not self.videos and not self.stills:
            raise InputError(
                f"no training clip is at least {self.size}x{self.size} pixels",
                hint="add data or lower data.patch",
            )
        self.rng = np.random.default_rng(seed)
        self.cache = FrameCache(cfg.cache_mb)

    def state_dict(self) -> dict[str, Any]:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["bit_generator"]

    def _shrink(self, clip: Clip) -> int:
        """The side of the source square that becomes one ground-truth patch (``gt_downscale``).

        No number is drawn when the range is [1, 1], so older configs sample exactly as before."""
        lo, hi = self.cfg.gt_downscale
        if lo == hi == 1.0:
            return self.size
        least = self.size / min(clip.height, clip.width)  # the shrunk source must still fill a patch
        factor = float(self.rng.uniform(max(lo, least), max(hi, least)))
        return min(round(self.size / factor), clip.height, clip.width)

    def _to_patch(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[-1] == self.size:
            return frames
        return shrink_frames(frames, (self.size, self.size))

    def _frame(self, clip: Clip, index: int) -> torch.Tensor:
        if clip.video:
            return self.cache.video_frame(clip.frames[index], index)
        return self.cache.get(clip.frames[index])

    def _video_sample(self) -> torch.Tensor:
        clip = self.videos[int(self.rng.integers(len(self.videos)))]
        side = self._shrink(clip)
        count = len(clip.frames)
        interval = int(self.rng.integers(1, self.cfg.max_interval + 1))
        while interval > 1 and (self.n_load - 1) * interval + 1 > count:
            interval -= 1
        span = (self.n_load - 1) * interval + 1
        if span > count:  # a short clip: run it forwards and backwards to reach the length
            order = list(range(count)) + list(range(count - 2, 0, -1))
            idx = [order[i % len(order)] for i in range(self.n_load)]
        else:
            first = int(self.rng.integers(count - span + 1))
            idx = list(range(first, first + span, interval))
        if self.rng.random() < 0.5:
            idx = idx[::-1]
        top = int(self.rng.integers(clip.height - side + 1))
        left = int(self.rng.integers(clip.width - side + 1))
        frames = [self._frame(clip, i)[:, top : top + side, left : left + side] for i in idx]
        return self._to_patch(torch.stack(frames).float().div_(255.0))

    def _still_sample(self) -> torch.Tensor:
        clip = self.stills[int(self.rng.integers(len(self.stills)))]
        side = self._shrink(clip)
        # motion is drawn in low-resolution pixels of the final patch, so it scales with the shrink
        motion_scale = self.scale * side / self.size
        image = self.cache.get(clip.frames[0])
        return self._to_patch(synthetic_clip(image, self.n_load, side, self.rng, self.cfg, motion_scale))

    def sample_one(self) -> torch.Tensor:
        """One clip (T, 3, P, P): real or synthetic, cropped, flipped, transposed, mirrored to full length."""
        use_still = bool(self.stills) and (not self.videos or self.rng.random() < self.cfg.still_prob)
        frames = self._still_sample() if use_still else self._video_sample()
        hflip, vflip, transpose = (bool(v) for v in self.rng.random(3) < 0.5)
        if hflip:
            frames = frames.flip(-1)
        if vflip:
            frames = frames.flip(-2)
        if transpose:
            frames = frames.transpose(-1, -2)
        if self.cfg.seq_flip:
            frames = torch.cat([frames, frames.flip(0)], dim=0)
        return frames.contiguous()

    def sample(self) -> torch.Tensor:
        return torch.stack([self.sample_one() for _ in range(self.cfg.batch)])


def shrink_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(T, 3, H, W) frames in [0, 1] resized to ``size`` by antialiased bicubic: how training samples
    (``gt_downscale``) and validation clips (``val.downscale``) are shrunk, the same way for both."""
    import torch.nn.functional as F

    return F.interpolate(frames, size=size, mode="bicubic", antialias=True).clamp_(0.0, 1.0)


def load_val_clips(
    specs: list[str],
    root: str | Path,
    frames: int,
    max_size: int,
    scale: int,
    multiple: int = 4,
    downscale: float = 1.0,
) -> list[tuple[str, torch.Tensor]]:
    """Held-out validation clips as (name, (T, 3, H, W) float ground truth), first shrunk by ``downscale`` (as
    training shrinks samples under ``gt_downscale``), then centre-cropped so the input is at most ``max_size``
    on a side and a multiple of ``multiple``."""
    out = []
    for spec in specs:
        _, path = resolve_path(spec, root)
        if any(p.lower().startswith(VID4_MARKER) for p in path.parts):
            raise InputError(f"{path}: Vid4 is the final check only and may not be used for validation")
        files = list_frames(path)[:frames]
        gt = torch.stack([torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in files]).float().div(255.0)
        if downscale != 1.0:
            size = (round(gt.shape[-2] * downscale), round(gt.shape[-1] * downscale))
            gt = shrink_frames(gt, size)
        step = scale * multiple
        h = min(gt.shape[-2], max_size * scale) // step * step
        w = min(gt.shape[-1], max_size * scale) // step * step
        top, left = (gt.shape[-2] - h) // 2, (gt.shape[-1] - w) // 2
        out.append((path.name, gt[..., top : top + h, left : left + w].contiguous()))
    return out
