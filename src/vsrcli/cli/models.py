"""`vsrcli models`: list the zoo, show one model's card, download (and verify) weights.

Listing and info read only the registry and the file system, so they never import torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from vsrcli.errors import DownloadError, UsageError
from vsrcli.models import hub, zoo
from vsrcli.models.detect import arch_label

models_app = typer.Typer(
    name="models",
    help="List, describe and download model weights.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _console() -> Console:
    """A stdout console, created per call so that captured stdout sees it; wide when not a terminal."""
    console = Console(highlight=False, markup=False)  # model text such as "U[0, 50]" is data, not markup
    if not console.is_terminal:
        console.width = 160
    return console


def _status(entry: zoo.ModelEntry) -> str:
    if not hub.is_present(entry):
        return "no"
    return "yes" if entry.official else "shipped"


def _params(entry: zoo.ModelEntry) -> str:
    return f"{entry.num_params / 1e6:.2f}" if entry.num_params else "?"


def _list(task: str | None, as_json: bool) -> None:
    entries = zoo.list_entries(task)
    if as_json:
        rows = [
            {**e.to_dict(), "present": hub.is_present(e), "path": str(hub.weights_path(e))} for e in entries
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="vsrcli models", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("scale", justify="right", no_wrap=True)
    table.add_column("params (M)", justify="right", no_wrap=True)
    table.add_column("architecture")  # wraps, so that names stay whole
    table.add_column("downloaded", justify="center", no_wrap=True)
    for entry in entries:
        name = entry.name + (f" (default: {', '.join(entry.default_for)})" if entry.default_for else "")
        table.add_row(
            name,
            entry.task,
            f"x{entry.scale}",
            _params(entry),
            arch_label(entry.arch, entry.arch_args),
            _status(entry),
        )
    console = _console()
    console.print(table)
    if task in (None, "sr-x4"):
        for name, text in zoo.BUILTIN.items():
            console.print(f"built in: {name} - {text}")
    console.print(f"weights cache: {hub.weights_dir()}  (set VSRCLI_HOME to move it)")


@models_app.callback()
def _models(
    ctx: typer.Context,
    task: str | None = typer.Option(None, "--task", help="Only models of this task."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List, describe and download model weights (no subcommand: list them)."""
    if ctx.invoked_subcommand is None:
        _list(task, as_json)


