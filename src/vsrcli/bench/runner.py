"""The benchmark runner: feeds clips to models, times the forward passes, scores the outputs.

The rows it compares against live in :mod:`vsrcli.bench.baselines`; what it measures around a forward pass
(autocast, memory, versions) in :mod:`vsrcli.bench.measure`.

No printing here: results are dataclasses (``vsrcli.bench.report``) and progress goes through an optional
callback, so the CLI decides how things look.

Timing is model forward time only (host-to-device copies, padding, metrics and I/O excluded, as the official
runtime figures were taken), after ``warmup`` untimed forward passes, with ``torch.cuda.synchronize`` around
every timed region on CUDA. Peak RSS is sampled by a background thread while the model runs; on CUDA the
allocator's ``max_memory_allocated`` is reset and read per model.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vsrcli.bench.baselines import NamedModel, baseline_for
from vsrcli.bench.data import Clip, Dataset
from vsrcli.bench.measure import PeakRss, autocast_for, cuda_peak, precision_dtype, sync, versions
from vsrcli.bench.report import BenchmarkResult, ClipScore, ModelResult, ModelSpeed, SpeedResult
from vsrcli.degrade import noise_level_map
from vsrcli.errors import InputError, OutOfMemoryError, UsageError
from vsrcli.metrics import psnr, ssim, to_uint8
from vsrcli.pipeline.noise import NOISE_FRAMES, estimate_sigma, is_noise_conditioned

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["run_model", "run_quality", "run_speed", "score_clip", "warm_up"]

Progress = Callable[[str], None]
OutputHook = Callable[[str, str, np.ndarray, np.ndarray], None]  # clip, row name, output, ground truth


# ----------------------------------------------------------------------------------------------------------
# running a model on a clip
# ----------------------------------------------------------------------------------------------------------


def _lq_tensor(lq: np.ndarray, device: torch.device) -> torch.Tensor:
    """(T, h, w, 3) uint8 or float32 (0-1 scale) -> (1, T, 3, h, w) float32 on ``device``."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(lq))
    t = t.float().div_(255.0) if lq.dtype == np.uint8 else t.float()
    return t.permute(0, 3, 1, 2).unsqueeze(0).to(device)


def _padded_size(size: int, min_size: int, multiple: int) -> int:
    size = max(size, min_size)
    return int(math.ceil(size / multiple) * multiple)


def _forward(
    model: nn.Module, x: torch.Tensor, device: torch.device, precision: str
) -> tuple[torch.Tensor, float]:
    """One timed forward on (1, T, 3, h, w) after replicate padding to the model's size and frame rules;
    returns the cropped float output and the seconds the forward took."""
    import torch
    import torch.nn.functional as F

    scale = int(getattr(model, "scale", 1))
    min_size = int(getattr(model, "min_size", 1) or 1)
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    min_frames = int(getattr(model, "min_frames", 1) or 1)
    n, t, c, h, w = x.shape
    ph, pw = _padded_size(h, min_size, multiple), _padded_size(w, min_size, multiple)
    if (ph, pw) != (h, w):
        x = F.pad(x.reshape(n * t, c, h, w), (0, pw - w, 0, ph - h), mode="replicate").reshape(
            n, t, c, ph, pw
        )
    if t < min_frames:  # repeat the last frame; its outputs are dropped below
        x = torch.cat([x, x[:, -1:].expand(n, min_frames - t, c, ph, pw)], dim=1)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode(), autocast_for(device, precision):
        y = model(x)
    sync(device)
    seconds = time.perf_counter() - start
    if y.shape[-2:] != (ph * scale, pw * scale):
        raise InputError(f"model returned {tuple(y.shape)} for input {tuple(x.shape)} (scale {scale})")
    return y[:, :t, :, : h * scale, : w * scale].float(), seconds


def _oom_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),)


def clip_noise_level(lq: np.ndarray, setting: float | str | None) -> float | None:
    """The noise level a conditioned model gets for one clip: a number as given, or ``"auto"`` estimated
    from the clip's 8-bit input as ``vsrcli denoise --sigma auto`` would."""
    if setting != "auto":
        return None if setting is None else float(setting)
    head = lq[:NOISE_FRAMES]
    if head.dtype != np.uint8:  # float input on the 0-1 scale: what an 8-bit video of it would hold
        head = np.clip(np.round(head * 255.0), 0, 255).astype(np.uint8)
    return estimate_sigma(head)


