"""``vsrcli upscale | denoise | deblur | decompress``: the restore commands, all thin over ``restore_video``.

Torch, av and the pipeline are imported inside the commands so ``vsrcli --help`` stays light.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from vsrcli.cli.options import make_command, parameters, restore_options

_HELP = {
    "upscale": "Upscale a video (x4) with a BasicVSR, IconVSR, BasicVSR++ or RealBasicVSR model.",
    "denoise": "Remove noise from a video with a restoration model.",
    "deblur": "Remove blur from a video with a restoration model.",
    "decompress": "Remove compression artefacts from a video with a restoration model.",
}


def _run(task: str, values: dict[str, Any]) -> None:
    """Run one restore command: build the options, show progress, print the result."""
    options = restore_options(task, values, resume=values["resume"])
    quiet = values["quiet"]
    from vsrcli.pipeline import restore_video

    with (
        terminate_as_interrupt(),
        download_reporter(quiet) as on_download,
        _progress_reporter(quiet) as progress,
    ):
        report = restore_video(
            values["input"], values["output"], options=options, progress=progress, on_download=on_download
        )
    for warning in report.warnings:
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


class terminate_as_interrupt:
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


class download_reporter:
    """A byte bar while an official model downloads on first use (one line off a terminal; none if quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task_id: Any = None

    def __enter__(self) -> Any:
        return None if self.quiet else self._update

    def _update(self, done: int, total: int | None) -> None:
        if self.bar is None:
            if not sys.stderr.isatty():
                size = f" ({total / 1e6:.1f} MB)" if total else ""
                if done == 0:
                    print(f"vsrcli: downloading model weights{size}", file=sys.stderr, flush=True)
                return
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.bar = Progress(
                TextColumn("[bold]downloading weights"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.__enter__()
            self.task_id = self.bar.add_task("download", total=total)
        self.bar.update(self.task_id, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


class _progress_reporter:
    """A rich bar on a terminal; one plain line per chunk on a pipe or log; nothing with --quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task_id: Any = None

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
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]restoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("frames  {task.fields[fps]:.2f} fps"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.__enter__()
            self.task_id = self.bar.add_task("restore", total=None, fps=0.0)
            return self._bar_update
        return self._log_update

    def _bar_update(self, p: Any) -> None:
        self.bar.update(self.task_id, completed=p.done, total=p.total, fps=p.fps)

    @staticmethod
    def _log_update(p: Any) -> None:
        total = f"/{p.total}" if p.total else ""
        print(
            f"vsrcli: {p.done}{total} frames, {p.fps:.2f} fps, {p.elapsed_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def register(app: typer.Typer) -> None:
    """Add upscale, denoise, deblur and decompress to the application."""
    for task in ("upscale", "denoise", "deblur", "decompress"):
        app.command(task, help=_HELP[task])(_make_command(task))


def _make_command(task: str) -> Any:
    """One typer command per task, from the shared restore options (denoise adds --sigma, upscale --real)."""

    def command(**values: Any) -> None:
        _run(task, values)

    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "input",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Path,
            default=typer.Argument(..., help="Video file or folder of frames.", show_default=False),
        ),
        inspect.Parameter(
            "output",
            kw,
            annotation=Path | None,
            default=typer.Option(
                None,
                "-o",
                "--output",
                help="Video file, or a folder for PNG frames. Default: beside the input.",
            ),
        ),
        *parameters(task),
        inspect.Parameter(
            "quiet",
            kw,
            annotation=bool,
            default=typer.Option(False, "--quiet", "-q", help="No progress, no summary."),
        ),
        inspect.Parameter(
            "resume",
            kw,
            annotation=bool,
            default=typer.Option(
                False,
                "--resume",
                help="Keep finished chunks in OUT.vsrcli-partial/ and continue an interrupted run.",
            ),
        ),
    ]
    return make_command(command, task, params, _HELP[task])
