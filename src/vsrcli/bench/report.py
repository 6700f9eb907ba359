"""Benchmark results as frozen dataclasses, and their JSON / CSV forms.

JSON schema (``schema`` = "vsrcli.benchmark/1"), a quality run::

    {
      "schema": "vsrcli.benchmark/1", "kind": "quality",
      "dataset": str, "layout": "clips" | "paired" | "videos", "degradation": str (a --degrade name or
      "stored:<LQ folder>"), "scale": int, "crop_border": int, "max_frames": int | null,
      "chunk_frames": int | null, "device": str, "precision": "fp32" | "fp16" | "bf16",
      "created": ISO-8601 UTC,
      "versions": {"vsrcli", "python", "torch", "torchvision", "av", "numpy", "cuda", "cpu_threads"},
      "models": [
        {"model": str, "role": "baseline" | "model", "description": str,
         "frames": int, "seconds": float (model forward time, warm-up excluded),
         "seconds_per_frame": float, "fps": float,
         "peak_rss_mb": float, "cuda_max_allocated_mb": float | null,
         "mean": {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}  (mean over clips of per-clip frame means),
         "clips": [{"clip": str, "frames": int, "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb",
                    "seconds": float}, ...]}, ...]
    }

A speed run (``"kind": "speed"``) has ``input`` ({"frames", "height", "width", "source"}), ``warmup``,
``repeats``, ``device``, ``precision``, ``versions`` and ``models``: [{"model", "description", "frames",
"seconds_per_frame", "fps", "peak_rss_mb", "cuda_max_allocated_mb", "runs": [seconds, ...]}].
A no-reference run (``"kind": "noref"``, ``vsrcli.bench.noref``) has ``dataset``, ``scale``, ``device``,
``precision``, ``input_noise`` ({clip: the input's own noise estimate}) and ``models``: [{"model", "role",
"description", "frames", "seconds", "mean": {"noise", "noise_input", "edges"}, "clips": [{"clip", "frames",
"noise", "noise_input", "edges", "seconds"}, ...]}].
PSNR values that are infinite (identical images) are written as null.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vsrcli.errors import OutputError

__all__ = [
    "METRICS",
    "BenchmarkResult",
    "ClipScore",
    "ModelResult",
    "ModelSpeed",
    "NoRefClip",
    "NoRefModel",
    "NoRefResult",
    "SpeedResult",
    "to_json",
    "write_csv",
    "write_json",
]

SCHEMA = "vsrcli.benchmark/1"
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
NOREF_METRICS = ("noise", "noise_input", "edges")


@dataclass(frozen=True)
class ClipScore:
    """Frame-mean metrics of one clip for one model."""

    clip: str
    frames: int
    psnr_y: float
    ssim_y: float
    psnr_rgb: float
    ssim_rgb: float
    seconds: float


@dataclass(frozen=True)
class _Row:
    """What every row of a run over clips has: who it is, its per-clip records and its forward time."""

    model: str
    role: str
    description: str
    clips: tuple[Any, ...]
    seconds: float

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.clips)


@dataclass(frozen=True)
class ModelResult(_Row):
    """One row of the overall table: a model's per-clip scores, their clip mean, its speed and memory."""

    clips: tuple[ClipScore, ...]
    peak_rss_mb: float
    cuda_max_allocated_mb: float | None

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else math.nan

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def mean(self, metric: str) -> float:
        """Mean over clips of the per-clip frame means (the official averaging)."""
        values = [getattr(c, metric) for c in self.clips]
        return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class BenchmarkResult:
    """A whole quality run."""

    dataset: str
    layout: str
    degradation: str
    scale: int
    crop_border: int
    max_frames: int | None
    chunk_frames: int | None
    device: str
    precision: str
    created: str
    versions: dict[str, str | None]
    models: tuple[ModelResult, ...]
    kind: str = field(default="quality", init=False)


@dataclass(frozen=True)
class ModelSpeed:
    """Speed of one model on one input size; ``runs`` are the timed repeats in seconds."""

    model: str
    description: str
    frames: int
    runs: tuple[float, ...]
    peak_rss_mb: float
    cuda_max_allocated_mb: float | None

    @property
    def seconds_per_frame(self) -> float:
        return (sum(self.runs) / len(self.runs)) / self.frames

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds_per_frame if self.seconds_per_frame > 0 else math.inf