def run_model(
    model: nn.Module,
    lq: np.ndarray,
    *,
    device: torch.device,
    precision: str = "fp32",
    chunk_frames: int | None = None,
    noise_level: float | None = None,
) -> tuple[np.ndarray, float]:
    """Run a model on a whole clip (or on chunks of at most ``chunk_frames``) and return the uint8 output
    ``(T, sH, sW, 3)`` and the forward seconds. The whole clip in one pass is the official protocol; chunks do
    not overlap, and a short last chunk is extended backwards to full length (its extra outputs dropped).

    A noise-conditioned model (``extra_in_channels == 1``) gets ``noise_level`` (0-255 scale) as a constant
    extra input channel, as it was trained; it cannot run without one."""
    x = _lq_tensor(lq, device)
    if is_noise_conditioned(model):
        if noise_level is None:
            raise UsageError(
                "this denoiser needs the noise level of its input",
                hint="give --sigma N (or auto), or --degrade noise:N",
            )
        x = noise_level_map(x, float(noise_level))
    t = x.shape[1]
    step = t if not chunk_frames or chunk_frames >= t else chunk_frames
    outputs: list[np.ndarray] = []
    total = 0.0
    try:
        for start in range(0, t, step):
            stop = min(start + step, t)
            begin = max(0, stop - step)  # full-length last chunk
            y, sec = _forward(model, x[:, begin:stop], device, precision)
            total += sec
            outputs.append(to_uint8(y[0, start - begin :]))
    except _oom_errors() as exc:
        raise OutOfMemoryError(
            f"out of memory on {device} for a {step}-frame chunk of {tuple(x.shape[-2:])} frames",
            hint="lower --chunk or --max-frames",
        ) from exc
    return np.concatenate(outputs), total


def warm_up(
    model: nn.Module,
    lq: np.ndarray,
    passes: int,
    *,
    device: torch.device,
    precision: str,
    noise_level: float | None,
) -> None:
    """``passes`` untimed forwards on the first frames of ``lq`` (one-off allocation and kernel selection
    stay out of the timed passes)."""
    frames = max(int(getattr(model, "min_frames", 1) or 1), min(2, len(lq)))
    for _ in range(passes):
        run_model(model, lq[:frames], device=device, precision=precision, noise_level=noise_level)


def score_clip(name: str, out: np.ndarray, gt: np.ndarray, crop_border: int, seconds: float) -> ClipScore:
    """Frame-mean PSNR/SSIM on Y and RGB. If the output and GT differ in size (GT not a multiple of the
    scale), both are cut to their common top-left region."""
    if out.shape[0] != gt.shape[0]:
        raise InputError(f"clip {name}: {out.shape[0]} output frames for {gt.shape[0]} GT frames")
    h, w = min(out.shape[1], gt.shape[1]), min(out.shape[2], gt.shape[2])
    out, gt = out[:, :h, :w], gt[:, :h, :w]
    sums = dict.fromkeys(("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"), 0.0)
    for o, g in zip(out, gt, strict=True):
        sums["psnr_y"] += psnr(o, g, crop_border, y_channel=True)
        sums["ssim_y"] += ssim(o, g, crop_border, y_channel=True)
        sums["psnr_rgb"] += psnr(o, g, crop_border)
        sums["ssim_rgb"] += ssim(o, g, crop_border)
    n = len(out)
    mean = {k: v / n for k, v in sums.items()}
    return ClipScore(name, n, mean["psnr_y"], mean["ssim_y"], mean["psnr_rgb"], mean["ssim_rgb"], seconds)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _check_scale(m: NamedModel, scale: int) -> None:
    model_scale = int(getattr(m.module, "scale", 1))
    if model_scale != scale:
        raise UsageError(f"model {m.name} upscales x{model_scale} but the inputs need x{scale}")


