"""``vsrcli batch``: many videos (and long ones split into segments) on local worker processes or Ray.

The restore options (model, device, precision, chunk, tiles, codec...) are the single-file commands' own
typer definitions, read from :mod:`vsrcli.cli.restore`, so both commands always take the same options.
"""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import typer

from vsrcli.errors import UsageError

_HELP = (
    "Restore many videos (files, folders of videos, or .txt lists of paths) into OUTDIR, splitting long "
    "ones into segments run by local worker processes (--workers) or a Ray cluster (--ray); the frames "
    "are those of the single-file commands. Inputs and OUTDIR must be on a filesystem every worker sees."
)
# restore options that batch defines itself (or that make no sense for many inputs)
_OWN = ("input", "output", "resume", "quiet")


def _restore_parameters() -> list[inspect.Parameter]:
    """The single-file commands' typer options (denoise's, which include --sigma), with resolved types."""
    from vsrcli.cli.restore import _make_command

    command = _make_command("denoise")
    hints = typing.get_type_hints(command)
    params = [
        p.replace(annotation=hints[name], kind=inspect.Parameter.KEYWORD_ONLY)
        for name, p in inspect.signature(command).parameters.items()
        if name not in _OWN
    ]
    model_help = "Zoo name or checkpoint path (`vsrcli models list`). Default: the model shipped for --task."
    return [
        p.replace(default=typer.Option(None, "--model", "-m", help=model_help)) if p.name == "model" else p
        for p in params
    ]


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
        (
            "no_scene_detect",
            bool,
            typer.Option(False, "--no-scene-detect", help="Do not break chunks at scene cuts."),
        ),
        ("quiet", bool, typer.Option(False, "--quiet", "-q", help="No progress, only the summary.")),
    ]
    params = [inspect.Parameter(name, kw, annotation=ann, default=default) for name, ann, default in own]
    params[0] = params[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return params


def batch_command(**options: Any) -> None:
    """Restore many videos into OUTDIR (see `vsrcli batch --help`)."""
    from vsrcli.cli.restore import _default_model, _terminate_as_interrupt, precision_notice

    task = options["task"]
    if task not in ("upscale", "denoise", "deblur", "decompress"):
        raise UsageError(f"--task {task}: expected upscale, denoise, deblur or decompress")
    model = options["model"] or _default_model(task)
    if model is None:
        raise UsageError(
            f"`vsrcli batch --task {task}` needs --model NAME|PATH: no default model is shipped for it yet",
            hint="see `vsrcli models list`",
        )
    if options["ray"]:
        from vsrcli.batch.executors import import_ray

        import_ray()  # fail before any decoding when the extra is missing
    from vsrcli.batch import run_batch

    slow = precision_notice(options["device"], options["precision"])
    if slow:
        typer.echo(f"vsrcli: warning: {slow}", err=True)

    sigma = options["sigma"] if task == "denoise" else None
    with _terminate_as_interrupt(), _BatchView(options["quiet"]) as view:
        report = run_batch(
            options["inputs"], options["outdir"], model=model, weights=options["weights"], task=task,
            device=options["device"], precision=options["precision"], chunk=options["chunk"],
            overlap=options["overlap"], tile=options["tile"], tile_overlap=options["tile_overlap"],
            start=options["start"], end=options["end"], codec=options["codec"], crf=options["crf"],
            preset=options["preset"], pix_fmt=options["pix_fmt"], overwrite=options["overwrite"],
            resume=options["resume"], sigma=sigma, scene_detect=not options["no_scene_detect"],
            ray=options["ray"], workers=options["workers"], gpus_per_worker=options["gpus_per_worker"],
            segment=options["segment"], progress=view.update,
        )  # fmt: skip
    _print_summary(report)
    if report.failed:
        typer.echo(f"vsrcli: error: {len(report.failed)} of {len(report.videos)} videos failed", err=True)
        raise typer.Exit(code=1)


class _BatchView:
    """One overall bar (frames, fps, ETA) plus a line per video status change; plain lines off a terminal."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
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
        elif changed or video.status == "running":
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
    params = _batch_parameters() + _restore_parameters()
    batch_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    batch_command.__annotations__ = {p.name: p.annotation for p in params}
    app.command("batch", help=_HELP)(batch_command)
