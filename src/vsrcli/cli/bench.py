"""`vsrcli benchmark`: quality and speed of models on folders of clips, rendered with rich.

All the work is in ``vsrcli.bench``; this module parses options, calls one runner function and renders its
result (tables to stdout, progress to stderr, ``--json`` / ``--csv`` files).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vsrcli.device import (
    DEVICE_HELP,
    PRECISION_HELP,
    precision_choice,
    precision_name,
    resolve_device,
    resolve_precision,
)
from vsrcli.errors import UsageError

SIZE_HELP = "Speed-run frame size HxW (the published BasicVSR++ speeds are for 180x320 LR input)."


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("*", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--size {text!r}: expected HEIGHTxWIDTH, e.g. 180x320") from None
    if h < 1 or w < 1:
        raise UsageError(f"--size {text!r}: both sides must be positive")
    return h, w


def _noise_level(sigma: str | None, degradation: Any) -> float | str | None:
    """--sigma as the runner takes it: a float, "auto", or the sigma of a noise degradation."""
    from vsrcli.pipeline.noise import parse_sigma

    if sigma is None:
        return float(degradation.params["sigma"]) if degradation.kind == "noise" else None
    return parse_sigma(sigma)


def _fmt(x: float | None, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def _quality_tables(result: Any) -> list[Any]:
    from rich.table import Table

    crop = f", crop {result.crop_border}" if result.crop_border else ""
    per_clip = Table(
        title=f"{result.dataset} · {result.degradation} · x{result.scale}{crop} · per clip",
        title_justify="left",
    )
    for col in ("clip", "model", "frames", "PSNR-Y", "SSIM-Y", "PSNR-RGB", "SSIM-RGB", "s/frame"):
        per_clip.add_column(col, justify="left" if col in ("clip", "model") else "right")
    clip_names = [c.clip for c in result.models[0].clips] if result.models else []
    for i, name in enumerate(clip_names):
        for j, m in enumerate(result.models):
            c = m.clips[i]
            per_clip.add_row(
                name if j == 0 else "",
                m.model,
                str(c.frames),
                _fmt(c.psnr_y, 4),
                _fmt(c.ssim_y, 4),
                _fmt(c.psnr_rgb, 4),
                _fmt(c.ssim_rgb, 4),
                _fmt(c.seconds / c.frames, 4),
                end_section=j == len(result.models) - 1,
            )
    overall = Table(
        title=f"{result.dataset} · mean over {len(clip_names)} clip(s) · {result.device} {result.precision}",
        title_justify="left",
    )
    cols = ("model", "PSNR-Y", "SSIM-Y", "PSNR-RGB", "SSIM-RGB", "s/frame", "fps", "peak RSS MB", "CUDA MB")
    for col in cols:
        overall.add_column(col, justify="left" if col == "model" else "right")
    for m in result.models:
        overall.add_row(
            m.model,
            _fmt(m.mean("psnr_y"), 4),
            _fmt(m.mean("ssim_y"), 4),
            _fmt(m.mean("psnr_rgb"), 4),
            _fmt(m.mean("ssim_rgb"), 4),
            _fmt(m.seconds_per_frame, 4),
            _fmt(m.fps, 2),
            _fmt(m.peak_rss_mb, 0),
            _fmt(m.cuda_max_allocated_mb, 0),
        )
    return [per_clip, overall]


def _noref_table(result: Any) -> Any:
    from rich.table import Table

    table = Table(
        title=f"{result.dataset} · as is, no reference · x{result.scale} · {result.device} "
        f"{result.precision}",
        title_justify="left",
        caption="noise: robust noise estimate of the output (0-255, as --sigma auto); at input size: the "
        "same on the output averaged back to the input's size, beside the input's own; edges: 90th "
        "percentile of the luma gradient. Lower noise at similar edges means cleaner output.",
        caption_justify="left",
    )
    cols = ("clip", "model", "frames", "noise", "x baseline", "noise at input size", "edges", "s/frame")
    for col in cols:
        table.add_column(col, justify="left" if col in ("clip", "model") else "right")
    base = result.models[0]
    names = [c.clip for c in base.clips]
    for i, name in enumerate([*names, "mean"]):
        mean = name == "mean"
        own = sum(result.input_noise) / len(names) if mean else result.input_noise[i]
        table.add_row(name, "input", "", "", "", _fmt(own, 3), "", "")
        for j, m in enumerate(result.models):
            if mean:
                noise, noise_in, edges = m.mean("noise"), m.mean("noise_input"), m.mean("edges")
                frames, sec, ref = m.frames, m.seconds, base.mean("noise")
            else:
                c = m.clips[i]
                noise, noise_in, edges, frames, sec = c.noise, c.noise_input, c.edges, c.frames, c.seconds
                ref = base.clips[i].noise
            table.add_row(
                "",
                m.model,
                str(frames),
                _fmt(noise, 3),
                _fmt(noise / ref if ref > 0 else float("nan"), 2),
                _fmt(noise_in, 3),
                _fmt(edges, 2),
                _fmt(sec / frames if frames else float("nan"), 4),
                end_section=j == len(result.models) - 1,
            )
    return table


def _speed_table(result: Any) -> Any:
    from rich.table import Table

    table = Table(
        title=(
            f"speed · {result.frames} frames of {result.width}x{result.height} ({result.source}) · "
            f"{result.device} {result.precision} · {result.warmup} warm-up, {result.repeats} timed"
        ),
        title_justify="left",
    )
    for col in ("model", "s/frame", "fps", "runs (s)", "peak RSS MB", "CUDA MB"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in result.models:
        table.add_row(
            m.model,
            _fmt(m.seconds_per_frame, 4),
            _fmt(m.fps, 2),
            " ".join(f"{r:.2f}" for r in m.runs),
            _fmt(m.peak_rss_mb, 0),
            _fmt(m.cuda_max_allocated_mb, 0),
        )
    return table


def benchmark(
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Clips: DATA/<clip>/*.png, DATA/GT/<clip> (+ DATA/<LQ>/<clip>), or video file(s). "
            "Optional with --speed-only (real frames instead of random ones).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Zoo name or checkpoint path; repeat for several models."),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(help="An architecture with random weights (e.g. basicvsrpp), for speed runs."),
    ] = None,
    arch_args: Annotated[
        str | None, typer.Option(help="Arguments for --arch, e.g. mid_channels=64,num_blocks=7.")
    ] = None,
    degrade: Annotated[
        str | None,
        typer.Option(
            help="How GT becomes model input: bi | bd[:SIGMA] | bd-duf[:SIGMA] | noise:SIGMA | "
            "blur:gauss:SIGMA | blur:motion[:SIZE] | blur:temporal[:N] | h264:CRF | hevc:CRF | none; "
            "default bi."
        ),
    ] = None,
    lq: Annotated[
        str | None, typer.Option(help="Paired layout: use the stored DATA/<LQ> frames instead of --degrade.")
    ] = None,
    scale: Annotated[int, typer.Option(help="Upscaling factor for bi/bd.")] = 4,
    max_frames: Annotated[int | None, typer.Option(help="Use only the first N frames of each clip.")] = None,
    chunk: Annotated[
        int | None,
        typer.Option(help="Frames per forward pass (default: the whole clip, the official protocol)."),
    ] = None,
    crop_border: Annotated[int, typer.Option(help="Pixels cropped from each border before metrics.")] = 0,
    baseline: Annotated[
        str,
        typer.Option(
            help="Baseline row: auto (MATLAB bicubic for x4, the input for restoration), bicubic-matlab, "
            "bicubic-torch, none."
        ),
    ] = "auto",
    sigma: Annotated[
        str | None,
        typer.Option(
            help="Noise level (0-255) given to noise-conditioned denoisers: a number or auto (estimated per "
            "clip); default: the sigma of --degrade noise:SIGMA."
        ),
    ] = None,
    nlm: Annotated[
        bool,
        typer.Option(
            "--nlm",
            help="Add OpenCV's fastNlMeansDenoisingColored (h = 0.8 sigma) as a row; needs vsrcli[bench].",
        ),
    ] = False,
    crops: Annotated[
        Path | None,
        typer.Option(help="Write a side-by-side crop PNG of every row per clip into this folder."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write results as JSON ('-' for stdout).")
    ] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write results as CSV.")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    precision: Annotated[str, typer.Option(help=PRECISION_HELP + " As restore resolves it.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    warmup: Annotated[int, typer.Option(help="Untimed passes per model before timing.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed for random degradations, weights and frames.")] = 0,
    speed_only: Annotated[
        bool, typer.Option("--speed-only", help="Time models on one input; no ground truth, no metrics.")
    ] = False,
    no_reference: Annotated[
        bool,
        typer.Option(
            "--no-reference",
            help="Real footage without ground truth: run the models on DATA as it is and measure the "
            "outputs' noise and edge strength (with --crops: side-by-side crops against the input).",
        ),
    ] = False,
    size: Annotated[str, typer.Option(help=SIZE_HELP)] = "180x320",
    frames: Annotated[int, typer.Option(help="Speed run: frames per forward pass.")] = 10,
    repeats: Annotated[int, typer.Option(help="Speed run: timed passes.")] = 3,
) -> None:
    """Measure PSNR/SSIM (official protocol) and speed of models on clips, speed alone (--speed-only), or
    noise and edge strength of outputs on real footage without ground truth (--no-reference)."""
    from rich.console import Console

    out = Console(file=sys.stderr if json_path is not None and str(json_path) == "-" else sys.stdout)
    if not out.is_terminal:  # pipes and files get full-width tables instead of rich's 80 columns
        out.width = 160
    err = Console(stderr=True)

    for name, value in (("--max-frames", max_frames), ("--chunk", chunk), ("--threads", threads)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1")
    if crop_border < 0 or warmup < 0:
        raise UsageError("--crop-border and --warmup must not be negative")
    if lq is not None and degrade is not None:
        raise UsageError("--lq uses stored LQ frames; it cannot be combined with --degrade")
    if arch_args and not arch:
        raise UsageError("--arch-args needs --arch")
    precision_choice(precision)
    height, width = _parse_size(size)
    from vsrcli.bench.report import check_crops_folder, check_report_path

    for option, path in (("--json", json_path), ("--csv", csv_path)):
        if path is not None:
            check_report_path(path, data, option)
    if crops is not None:
        check_crops_folder(crops, data)
    if not speed_only and data is None:
        raise UsageError("DATA is required unless --speed-only is given")
    if speed_only and not (model or arch):
        raise UsageError("--speed-only needs at least one --model or --arch")
    if no_reference and (speed_only or degrade is not None or lq is not None or nlm):
        raise UsageError("--no-reference takes DATA as it is: no --degrade, --lq, --nlm or --speed-only")

    import torch

    from vsrcli.bench import report
    from vsrcli.bench.baselines import nlm_baseline
    from vsrcli.bench.data import discover
    from vsrcli.bench.models import load_named_model, parse_arch_args, random_model
    from vsrcli.bench.runner import run_quality, run_speed
    from vsrcli.degrade import parse_degradation

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    precision = precision_name(resolve_precision(precision, dev))  # the rule restore runs by
    degradation = parse_degradation(degrade or "bi", scale=scale, seed=seed)
    noise_level = _noise_level(sigma, degradation)
    extra = []
    if nlm:
        if not isinstance(noise_level, float):
            raise UsageError("--nlm needs a known noise level: --degrade noise:SIGMA or --sigma N")
        extra.append(nlm_baseline(noise_level))
    collector = None
    if crops is not None:
        from vsrcli.bench.crops import CropCollector
        from vsrcli.bench.noref import INPUT_PANEL

        collector = CropCollector(crops, reference=INPUT_PANEL if no_reference else "ground truth")
    models = [load_named_model(spec, dev) for spec in (model or [])]
    if arch:
        models.append(random_model(arch, parse_arch_args(arch_args), seed))

    with err.status("benchmarking") as status:

        def progress(msg: str) -> None:
            status.update(msg)

        if speed_only:
            real = None
            if data is not None:
                clip = discover(data, parse_degradation("none"), lq=lq, max_frames=frames).clips[0].load()
                real = clip.lq if clip.lq.dtype.name == "uint8" else clip.gt
            result: Any = run_speed(
                models,
                frames=frames,
                height=height,
                width=width,
                device=dev,
                precision=precision,
                warmup=warmup,
                repeats=repeats,
                real=real,
                seed=seed,
                progress=progress,
            )
        elif no_reference:
            from vsrcli.bench.noref import run_no_reference

            assert data is not None
            result = run_no_reference(
                discover(data, parse_degradation("none"), max_frames=max_frames),
                models,
                device=dev,
                precision=precision,
                chunk_frames=chunk,
                baseline=baseline,
                warmup=warmup,
                noise_level_setting=noise_level,
                progress=progress,
                on_output=collector,
            )
        else:
            assert data is not None
            dataset = discover(data, degradation, lq=lq, max_frames=max_frames)
            result = run_quality(
                dataset,
                models,
                device=dev,
                precision=precision,
                crop_border=crop_border,
                chunk_frames=chunk,
                max_frames=max_frames,
                warmup=warmup,
                baseline=baseline,
                progress=progress,
                noise_level=noise_level,
                extra_baselines=extra,
                on_output=collector,
            )

    if speed_only:
        out.print(_speed_table(result))
        if dev.type == "cpu":
            out.print(
                f"[dim]CPU: {torch.get_num_threads()} torch threads; timings depend on machine load[/dim]"
            )
    else:
        for table in [_noref_table(result)] if no_reference else _quality_tables(result):
            out.print(table)
        if collector is not None:
            for path in collector.write():
                out.print(f"crops: {path}")
    if json_path is not None:
        if str(json_path) == "-":
            sys.stdout.write(json.dumps(report.to_json(result), indent=2) + "\n")
        else:
            report.write_json(result, json_path)
    if csv_path is not None:
        report.write_csv(result, csv_path)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the application."""
    app.command("benchmark")(benchmark)