def run_quality(
    dataset: Dataset,
    models: Sequence[NamedModel],
    *,
    device: torch.device,
    precision: str = "fp32",
    crop_border: int = 0,
    chunk_frames: int | None = None,
    max_frames: int | None = None,
    warmup: int = 1,
    baseline: str = "auto",
    progress: Progress | None = None,
    noise_level: float | str | None = None,
    extra_baselines: Sequence[NamedModel] = (),
    on_output: OutputHook | None = None,
) -> BenchmarkResult:
    """Score every model (plus the baseline row first, see ``baseline_for``, then ``extra_baselines``) on
    every clip.

    Clips load one at a time and every model sees exactly the same input. Each model gets ``warmup`` untimed
    passes on the first clip's first frames before its first timed pass. Noise-conditioned models get
    ``noise_level`` (a number on the 0-255 scale, or ``"auto"``: estimated per clip). ``on_output`` sees
    every row's uint8 output with the ground truth (crop comparisons).
    """
    precision_dtype(precision)
    base = baseline_for(dataset.scale, baseline)
    rows = ([base] if base is not None else []) + list(extra_baselines) + list(models)
    if not rows:
        raise UsageError("nothing to benchmark: give --model/--arch or keep the baseline")
    for m in rows:
        _check_scale(m, dataset.scale)
        m.module.to(device).eval()
    conditioned = any(is_noise_conditioned(m.module) for m in rows)
    scores: dict[str, list[ClipScore]] = {m.name: [] for m in rows}
    seconds = dict.fromkeys(scores, 0.0)
    rss = dict.fromkeys(scores, 0.0)
    cuda: dict[str, float | None] = dict.fromkeys(scores)
    warmed: set[str] = set()
    for i, source in enumerate(dataset.clips):
        if progress:
            progress(f"clip {i + 1}/{len(dataset.clips)}: {source.name}")
        clip: Clip = source.load()
        if clip.gt is None:
            raise InputError(f"clip {clip.name}: no ground truth to score against")
        level = clip_noise_level(clip.lq, noise_level) if conditioned else None
        for m in rows:
            if m.name not in warmed:
                warm_up(m.module, clip.lq, warmup, device=device, precision=precision, noise_level=level)
                warmed.add(m.name)
            if progress:
                progress(f"clip {i + 1}/{len(dataset.clips)}: {source.name}: {m.name}")
            with PeakRss() as peak, cuda_peak(device) as cpeak:
                out, sec = run_model(
                    m.module,
                    clip.lq,
                    device=device,
                    precision=precision,
                    chunk_frames=chunk_frames,
                    noise_level=level,
                )
            seconds[m.name] += sec
            rss[m.name] = max(rss[m.name], peak.peak / 2**20)
            if cpeak[0] is not None:
                cuda[m.name] = max(cuda[m.name] or 0.0, cpeak[0])
            scores[m.name].append(score_clip(clip.name, out, clip.gt, crop_border, sec))
            if on_output is not None:
                on_output(clip.name, m.name, out, clip.gt)
    return BenchmarkResult(
        dataset=dataset.name,
        layout=dataset.layout,
        degradation=dataset.lq_source,
        scale=dataset.scale,
        crop_border=crop_border,
        max_frames=max_frames,
        chunk_frames=chunk_frames,
        device=str(device),
        precision=precision,
        created=_now(),
        versions=versions(),
        models=tuple(
            ModelResult(
                m.name,
                m.role,
                m.description,
                tuple(scores[m.name]),
                seconds[m.name],
                rss[m.name],
                cuda[m.name],
            )
            for m in rows
        ),
    )


def speed_input(
    frames: int, height: int, width: int, real: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, str]:
    """The input of a speed run: real frames (cropped/tiled to the size) or seeded random uint8 frames."""
    if real is not None:
        reps_t = math.ceil(frames / real.shape[0])
        reps_h = math.ceil(height / real.shape[1])
        reps_w = math.ceil(width / real.shape[2])
        tiled = np.tile(real, (reps_t, reps_h, reps_w, 1))[:frames, :height, :width]
        return np.ascontiguousarray(tiled), "real"
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8), "random"


def run_speed(
    models: Sequence[NamedModel],
    *,
    frames: int = 10,
    height: int = 180,
    width: int = 320,
    device: torch.device,
    precision: str = "fp32",
    warmup: int = 1,
    repeats: int = 3,
    real: np.ndarray | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> SpeedResult:
    """Time each model on one ``frames`` x ``height`` x ``width`` input: ``warmup`` untimed passes, then
    ``repeats`` timed ones (forward only, synchronised on CUDA). No ground truth, no metrics."""
    precision_dtype(precision)
    if frames < 1 or height < 1 or width < 1 or repeats < 1 or warmup < 0:
        raise UsageError("speed run needs frames, size and repeats >= 1 and warmup >= 0")
    if not models:
        raise UsageError("--speed-only needs at least one --model or --arch")
    lq, source = speed_input(frames, height, width, real, seed)
    x = _lq_tensor(lq, device)
    results: list[ModelSpeed] = []
    for m in models:
        m.module.to(device).eval()
        # A denoiser's cost does not depend on the level its map says; any level lets it run.
        xm = noise_level_map(x, 25.0) if is_noise_conditioned(m.module) else x
        for i in range(warmup):
            if progress:
                progress(f"{m.name}: warm-up {i + 1}/{warmup}")
            try:
                _forward(m.module, xm, device, precision)
            except _oom_errors() as exc:
                raise OutOfMemoryError(
                    f"{m.name}: out of memory on {device} for {frames} frames of {width}x{height}",
                    hint="lower --frames or --size",
                ) from exc
        runs: list[float] = []
        try:
            with PeakRss() as peak, cuda_peak(device) as cpeak:
                for i in range(repeats):
                    if progress:
                        progress(f"{m.name}: run {i + 1}/{repeats}")
                    runs.append(_forward(m.module, xm, device, precision)[1])
        except _oom_errors() as exc:
            raise OutOfMemoryError(
                f"{m.name}: out of memory on {device} for {frames} frames of {width}x{height}",
                hint="lower --frames or --size",
            ) from exc
        results.append(ModelSpeed(m.name, m.description, frames, tuple(runs), peak.peak / 2**20, cpeak[0]))
    return SpeedResult(
        frames=frames,
        height=height,
        width=width,
        source=source,
        warmup=warmup,
        repeats=repeats,
        device=str(device),
        precision=precision,
        created=_now(),
        versions=versions(),
        models=tuple(results),
    )
