"""``vsrcli benchmark``: quality (PSNR/SSIM by the official protocol) and speed of models on clips."""

from __future__ import annotations

from vsrcli.bench.baselines import NamedModel
from vsrcli.bench.data import Clip, ClipSource, Dataset, discover
from vsrcli.bench.report import BenchmarkResult, ClipScore, ModelResult, ModelSpeed, SpeedResult, to_json
from vsrcli.bench.runner import run_model, run_quality, run_speed

__all__ = [
    "BenchmarkResult",
    "Clip",
    "ClipScore",
    "ClipSource",
    "Dataset",
    "ModelResult",
    "ModelSpeed",
    "NamedModel",
    "SpeedResult",
    "discover",
    "run_model",
    "run_quality",
    "run_speed",
    "to_json",
]