@dataclass(frozen=True)
class SpeedResult:
    """A whole ``--speed-only`` run."""

    frames: int
    height: int
    width: int
    source: str
    warmup: int
    repeats: int
    device: str
    precision: str
    created: str
    versions: dict[str, str | None]
    models: tuple[ModelSpeed, ...]
    kind: str = field(default="speed", init=False)


@dataclass(frozen=True)
class NoRefClip:
    """No-reference statistics of one row on one clip (``vsrcli.bench.noref``)."""

    clip: str
    frames: int
    noise: float
    noise_input: float
    edges: float
    seconds: float


@dataclass(frozen=True)
class NoRefModel(_Row):
    """One row of a no-reference run."""

    clips: tuple[NoRefClip, ...]

    def mean(self, key: str) -> float:
        return sum(getattr(c, key) for c in self.clips) / len(self.clips) if self.clips else float("nan")


@dataclass(frozen=True)
class NoRefResult:
    """A no-reference run: outputs measured without ground truth."""

    dataset: str
    scale: int
    device: str
    precision: str
    input_noise: tuple[float, ...]
    """The input's own noise estimate per clip (in the order of every row's ``clips``)."""
    models: tuple[NoRefModel, ...]
    kind: str = field(default="noref", init=False)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _row_json(m: _Row) -> dict[str, Any]:
    return {
        "model": m.model,
        "role": m.role,
        "description": m.description,
        "frames": m.frames,
        "seconds": m.seconds,
    }


def to_json(result: BenchmarkResult | SpeedResult | NoRefResult) -> dict[str, Any]:
    """The documented JSON object (module docstring) of a result."""
    if isinstance(result, NoRefResult):
        return {
            "schema": SCHEMA,
            "kind": "noref",
            "dataset": result.dataset,
            "scale": result.scale,
            "device": result.device,
            "precision": result.precision,
            "input_noise": dict(
                zip([c.clip for c in result.models[0].clips], result.input_noise, strict=True)
            ),
            "models": [
                {
                    **_row_json(m),
                    "mean": {k: m.mean(k) for k in NOREF_METRICS},
                    "clips": [asdict(c) for c in m.clips],
                }
                for m in result.models
            ],
        }
    if isinstance(result, SpeedResult):
        return {
            "schema": SCHEMA,
            "kind": "speed",
            "input": {
                "frames": result.frames,
                "height": result.height,
                "width": result.width,
                "source": result.source,
            },
            "warmup": result.warmup,
            "repeats": result.repeats,
            "device": result.device,
            "precision": result.precision,
            "created": result.created,
            "versions": dict(result.versions),
            "models": [
                {
                    "model": m.model,
                    "description": m.description,
                    "frames": m.frames,
                    "seconds_per_frame": m.seconds_per_frame,
                    "fps": _finite(m.fps),
                    "peak_rss_mb": m.peak_rss_mb,
                    "cuda_max_allocated_mb": m.cuda_max_allocated_mb,
                    "runs": list(m.runs),
                }
                for m in result.models
            ],
        }
    return {
        "schema": SCHEMA,
        "kind": "quality",
        "dataset": result.dataset,
        "layout": result.layout,
        "degradation": result.degradation,
        "scale": result.scale,
        "crop_border": result.crop_border,
        "max_frames": result.max_frames,
        "chunk_frames": result.chunk_frames,
        "device": result.device,
        "precision": result.precision,
        "created": result.created,
        "versions": dict(result.versions),
        "models": [
            {
                **_row_json(m),
                "seconds_per_frame": _finite(m.seconds_per_frame),
                "fps": _finite(m.fps),
                "peak_rss_mb": m.peak_rss_mb,
                "cuda_max_allocated_mb": m.cuda_max_allocated_mb,
                "mean": {k: _finite(m.mean(k)) for k in METRICS},
                "clips": [{**asdict(c), **{k: _finite(getattr(c, k)) for k in METRICS}} for c in m.clips],
            }
            for m in result.models
        ],
    }


_MEDIA_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".png", ".jpg", ".jpeg", ".bmp")