@models_app.command("list")
def list_models(
    task: str | None = typer.Option(
        None, "--task", help=f"Only models of this task ({', '.join(zoo.TASKS)})."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every model with its task, size and whether its weights are on this machine."""
    _list(task, as_json)


def _metric(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if name in ("psnr", "ssim") else f"{value:g}"


@models_app.command("info")
def info(
    name: str = typer.Argument(..., help="Model name (see `vsrcli models`) or a checkpoint file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Everything known about one model: architecture, training, published metrics, URL and cache path.

    NAME may also be a checkpoint file: its architecture is then detected from the weights.
    """
    if name not in zoo.names() and Path(name).expanduser().is_file():
        _info_file(Path(name).expanduser(), as_json)
        return
    if name.strip().lower() in zoo.BUILTIN:
        text = zoo.BUILTIN[name.strip().lower()]
        payload = {"name": name.strip().lower(), "task": "sr-x4", "scale": 4, "builtin": True, "notes": text}
        typer.echo(json.dumps(payload, indent=2) if as_json else f"{payload['name']}: {text}")
        return
    entry = zoo.get_entry(name)
    path = hub.weights_path(entry)
    if as_json:
        typer.echo(json.dumps({**entry.to_dict(), "present": path.is_file(), "path": str(path)}, indent=2))
        return
    console = _console()
    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold", no_wrap=True)
    card.add_column()
    args = ", ".join(f"{k}={v}" for k, v in entry.arch_args.items())
    rows = [
        ("name", entry.name),
        ("task", entry.task),
        ("scale", f"x{entry.scale}"),
        ("architecture", f"{arch_label(entry.arch, entry.arch_args)}  [{entry.arch}({args})]"),
        ("parameters", f"{entry.num_params:,}" if entry.num_params else "?"),
        ("degradation", entry.degradation),
        ("training data", entry.training_data),
        ("source", entry.source),
        ("file", entry.filename),
        ("sha256 prefix", entry.sha256_prefix or "-"),
        ("downloaded", ("yes" if entry.official else "shipped") if path.is_file() else "no"),
    ]
    if entry.default_for:
        rows.append(("default for", ", ".join(entry.default_for)))
    if entry.notes:
        rows.append(("notes", entry.notes))
    for key, value in rows:
        card.add_row(key, value)
    console.print(card)
    # long paths and URLs on lines of their own, never wrapped, so they can be copied
    console.print(f"url            {entry.url or '(shipped with vsrcli)'}", soft_wrap=True)
    for mirror in entry.mirrors:
        console.print(f"mirror         {mirror}", soft_wrap=True)
    console.print(f"weights        {path}", soft_wrap=True)
    if entry.metrics:
        title = "published results" if entry.official else "measured by vsrcli benchmark"
        metrics = Table(title=title, title_justify="left")
        metrics.add_column("dataset (degradation, channel)")
        names = list(dict.fromkeys(m for values in entry.metrics.values() for m in values))
        for metric in names:
            metrics.add_column(metric.upper(), justify="right")
        for dataset, values in entry.metrics.items():
            metrics.add_row(dataset, *(_metric(m, values.get(m)) for m in names))
        console.print(metrics)
    else:
        console.print("published results: none")


def _info_file(path: Path, as_json: bool) -> None:
    """Describe a checkpoint file (reads it, so this path imports torch)."""
    from vsrcli.models.api import describe_model

    info = describe_model(path)
    data = {
        "file": str(path),
        "arch": info.arch,
        "arch_args": dict(info.arch_args),
        "label": info.label,
        "scale": info.scale,
        "task": info.task,
        "num_params": info.num_params,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold", no_wrap=True)
    card.add_column()
    args = ", ".join(f"{k}={v}" for k, v in info.arch_args.items())
    card.add_row("architecture", f"{info.label}  [{info.arch}({args})]")
    card.add_row("scale", f"x{info.scale}")
    card.add_row(
        "task", info.task or "restoration (deblur, denoise or decompress: not recorded in the weights)"
    )
    card.add_row("parameters", f"{info.num_params:,}" if info.num_params else "?")
    console = _console()
    console.print(f"file           {path}", soft_wrap=True)
    console.print(card)


@models_app.command("download")
def download(
    names: list[str] = typer.Argument(None, help="Model names; see `vsrcli models`."),
    all_models: bool = typer.Option(False, "--all", help="Download every official model (about 1 GB)."),
    force: bool = typer.Option(False, "--force", help="Download again even if the file is present."),
) -> None:
    """Download weights into the cache, verifying each file's SHA-256 prefix before keeping it."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if all_models and names:
        raise UsageError("give model names or --all, not both")
    entries = (
        [e for e in zoo.list_entries() if e.official]
        if all_models
        else [zoo.get_entry(n) for n in names or []]
    )
    if not entries:
        raise UsageError("name at least one model to download (or --all)", hint="see `vsrcli models`")
    console = _console()
    failures: list[str] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        for entry in entries:
            if hub.is_present(entry) and not force:
                console.print(f"{entry.name}: already present at {hub.weights_path(entry)}")
                continue
            task_id = bar.add_task(entry.name, total=None)

            def report(done: int, total: int | None, task_id: TaskID = task_id) -> None:
                bar.update(task_id, completed=done, total=total)

            try:
                path = hub.download(entry, progress=report, force=force)
            except DownloadError as exc:
                bar.update(task_id, description=f"{entry.name} [red]failed")
                failures.append(str(exc))
                continue
            console.print(f"{entry.name}: {path}")
    if failures:
        if len(failures) == 1:
            raise DownloadError(failures[0])
        raise DownloadError(f"{len(failures)} downloads failed: " + " | ".join(failures))


@models_app.command("verify")
def verify(
    names: list[str] = typer.Argument(None, help="Model names (default: every downloaded one)."),
) -> None:
    """Recompute the SHA-256 of downloaded weights and compare it with the published prefix."""
    entries = (
        [zoo.get_entry(n) for n in names] if names else [e for e in zoo.list_entries() if hub.is_present(e)]
    )
    console = _console()
    bad = []
    for entry in entries:
        ok = hub.verify(entry)
        console.print(f"{entry.name}: {'ok' if ok else 'MISMATCH'} ({hub.weights_path(entry)})")
        if not ok:
            bad.append(entry.name)
    if bad:
        raise DownloadError(
            f"checksum mismatch for {', '.join(bad)}",
            hint="re-download with `vsrcli models download --force NAME`",
        )


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to the application."""
    app.add_typer(models_app, name="models")
