"""No-reference benchmark (`vsrcli benchmark DATA --no-reference`): real footage with no ground truth.

Real-world low-quality video (VideoLQ and the like) has no clean original, so PSNR cannot say whether a model
removed its noise and compression or amplified them. Three measured statistics stand in, per row and clip, on
the output frames:

* ``noise``: the robust noise estimate of ``vsrcli denoise --sigma auto`` (median absolute finest diagonal
  Haar detail, 0-255 scale), i.e. how much pixel-level grain and mosquito noise the output carries. A model
  that amplifies the input's noise scores above the bicubic baseline; one that cleans it scores below.
* ``noise_input``: the same estimate on the output box-averaged back to the input size, comparable with the
  input's own noise (``input_noise``): below it, the model removed noise; above it, it added some.
* ``edges``: the 90th percentile of the gradient magnitude of BT.601 Y (the metrics' luma, 16-235), so
  that a model that only blurs (low noise, low edges) is told apart from one that cleans and keeps detail.

The input frames are the model input as they are (no degradation). Crops (``--crops``) put the input where a
quality run puts the ground truth; the crop collector enlarges it to the output size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vsrcli.bench.data import Dataset
from vsrcli.bench.report import NoRefClip, NoRefModel, NoRefResult
from vsrcli.errors import UsageError
from vsrcli.metrics import rgb_to_y
from vsrcli.pipeline.noise import estimate_sigma_frame

if TYPE_CHECKING:
    import torch

    from vsrcli.bench.models import NamedModel

__all__ = ["edge_strength", "noise_level", "run_no_reference"]

#: What the crop strips call the reference panel of a no-reference run.
INPUT_PANEL = "input (pixel repeat)"


def noise_level(frames: np.ndarray, shrink: int = 1) -> float:
    """Mean over frames of the robust noise estimate (0-255) of uint8 ``(T, H, W, 3)`` frames, after averaging
    ``shrink`` x ``shrink`` blocks (back to the input size of an x``shrink`` model)."""
    if shrink > 1:
        t, h, w, c = frames.shape
        h, w = h // shrink * shrink, w // shrink * shrink
        blocks = frames[:, :h, :w].reshape(t, h // shrink, shrink, w // shrink, shrink, c)
        frames = np.rint(blocks.mean(axis=(2, 4), dtype=np.float64)).astype(np.uint8)
    return float(np.mean([estimate_sigma_frame(f) for f in frames]))


def edge_strength(frames: np.ndarray, percentile: float = 90.0) -> float:
    """Mean over frames of the ``percentile`` of the luma gradient magnitude (central differences)."""
    values = []
    for f in frames:
        y = rgb_to_y(f)
        gx = (y[1:-1, 2:] - y[1:-1, :-2]) / 2
        gy = (y[2:, 1:-1] - y[:-2, 1:-1]) / 2
        values.append(float(np.percentile(np.hypot(gx, gy), percentile)))
    return float(np.mean(values))


def _scale_of(models: Sequence[NamedModel]) -> int:
    scales = {int(getattr(m.module, "scale", 1)) for m in models}
    if len(scales) != 1:
        raise UsageError(
            f"--no-reference compares models of one scale; got x{', x'.join(str(s) for s in sorted(scales))}"
        )
    return scales.pop()


def run_no_reference(
    dataset: Dataset,
    models: Sequence[NamedModel],
    *,
    device: torch.device,
    precision: str = "fp32",
    chunk_frames: int | None = None,
    baseline: str = "auto",
    warmup: int = 1,
    noise_level_setting: float | str | None = None,
    progress: Callable[[str], None] | None = None,
    on_output: Callable[[str, str, np.ndarray, np.ndarray], None] | None = None,
) -> NoRefResult:
    """Run the baseline row (bicubic for x4, the input for restoration) and every model on every clip as it
    is, and measure the outputs' noise and edge strength (module docstring). Each row gets ``warmup`` untimed
    passes on the first clip's first frames before its first timed pass, as in a quality run."""
    from vsrcli.bench.baselines import baseline_for
    from vsrcli.bench.runner import clip_noise_level, run_model, warm_up

    if not models:
        raise UsageError("--no-reference needs at least one --model or --arch")
    scale = _scale_of(models)
    base = baseline_for(scale, baseline)
    rows = ([base] if base is not None else []) + list(models)
    for m in rows:
        m.module.to(device).eval()
    per_row: dict[str, list[NoRefClip]] = {m.name: [] for m in rows}
    input_noise = []
    for i, source in enumerate(dataset.clips):
        if progress:
            progress(f"clip {i + 1}/{len(dataset.clips)}: {source.name}")
        lq = source.load().lq
        level = clip_noise_level(lq, noise_level_setting)
        input_noise.append(noise_level(lq))  # decoded frames: uint8
        for m in rows:
            if i == 0:
                warm_up(m.module, lq, warmup, device=device, precision=precision, noise_level=level)
            out, sec = run_model(
                m.module, lq, device=device, precision=precision, chunk_frames=chunk_frames, noise_level=level
            )
            stats = NoRefClip(
                source.name, len(out), noise_level(out), noise_level(out, scale), edge_strength(out), sec
            )
            per_row[m.name].append(stats)
            if on_output is not None:
                on_output(source.name, m.name, out, lq)
    return NoRefResult(
        dataset=dataset.name,
        scale=scale,
        device=str(device),
        precision=precision,
        input_noise=tuple(input_noise),
        models=tuple(
            NoRefModel(m.name, m.role, m.description, tuple(clips), sum(c.seconds for c in clips))
            for m in rows
            for clips in [per_row[m.name]]
        ),
    )
