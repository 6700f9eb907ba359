"""``vsrcli upscale | denoise | deblur | decompress``: the restore commands, all thin over ``restore_video``.

Torch, av and the pipeline are imported inside the commands so ``vsrcli --help`` stays light.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from vsrcli.errors import Interrupted, UsageError

DEFAULT_CHUNK = 40  # keep in step with vsrcli.pipeline.chunking (not imported here: it pulls numpy)
DEFAULT_OVERLAP = 10
DEFAULT_TILE_OVERLAP = 16
#: The zoo's ``default_for`` key of the real-world x4 model (`vsrcli upscale --real`).
REAL_WORLD = "upscale --real"

_HELP = {
    "upscale": "Upscale a video (x4) with a BasicVSR, IconVSR, BasicVSR++ or RealBasicVSR model.",
    "denoise": "Remove noise from a video with a restoration model.",
    "deblur": "Remove blur from a video with a restoration model.",
    "decompress": "Remove compression artefacts from a video with a restoration model.",
}


def _common(
    task: str,
    input: Path,
    output: Path | None,
    model: str | None,
    weights: Path | None,
    device: str,
    precision: str,
    chunk: int,
    overlap: int,
    tile: int | None,
    tile_overlap: int,
    start: int | None,
    end: int | None,
    codec: str | None,
    crf: int | None,
    preset: str | None,
    pix_fmt: str | None,
    overwrite: bool,
    quiet: bool,
    resume: bool,
    sigma: str | None = None,
    real: bool = False,
) -> None:
    """Run one restore command: validate, show progress, print the result."""
    if real and model is not None:
        raise UsageError("--real picks the shipped real-world model; give either --real or --model")
    if model is None:
        model = _default_model(REAL_WORLD if real else task)
    if model is None:
        raise UsageError(
            f"`vsrcli {task}` needs --model NAME|PATH: no default model is shipped for it yet",
            hint="see `vsrcli models list`",
        )
    from vsrcli.pipeline import restore_video

    early = precision_notice(device, precision)
    if early:
        typer.echo(f"vsrcli: warning: {early}", err=True)
    try:
        with _terminate_as_interrupt(), _progress_reporter(quiet) as progress:
            report = restore_video(
                input, output, model=model, weights=weights, task=task, device=device, precision=precision,
                chunk=chunk, overlap=overlap, tile=tile, tile_overlap=tile_overlap, start=start, end=end,
                codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, overwrite=overwrite, resume=resume,
                progress=progress, sigma=sigma,
            )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(interrupted_message(input, output, task, resume)) from None
    for warning in report.warnings:
        if warning == early:
            continue  # said before the work started
        typer.echo(f"vsrcli: warning: {warning}", err=True)
    if quiet:
        return
    if report.sigma_estimated and report.sigma is not None:
        typer.echo(f"estimated noise sigma: {report.sigma:.2f} (0-255 scale)")
    w, h = report.output_size
    resumed = f", {report.resumed_chunks} chunk(s) resumed" if report.resumed_chunks else ""
    typer.echo(
        f"wrote {report.output} ({report.frames} frames, {w}x{h}, {report.chunks} chunk(s){resumed}, "
        f"{len(report.scene_cuts)} scene cut(s), {report.fps:.2f} fps on {report.device}, "
        f"{report.elapsed_s:.1f} s)"
    )


def precision_notice(device: str, precision: str) -> str | None:
    """The slow-precision warning, printed before the work (after it would be too late to matter)."""
    if precision.strip().lower() not in ("bf16", "bfloat16"):
        return None
    from vsrcli.errors import VsrError
    from vsrcli.pipeline.device import resolve_device
    from vsrcli.pipeline.precision import precision_warning

    try:
        return precision_warning(precision, resolve_device(device))
    except VsrError:
        return None  # the run itself reports the bad device


def interrupted_message(input: Path, output: Path | None, task: str, resume: bool) -> str:
    """What Ctrl-C left behind: with --resume the finished chunks are kept, and the message says where."""
    if resume:
        from vsrcli.pipeline.resume import partial_dir
        from vsrcli.pipeline.streams import default_output

        folder = partial_dir(output if output is not None else default_output(input, task))
        chunks = [p for p in folder.glob("seg_*.npy") if not p.stem.endswith("_tail")]
        if chunks:
            return (
                f"interrupted; {len(chunks)} finished chunk(s) kept in {folder}: run the same command "
                "with --resume to continue from them"
            )
    return "interrupted; no partial output was kept"


class _terminate_as_interrupt:
    """SIGTERM (a job scheduler, `kill`) cleans up like Ctrl-C: temporary output removed, exit code 130."""

    def __enter__(self) -> None:
        import signal
        import threading

        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _default_model(task: str) -> str | None:
    """The zoo's default for this command, once shipped weights exist."""
    try:
        from vsrcli.models.zoo import default_for
    except ImportError:  # pragma: no cover - before the zoo exists
        return None
    entry = default_for(task)
    return None if entry is None else entry.name


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _progress_reporter:
    """A rich bar on a terminal; plain lines on a pipe or log; nothing with --quiet.

    Both move with every network call (a tile, or a whole window), say which frames are being restored, and
    show the speed and the time left once the first window has given a speed. Log lines come at most every
    ``LOG_EVERY_S`` seconds unless the stage changes, so a log stays readable.
    """

    LOG_EVERY_S = 5.0
    HEARTBEAT_S = 30.0  # a log line at least this often while one long network call runs

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task_id: Any = None
        self._last: tuple[str, float] = ("", -1e9)
        self._latest: Any = None
        self._began = time.monotonic()
        self._stop: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]restoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("frames  {task.fields[fps]:.2f} fps  ETA {task.fields[eta]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[stage]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.__enter__()
            self.task_id = self.bar.add_task("restore", total=None, fps=0.0, eta="?", stage="decoding")
            return self._bar_update
        import threading

        self._stop = threading.Event()
        threading.Thread(target=self._heartbeat, name="vsrcli-progress", daemon=True).start()
        return self._log_update

    def _heartbeat(self) -> None:
        """Say the run is alive while a long window (minutes on a CPU) gives no progress event."""
        while not self._stop.wait(self.HEARTBEAT_S):
            p = self._latest
            if p is None or time.monotonic() - self._last[1] < self.HEARTBEAT_S:
                continue
            self._last = (self._last[0], time.monotonic())
            total = f"/{p.total}" if p.total else ""
            stage = f"; still restoring {p.stage}" if p.stage else ""
            elapsed = time.monotonic() - self._began
            print(f"vsrcli: {p.done}{total} frames, {elapsed:.0f} s{stage}", file=sys.stderr, flush=True)

    def _bar_update(self, p: Any) -> None:
        stage = f"({p.stage})" if getattr(p, "stage", "") else ""
        eta = _clock(p.eta_s) if hasattr(p, "eta_s") else "?"
        self.bar.update(self.task_id, completed=p.done, total=p.total, fps=p.fps, eta=eta, stage=stage)

    def _log_update(self, p: Any) -> None:
        self._latest = p
        self._began = time.monotonic() - p.elapsed_s
        stage = getattr(p, "stage", "")
        now = time.monotonic()
        finished = p.total is not None and p.done >= p.total
        if stage == self._last[0] and now - self._last[1] < self.LOG_EVERY_S and not finished:
            return
        self._last = (stage, now)
        total = f"/{p.total}" if p.total else ""
        eta = f", ETA {_clock(p.eta_s)}" if getattr(p, "eta_s", None) is not None else ""
        where = f"; restoring {stage}" if stage and not finished else ""
        print(
            f"vsrcli: {p.done}{total} frames, {p.fps:.2f} fps{eta}, {p.elapsed_s:.0f} s{where}",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
        if self.bar is not None:
            self.bar.__exit__(*exc)


def register(app: typer.Typer) -> None:
    """Add upscale, denoise, deblur and decompress to the application."""

    for task in ("upscale", "denoise", "deblur", "decompress"):
        app.command(task, help=_HELP[task])(_make_command(task))


#: Output name tags (keep in step with vsrcli.pipeline.streams.TASK_TAGS: not imported, it pulls numpy).
TASK_TAGS = {
    "upscale": "upscaled",
    "denoise": "denoised",
    "deblur": "deblurred",
    "decompress": "decompressed",
}


def _model_help(task: str) -> str:
    """--model's help names the model used without it (the zoo is plain data: no torch import)."""
    default = _default_model(task)
    text = "Zoo name or checkpoint path (see `vsrcli models list`). Default: "
    text += default if default else "none shipped yet, so --model is required"
    if task == "upscale":
        real = _default_model(REAL_WORLD)
        if real:
            text += f"; with --real: {real}"
    return text + "."


def _make_command(task: str) -> Any:
    """One typer command per task; denoise adds --sigma."""

    def command(
        input: Path = typer.Argument(..., help="Video file or folder of frames.", show_default=False),
        output: Path | None = typer.Option(
            None,
            "-o",
            "--output",
            help=f"Video file, or a folder (no extension) for PNG frames. Default: IN.{TASK_TAGS[task]}.EXT "
            "beside the input (EXT: the input's .mp4, .mkv or .mov, else .mkv; a folder of frames gives "
            f"IN.{TASK_TAGS[task]}/), never replacing an existing file.",
        ),
        model: str | None = typer.Option(None, "--model", "-m", help=_model_help(task)),
        weights: Path | None = typer.Option(None, "--weights", help="Weights file for a zoo model."),
        sigma: str = typer.Option(
            "auto",
            "--sigma",
            help="Noise std on the 0-255 scale, or auto to estimate it.",
            hidden=task != "denoise",
        ),
        real: bool = typer.Option(
            False,
            "--real",
            help="Real-world footage (noise, compression, unknown blur): the shipped RealBasicVSR, which "
            "cleans the input instead of sharpening its artefacts.",
            hidden=task != "upscale",
        ),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
        precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16."),
        chunk: int = typer.Option(DEFAULT_CHUNK, "--chunk", min=1, help="Frames kept per network call."),
        overlap: int = typer.Option(
            DEFAULT_OVERLAP, "--overlap", min=0, help="Context frames on each side of a chunk."
        ),
        tile: int | None = typer.Option(
            None, "--tile", min=0, help="Tile side in input pixels (default: from free memory; 0: no tiles)."
        ),
        tile_overlap: int = typer.Option(DEFAULT_TILE_OVERLAP, "--tile-overlap", min=0, help="Tile overlap."),
        start: int | None = typer.Option(None, "--start", min=0, help="First frame (0-based)."),
        end: int | None = typer.Option(None, "--end", min=1, help="Stop before this frame."),
        codec: str | None = typer.Option(
            None, "--codec", help="Video encoder (e.g. libx264, libx265, ffv1)."
        ),
        crf: int | None = typer.Option(None, "--crf", help="Constant rate factor of the encoder."),
        preset: str | None = typer.Option(None, "--preset", help="Encoder preset."),
        pix_fmt: str | None = typer.Option(
            None, "--pix-fmt", help="Output pixel format (default: as the input)."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no summary."),
        resume: bool = typer.Option(
            False,
            "--resume",
            help="Keep finished chunks in OUT.vsrcli-partial/ and continue an interrupted run.",
        ),
    ) -> None:
        _common(
            task, input, output, model, weights, device, precision, chunk, overlap, tile, tile_overlap, start,
            end, codec, crf, preset, pix_fmt, overwrite, quiet, resume, sigma if task == "denoise" else None,
            real and task == "upscale",
        )  # fmt: skip

    command.__doc__ = _HELP[task]
    command.__name__ = task
    return command
