"""``vsrcli upscale | denoise | deblur | decompress``: the restore commands, all thin over ``restore_video``.

Torch, av and the pipeline are imported inside the commands so ``vsrcli --help`` stays light.
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path
from typing import Any

import typer

from vsrcli.cli.options import TASK_TAGS, make_command, parameters, precision_notice, restore_options
from vsrcli.errors import Interrupted

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

    early = precision_notice(options.device, options.precision)
    if early:
        typer.echo(f"vsrcli: warning: {early}", err=True)
    try:
        with (
            terminate_as_interrupt(),
            download_reporter(quiet) as on_download,
            _progress_reporter(quiet) as progress,
        ):
            report = restore_video(
                values["input"], values["output"], options=options, progress=progress, on_download=on_download
            )
    except KeyboardInterrupt:
        raise Interrupted(
            interrupted_message(values["input"], values["output"], task, options.resume, options.overwrite)
        ) from None
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
    cuts = f"{len(report.scene_cuts)} scene cut(s)" if report.scene_detected else "scene cuts not looked for"
    typer.echo(
        f"wrote {report.output} ({report.frames} frames, {w}x{h}, {report.chunks} chunk(s){resumed}, "
        f"{cuts}, {report.fps:.2f} fps on {report.device}, "
        f"{report.elapsed_s:.1f} s)"
    )


def interrupted_message(
    input: Path, output: Path | None, task: str, resume: bool, overwrite: bool = False
) -> str:
    """What Ctrl-C left behind: with --resume the finished chunks are kept, and the message says where."""
    if resume:
        from vsrcli.pipeline.resume import partial_dir
        from vsrcli.pipeline.streams import default_output

        folder = partial_dir(output if output is not None else default_output(input, task, replace=overwrite))
        chunks = [p for p in folder.glob("seg_*.npy") if not p.stem.endswith("_tail")]
        if chunks:
            return (
                f"interrupted; {len(chunks)} finished chunk(s) kept in {folder}: run the same command "
                "with --resume to continue from them"
            )
    return "interrupted; no partial output was kept"


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


def _make_command(task: str) -> Any:
    """One typer command per task, from the shared restore options (denoise adds --sigma, upscale --real)."""

    def command(**values: Any) -> None:
        _run(task, values)

    kw = inspect.Parameter.KEYWORD_ONLY
    tag = TASK_TAGS[task]
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
                help=f"Video file, or a folder (no extension) for PNG frames. Default: IN.{tag}.EXT beside "
                "the input (EXT: the input's .mp4, .mkv or .mov, else .mkv; a folder of frames gives "
                f"IN.{tag}/), never replacing an existing file.",
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
