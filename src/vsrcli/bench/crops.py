"""Crop comparisons for `vsrcli benchmark --crops DIR`: one PNG per clip, every row side by side.

Numbers say how much better a model is; a crop shows whether blocking, ringing or amplified noise is gone.
For each clip the middle frame is cut at the window where the ground truth has the most detail (the largest
sum of absolute Laplacian responses on a coarse grid of candidate windows), each row's output and the ground
truth are cut at the same place, enlarged by pixel repetition, and laid out left to right in report order
with a thin white gap. A text file next to the PNG names the panels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vsrcli.io.frames import write_image

__all__ = ["CropCollector", "detail_window"]

GAP = 4


def detail_window(frame: np.ndarray, size: int, steps: int = 6) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window with the most detail in (H, W, 3) uint8 ``frame``."""
    h, w = frame.shape[:2]
    size_h, size_w = min(size, h), min(size, w)
    y = frame.astype(np.float32).mean(axis=2)
    lap = np.zeros_like(y)
    lap[1:-1, 1:-1] = np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:])
    best, corner = -1.0, (0, 0)
    for top in np.linspace(0, h - size_h, steps).round().astype(int):
        for left in np.linspace(0, w - size_w, steps).round().astype(int):
            score = float(lap[top : top + size_h, left : left + size_w].sum())
            if score > best:
                best, corner = score, (int(top), int(left))
    return corner


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "clip"


class CropCollector:
    """Collects the middle frame of every row per clip (the runner's ``on_output`` hook) and writes strips.

    ``size`` is the crop side in output pixels and ``zoom`` the pixel-repetition factor of the PNG;
    ``reference`` names the last panel (the ground truth, or the input in a no-reference run, enlarged by
    pixel repetition when it is an integer factor smaller than the outputs).
    """

    def __init__(
        self, folder: str | Path, size: int = 128, zoom: int = 2, reference: str = "ground truth"
    ) -> None:
        self.folder = Path(folder)
        self.size = size
        self.zoom = zoom
        self.reference = reference
        self._rows: dict[str, list[tuple[str, np.ndarray]]] = {}
        self._gt: dict[str, np.ndarray] = {}

    def __call__(self, clip: str, row: str, out: np.ndarray, gt: np.ndarray) -> None:
        mid = len(out) // 2
        if clip not in self._gt:
            ref = gt[mid]
            zoom = out.shape[1] // ref.shape[0]
            if zoom > 1 and out.shape[2] // ref.shape[1] == zoom:  # the input of a no-reference run
                ref = np.repeat(np.repeat(ref, zoom, axis=0), zoom, axis=1)
            self._gt[clip] = ref.copy()
        ref = self._gt[clip]
        h, w = min(out.shape[1], ref.shape[0]), min(out.shape[2], ref.shape[1])
        self._rows.setdefault(clip, []).append((row, out[mid, :h, :w].copy()))

    def write(self) -> list[Path]:
        """Write one PNG (and its panel list) per clip; returns the PNG paths."""
        self.folder.mkdir(parents=True, exist_ok=True)
        written = []
        for clip, rows in self._rows.items():
            gt = self._gt[clip]
            panels = [*rows, (self.reference, gt)]
            h = min(p.shape[0] for _, p in panels)
            w = min(p.shape[1] for _, p in panels)
            top, left = detail_window(gt[:h, :w], self.size)
            side_h, side_w = min(self.size, h), min(self.size, w)
            cuts = [
                np.repeat(np.repeat(p[top : top + side_h, left : left + side_w], self.zoom, 0), self.zoom, 1)
                for _, p in panels
            ]
            ph, pw = cuts[0].shape[:2]
            strip = np.full((ph, len(cuts) * pw + (len(cuts) - 1) * GAP, 3), 255, np.uint8)
            for i, cut in enumerate(cuts):
                strip[:, i * (pw + GAP) : i * (pw + GAP) + pw] = cut
            path = self.folder / f"{_safe(clip)}.png"
            write_image(path, strip)
            legend = [
                f"{clip}: middle frame, crop {side_h}x{side_w} at (y={top}, x={left}), "
                f"x{self.zoom} pixel repeat",
                "panels, left to right: " + " | ".join(name for name, _ in panels),
            ]
            path.with_suffix(".txt").write_text("\n".join(legend) + "\n", encoding="utf-8")
            written.append(path)
        return written
