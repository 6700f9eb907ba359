"""``vsrcli batch``: many videos (and long ones split into segments) on local worker processes or Ray.

The restore options (model, device, precision, chunk, tiles, codec...) come from the one declaration in
:mod:`vsrcli.cli.options`, as the single-file commands', and reach the same engine; an option the chosen
``--task`` does not use (``--sigma`` without denoise, ``--real`` without upscale) is refused with exit 2.
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path
from typing import Any

import typer

from vsrcli.cli.options import make_command, parameters, precision_notice, restore_options

_HELP = (
    "Restore many videos (files, folders of videos, or .txt lists of paths) into OUTDIR, splitting long "
    "ones into segments run by local worker processes (--workers) or a Ray cluster (--ray); the frames "
    "are those of the single-file commands. Inputs and OUTDIR must be on a filesystem every worker sees."
)


def _batch_parameters() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    own: list[tuple[str, Any, Any]] = [
        (
            "inputs",
            list[Path],
            typer.Argument(..., help="Video files, folders of videos, or text files listing paths."),
        ),
        ("outdir", Path, typer.Option(..., "-o", "--output-dir", help="Folder for the restored videos.")),
        (
            "task",
            str,
            typer.Option("upscale", "--task", help="upscale, denoise, deblur or decompress."),
        ),
        (
            "ray",
            str | None,
            typer.Option(
                None,
                "--ray",
                help="Run on Ray: auto (RAY_ADDRESS or a running cluster, else a local one), local, "
                "or a cluster address HOST:PORT.",
            ),
        ),
        (
            "workers",
            int | None,
            typer.Option(
                None, "--workers", min=1, help="Segments run at once (local processes without --ray)."
            ),
        ),
        (
            "gpus_per_worker",
            float,
            typer.Option(0.0, "--gpus-per-worker", min=0.0, help="GPUs per Ray worker (fractions allowed)."),
        ),
        (
            "segment",
            int | None,
            typer.Option(
                None,
                "--segment",
                min=1,
                help="Frames per segment (default: each video spread over the workers, at most 1200).",
            ),
        ),
        (
            "resume",
            bool,
            typer.Option(False, "--resume", help="Skip segments an interrupted batch already finished."),
        ),
        ("quiet", bool, typer.Option(False, "--quiet", "-q", help="No progress, only the summary.")),
    ]
    params = [inspect.Parameter(name, kw, annotation=ann, default=default) for name, ann, default in own]
    params[0] = params[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return params


def batch_command(**values: Any) -> None:
    """Restore many videos into OUTDIR (see `vsrcli batch --help`)."""
    from vsrcli.cli.restore import download_reporter, terminate_as_interrupt

    options = restore_options(values["task"], values, resume=values["resume"])
    if values["ray"]:
        from vsrcli.batch.executors import import_ray

        import_ray()  # fail before any decoding when the extra is missing
    from vsrcli.batch import run_batch

    slow = precision_notice(options.device, options.precision)
    if slow:
        typer.echo(f"vsrcli: warning: {slow}", err=True)

    with (
        terminate_as_interrupt(),
        download_reporter(values["quiet"]) as on_download,
        _BatchView(values["quiet"]) as view,
    ):
        report = run_batch(
            values["inputs"], values["outdir"], options=options, ray=values["ray"], workers=values["workers"],
            gpus_per_worker=values["gpus_per_worker"], segment=values["segment"], progress=view.update,
            on_download=on_download,
        )  # fmt: skip
    _print_summary(report)
    if report.failed:
        typer.echo(f"vsrcli: error: {len(report.failed)} of {len(report.videos)} videos failed", err=True)
        raise typer.Exit(code=1)


class _BatchView:
    """One overall bar (frames, fps, ETA) plus a line per video status change; plain lines off a terminal
    (progress inside a running video at most every ``LOG_EVERY_S`` seconds)."""

    LOG_EVERY_S = 5.0

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.logged = -1e9
        self.bar: Any = None
        self.task_id: Any = None
        self.status: dict[str, str] = {}

    def __enter__(self) -> _BatchView:
        if not self.quiet and sys.stderr.isatty():
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
                TextColumn("[bold]batch"),
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
            self.task_id = self.bar.add_task("batch", total=None, fps=0.0)
        return self

    def update(self, p: Any) -> None:
        if self.quiet:
            return
        video = p.video
        key = str(video.input)
        changed = self.status.get(key) != video.status
        self.status[key] = video.status
        if self.bar is not None:
            self.bar.update(self.task_id, completed=p.done, total=p.total or None, fps=p.fps)
            if changed:
                self.bar.console.print(_status_line(video))
        elif changed or (video.status == "running" and time.monotonic() - self.logged >= self.LOG_EVERY_S):
            self.logged = time.monotonic()
            total = f"/{p.total}" if p.total else ""
            line = f"{p.done}{total} frames, {p.fps:.2f} fps, {p.elapsed_s:.0f} s; {_status_line(video)}"
            print(
                f"vsrcli: {line}",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _status_line(video: Any) -> str:
    extra = f" ({video.done_frames}/{video.frames} frames)" if video.frames else ""
    error = f": {video.error}" if video.error else ""
    return f"{Path(video.input).name}: {video.status}{extra}{error}"


def _print_summary(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vsrcli batch: {len(report.videos)} video(s), {report.elapsed_s:.1f} s")
    for column in ("input", "status", "frames", "wall time", "output"):
        table.add_column(column)
    for v in report.videos:
        status = v.status + (f": {v.error}" if v.error else "")
        resumed = f" ({v.resumed_segments} resumed)" if v.resumed_segments else ""
        table.add_row(str(v.input), status + resumed, str(v.frames), f"{v.wall_s:.1f} s", str(v.output or ""))
    Console(width=160).print(table)
    for v in report.videos:
        for warning in v.warnings:
            typer.echo(f"vsrcli: warning: {Path(v.input).name}: {warning}", err=True)


def register(app: typer.Typer) -> None:
    """Add `vsrcli batch` to the application."""
    params = _batch_parameters() + parameters("batch")
    app.command("batch", help=_HELP)(make_command(batch_command, "batch", params, _HELP))
