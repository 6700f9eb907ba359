"""Temporal chunks with overlap and cheap scene-cut detection, decided while decoding.

A window is the run of frames given to the network in one call; its *core* is the part whose outputs are kept.
Each core gets up to ``overlap`` frames of context on both sides (never across a scene cut), so recurrent
propagation is warm at both ends of the core and chunk seams vanish. The decision for a window depends only on
frames up to ``core_start + chunk + overlap``, so a streaming run and a planned run give the same windows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_CHUNK = 40
DEFAULT_OVERLAP = 10


@dataclass(frozen=True)
class Window:
    """Frames [start, stop) go to the network; outputs [core_start, core_stop) are kept.

    ``fade_out`` frames after the core are also kept, to be cross-faded into the next window's first frames.
    """

    index: int
    start: int
    stop: int
    core_start: int
    core_stop: int
    fade_out: int = 0

    @property
    def keep(self) -> slice:
        """The kept outputs (core plus fade-out) relative to the window start."""
        return slice(self.core_start - self.start, self.core_stop + self.fade_out - self.start)


def next_window(
    index: int,
    next_out: int,
    decoded: int,
    eof: bool,
    cuts: Sequence[int],
    chunk: int,
    overlap: int,
    fade: int = 0,
) -> Window | None:
    """The window whose core starts at ``next_out``, or None if more frames must be decoded first.

    ``decoded`` frames are known; ``cuts`` are the frames that start a new scene (sorted); ``eof`` says that
    ``decoded`` is the total.
    """
    need = next_out + chunk + overlap
    if not eof and decoded < need:
        return None
    if eof and next_out >= decoded:
        return None
    scene_start = max((c for c in cuts if c <= next_out), default=0)
    scene_end = min((c for c in cuts if c > next_out), default=decoded if eof else need)
    if not eof:
        scene_end = min(scene_end, decoded)
    core_stop = min(next_out + chunk, scene_end)
    stop = min(core_stop + overlap, scene_end)
    start = max(scene_start, next_out - overlap)
    fade_out = min(fade, stop - core_stop) if core_stop < scene_end else 0
    return Window(index, start, stop, next_out, core_stop, fade_out)


def plan_windows(
    num_frames: int, cuts: Sequence[int], chunk: int, overlap: int, fade: int = 0
) -> list[Window]:
    """All windows of a clip whose length and cuts are known (what the streaming scheduler will produce)."""
    windows: list[Window] = []
    next_out = 0
    while True:
        win = next_window(len(windows), next_out, num_frames, True, cuts, chunk, overlap, fade)
        if win is None:
            return windows
        windows.append(win)
        next_out = win.core_stop


def fade_weights(frames: int) -> np.ndarray:
    """Weights of the *new* window over a cross-fade of ``frames`` frames (the previous one gets 1 - w)."""
    return (np.arange(frames, dtype=np.float32) + 1.0) / (frames + 1.0)


class SceneCutDetector:
    """Finds frames that start a new scene from the mean absolute difference of tiny grey thumbnails.

    A cut is a *spike* in that difference: above ``min_score`` (0-255 scale), ``ratio`` times the median of
    the recent differences (so steady fast motion does not count), and ``spike`` times both neighbouring
    differences (so a burst of fast motion or a one-frame flash does not count either). The right neighbour is
    needed, so a cut at frame k is reported when frame k + 1 arrives (or at :meth:`finish`).
    """

    def __init__(
        self,
        *,
        min_score: float = 12.0,
        ratio: float = 2.0,
        spike: float = 2.5,
        history: int = 10,
        thumb: int = 32,
    ) -> None:
        self.min_score, self.ratio, self.spike, self.thumb = min_score, ratio, spike, thumb
        self._history: deque[float] = deque(maxlen=history)
        self._prev: np.ndarray | None = None
        self._count = 0
        self._scores: list[float] = []  # the last differences: score[k] = |thumb k - thumb k-1|
        self.last_score = 0.0

    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        """Grey block means on a grid of about ``thumb`` x ``thumb`` cells, on the 0-255 scale."""
        h, w = frame.shape[:2]
        by, bx = max(1, h // self.thumb), max(1, w // self.thumb)
        gh, gw = h // by, w // bx
        step_y, step_x = max(1, by // 4), max(1, bx // 4)  # sub-sample inside each block: cheap, still stable
        blocks = frame[: gh * by, : gw * bx].reshape(gh, by, gw, bx, -1)
        cells = blocks[:, ::step_y, :, ::step_x].astype(np.float32)
        grey = cells.mean(axis=(1, 3, 4))
        if frame.dtype == np.uint16:
            grey *= 255.0 / 65535.0
        return grey

    def _decide(self, frame: int, score: float, left: float | None, right: float | None) -> bool:
        """Is frame ``frame`` (difference ``score`` to its predecessor) the first of a new scene?"""
        if left is None and right is None:
            return False  # a single difference (a 2-frame clip) is no spike: nothing to compare it with
        baseline = float(np.median(self._history)) if self._history else 0.0
        neighbours = max(left or 0.0, right or 0.0)
        is_cut = (
            score > self.min_score
            and score > self.ratio * (baseline + 1.0)
            and score > self.spike * (neighbours + 1.0)
        )
        if not is_cut:
            self._history.append(score)
        return is_cut

    def push(self, frame: np.ndarray) -> int | None:
        """Feed the next frame; returns the index of a frame now confirmed to start a new scene, if any."""
        index = self._count
        self._count += 1
        thumb = self.thumbnail(frame)
        prev, self._prev = self._prev, thumb
        if prev is None or prev.shape != thumb.shape:
            self._scores = []
            return None
        score = float(np.abs(thumb - prev).mean())
        self.last_score = score
        self._scores.append(score)
        cut = None
        if len(self._scores) >= 2:  # decide the previous frame, whose right neighbour is now known
            left = self._scores[-3] if len(self._scores) >= 3 else None
            if self._decide(index - 1, self._scores[-2], left, score):
                cut = index - 1
        self._scores = self._scores[-3:]
        return cut

    def finish(self) -> int | None:
        """At the end of the clip: settle the last frame with only its left neighbour."""
        if not self._scores:
            return None
        left = self._scores[-2] if len(self._scores) >= 2 else None
        if self._decide(self._count - 1, self._scores[-1], left, None):
            return self._count - 1
        return None