def check_report_path(path: Path, data: Path | None, option: str) -> None:
    """Refuse, before any measuring, a --json/--csv path that is the data, lies in a missing folder or would
    replace a video or image (``benchmark clip.mkv --json clip.mkv`` once overwrote the clip)."""
    if str(path) == "-":
        return
    try:
        target = path.resolve()
        if (
            data is not None
            and data.exists()
            and (target == data.resolve() or data.resolve() in target.parents)
        ):
            raise OutputError(f"{option} {path}: is the benchmark's data; write the results elsewhere")
        if path.is_dir():
            raise OutputError(f"{option} {path}: is a folder; give a file name")
        if path.exists() and path.suffix.lower() in _MEDIA_SUFFIXES:
            raise OutputError(f"{option} {path}: would replace a video or image; give a .json/.csv name")
        if not path.parent.is_dir():
            raise OutputError(f"{option} {path}: folder {path.parent} does not exist")
    except OSError as exc:
        raise OutputError(f"{option} {path}: {exc.strerror or exc}") from exc


def check_crops_folder(folder: Path, data: Path | None) -> None:
    """--crops writes one PNG per clip: never into the benchmark's data (a frame folder would gain frames)."""
    try:
        target, source = folder.resolve(), data.resolve() if data is not None and data.exists() else None
        if source is not None and (target == source or source in target.parents):
            raise OutputError(f"--crops {folder}: is inside the benchmark's data; choose another folder")
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"--crops {folder}: is a file, not a folder")
    except OSError as exc:
        raise OutputError(f"--crops {folder}: {exc.strerror or exc}") from exc


def write_json(result: BenchmarkResult | SpeedResult | NoRefResult, path: str | Path) -> None:
    """Write the JSON form; ``-`` is not special here (the CLI prints to stdout itself)."""
    try:
        Path(path).write_text(json.dumps(to_json(result), indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc


CSV_QUALITY = ("model", "role", "clip", "frames", *METRICS, "seconds", "seconds_per_frame", "fps")
CSV_NOREF = ("model", "role", "clip", "frames", *NOREF_METRICS, "seconds")
CSV_SPEED = ("model", "frames", "height", "width", "seconds_per_frame", "fps", "peak_rss_mb", "cuda_max_mb")


def csv_rows(result: BenchmarkResult | SpeedResult | NoRefResult) -> list[dict[str, Any]]:
    """Flat rows: per (model, clip), plus a ``clip = "mean"`` row per model; or one row per model (speed)."""
    rows: list[dict[str, Any]] = []
    if isinstance(result, NoRefResult):
        for m in result.models:
            for n in m.clips:
                rows.append({"model": m.model, "role": m.role, **asdict(n)})
            mean = {k: m.mean(k) for k in NOREF_METRICS}
            rows.append(
                {
                    "model": m.model,
                    "role": m.role,
                    "clip": "mean",
                    "frames": m.frames,
                    **mean,
                    "seconds": m.seconds,
                }
            )
        return rows
    if isinstance(result, SpeedResult):
        for s in result.models:
            rows.append(
                {
                    "model": s.model,
                    "frames": s.frames,
                    "height": result.height,
                    "width": result.width,
                    "seconds_per_frame": s.seconds_per_frame,
                    "fps": s.fps,
                    "peak_rss_mb": s.peak_rss_mb,
                    "cuda_max_mb": s.cuda_max_allocated_mb,
                }
            )
        return rows
    for r in result.models:
        for c in r.clips:
            row = {"model": r.model, "role": r.role, "clip": c.clip, "frames": c.frames}
            row.update({k: getattr(c, k) for k in METRICS})
            sec = c.seconds
            row.update(seconds=sec, seconds_per_frame=sec / c.frames, fps=c.frames / sec if sec > 0 else "")
            rows.append(row)
        row = {"model": r.model, "role": r.role, "clip": "mean", "frames": r.frames}
        row.update({k: r.mean(k) for k in METRICS})
        row.update(seconds=r.seconds, seconds_per_frame=r.seconds_per_frame, fps=r.fps)
        rows.append(row)
    return rows


def write_csv(result: BenchmarkResult | SpeedResult | NoRefResult, path: str | Path) -> None:
    """Write ``csv_rows`` with a header."""
    fields = {SpeedResult: CSV_SPEED, NoRefResult: CSV_NOREF}.get(type(result), CSV_QUALITY)
    try:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(csv_rows(result))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc
