"""`vsrcli train`: train any network of the family from a preset or a TOML config, resume, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsrcli.device import DEVICE_HELP, PRECISION_HELP
from vsrcli.errors import UsageError


def _overrides(**values: Any) -> dict[str, Any]:
    """Nested config overrides from the options the user actually gave (``section__key`` names)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        section, name = key.split("__")
        out.setdefault(section, {})[name] = value
    return out


def train_command(
    preset: Annotated[
        str | None, typer.Option("--preset", "-p", help="Named preset (see --list-presets).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config (may start from a preset: base = 'NAME')."),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", help="Training folder (repeatable; prefix video: or images: to force the kind)."
        ),
    ] = None,
    data_root: Annotated[
        str | None,
        typer.Option(
            "--data-root", help="Base of relative data paths (default ../shared/data or $VSRCLI_DATA_ROOT)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder (default runs/NAME).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly.")] = False,
    iters: Annotated[int | None, typer.Option("--iters", help="Total iterations.")] = None,
    device: Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)] = None,
    precision: Annotated[str | None, typer.Option("--precision", help=PRECISION_HELP)] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of weights, data and degradations.")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Torch CPU threads (0: default).")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Clips per step.")] = None,
    patch: Annotated[int | None, typer.Option("--patch", help="Input patch side (low resolution).")] = None,
    clip_len: Annotated[int | None, typer.Option("--clip-len", help="Frames per clip.")] = None,
    checkpoint_minutes: Annotated[
        float | None, typer.Option("--checkpoint-minutes", help="Minutes between checkpoints.")
    ] = None,
    val_every: Annotated[
        int | None, typer.Option("--val-every", help="Steps between validations (0: off).")
    ] = None,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Export release files at the end.")
    ] = True,
    export_only: Annotated[
        bool, typer.Option("--export-only", help="Export the run's latest checkpoint and exit.")
    ] = False,
    show_config: Annotated[
        bool, typer.Option("--show-config", help="Print the resolved TOML and exit.")
    ] = False,
    list_presets: Annotated[bool, typer.Option("--list-presets", help="List the presets and exit.")] = False,
) -> None:
    """Train a model of the family; Ctrl-C saves a checkpoint, --resume continues exactly."""
    from vsrcli.train import config as cfgmod
    from vsrcli.train.presets import PRESETS, preset_names

    if list_presets:
        for name in preset_names():
            typer.echo(f"{name:14s} {PRESETS[name]['name']}: {PRESETS[name]['description']}")
        return
    overrides = _overrides(
        run__iters=iters,
        run__device=device,
        run__precision=precision,
        run__seed=seed,
        run__threads=threads,
        run__checkpoint_minutes=checkpoint_minutes,
        run__val_every=val_every,
        data__paths=list(data) if data else None,
        data__root=data_root,
        data__batch=batch,
        data__patch=patch,
        data__clip_len=clip_len,
    )
    if (export_only or resume) and preset is None and config is None:
        if out is None:
            raise UsageError("--resume and --export-only need --out RUN_FOLDER")
        from vsrcli.train.state import CHECKPOINT, load_checkpoint

        values = load_checkpoint(out / CHECKPOINT)["config"]
        cfg = cfgmod.from_dict(cfgmod.merge(values, overrides))
    else:
        cfg = cfgmod.resolve(preset=preset, config_file=config, overrides=overrides)
    if show_config:
        typer.echo(cfgmod.to_toml(cfg.to_dict()), nl=False)
        return
    run_dir = out or Path("runs") / cfg.name
    if export_only:
        _export(run_dir)
        return
    _train(cfg, run_dir, resume)
    if export:
        _export(run_dir)


def _train(cfg: Any, run_dir: Path, resume: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vsrcli.train.loop import train

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[rate]} it/s  val {task.fields[val]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(cfg.name, total=cfg.run.iters, loss="-", rate="-", val="-")

        def on_progress(p: Any) -> None:
            if p.event == "start":
                bar.update(task, completed=p.step)
                console.print(f"{p.message}; run folder {run_dir}")
            elif p.event == "step":
                bar.update(task, completed=p.step, loss=f"{p.loss:.4f}", rate=f"{p.it_per_s:.2f}")
            elif p.event == "flow" and (p.step % 25 == 0 or p.step == p.total):
                console.print(f"SPyNet pre-training {p.step}/{p.total}: end-point error {p.loss:.3f} px")
            elif p.event == "val":
                bar.update(task, val=f"{p.val_psnr:.2f} dB")
                console.print(f"step {p.step}: validation PSNR-Y {p.val_psnr:.3f} dB")

        result = train(cfg, run_dir, resume=resume, callback=on_progress)
    console.print(
        f"trained to step {result.step} in {result.elapsed_s / 3600:.2f} h; checkpoint {result.checkpoint}"
    )


def _export(run_dir: Path) -> None:
    from vsrcli.train.export import export_run

    res = export_run(run_dir, run_dir / "export")
    typer.echo(f"{res.weights}\n{res.card_json}\n{res.card_md}")


def register(app: typer.Typer) -> None:
    """Add ``vsrcli train``."""
    app.command("train", no_args_is_help=True)(train_command)
