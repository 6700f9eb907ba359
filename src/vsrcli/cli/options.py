"""The restore options, declared once for ``upscale | denoise | deblur | decompress`` and ``batch``.

Each entry is one typer option named after its :class:`~vsrcli.pipeline.options.RestoreOptions` field, so an
option reaches the same engine from every command. A single-file command leaves out the options of another
task (``upscale --sigma`` is an unknown option); ``batch`` takes them all and ``RestoreOptions`` refuses the
ones its ``--task`` does not use. Either way: exit 2. This module imports neither torch nor numpy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from vsrcli.device import DEVICE_HELP, PRECISION_HELP

DEFAULT_CHUNK = 40  # as vsrcli.pipeline.options (checked by a test; not imported: keeps --help light)
DEFAULT_OVERLAP = 10
DEFAULT_TILE_OVERLAP = 16
#: Output name tags (as vsrcli.pipeline.streams.TASK_TAGS, checked by a test; not imported: it pulls numpy).
TASK_TAGS = {
    "upscale": "upscaled",
    "denoise": "denoised",
    "deblur": "deblurred",
    "decompress": "decompressed",
}
#: As vsrcli.pipeline.options.REAL_WORLD: the zoo's key of the real-world x4 model.
REAL_WORLD = "upscale --real"


@dataclass(frozen=True)
class CliOption:
    """One option: its parameter name, type, typer declaration, and the only single-file command it fits."""

    name: str
    annotation: Any
    declaration: Any
    only: str | None = None


RESTORE_OPTIONS: tuple[CliOption, ...] = (
    CliOption("model", str | None, typer.Option(None, "--model", "-m", help="Zoo name or checkpoint path.")),
    CliOption("weights", Path | None, typer.Option(None, "--weights", help="Weights file for a zoo model.")),
    CliOption(
        "real",
        bool,
        typer.Option(
            False,
            "--real",
            help="Real-world footage (noise, compression, unknown blur): the shipped RealBasicVSR, which "
            "cleans the input instead of sharpening its artefacts. Upscale only.",
        ),
        only="upscale",
    ),
    CliOption(
        "sigma",
        str | None,
        typer.Option(
            None,
            "--sigma",
            help="Noise std on the 0-255 scale, or auto to estimate it (default: auto). Denoise only.",
        ),
        only="denoise",
    ),
    CliOption("device", str, typer.Option("auto", "--device", help=DEVICE_HELP)),
    CliOption("precision", str, typer.Option("auto", "--precision", help=PRECISION_HELP)),
    CliOption(
        "chunk", int, typer.Option(DEFAULT_CHUNK, "--chunk", min=1, help="Frames kept per network call.")
    ),
    CliOption(
        "overlap",
        int,
        typer.Option(DEFAULT_OVERLAP, "--overlap", min=0, help="Context frames on each side of a chunk."),
    ),
    CliOption(
        "fade",
        int,
        typer.Option(0, "--fade", min=0, help="Frames cross-faded at each chunk seam (at most --overlap)."),
    ),
    CliOption(
        "tile",
        int | None,
        typer.Option(
            None, "--tile", min=0, help="Tile side in input pixels (default: from free memory; 0: no tiles)."
        ),
    ),
    CliOption(
        "tile_overlap", int, typer.Option(DEFAULT_TILE_OVERLAP, "--tile-overlap", min=0, help="Tile overlap.")
    ),
    CliOption("start", int | None, typer.Option(None, "--start", min=0, help="First frame (0-based).")),
    CliOption("end", int | None, typer.Option(None, "--end", min=1, help="Stop before this frame.")),
    CliOption(
        "no_scene_detect",
        bool,
        typer.Option(False, "--no-scene-detect", help="Do not break chunks at scene cuts."),
    ),
    CliOption(
        "codec",
        str | None,
        typer.Option(None, "--codec", help="Video encoder (e.g. libx264, libx265, ffv1)."),
    ),
    CliOption("crf", int | None, typer.Option(None, "--crf", help="Constant rate factor of the encoder.")),
    CliOption("preset", str | None, typer.Option(None, "--preset", help="Encoder preset.")),
    CliOption(
        "pix_fmt",
        str | None,
        typer.Option(None, "--pix-fmt", help="Output pixel format (default: as the input)."),
    ),
    CliOption("overwrite", bool, typer.Option(False, "--overwrite", help="Replace an existing output.")),
    CliOption(
        "offline",
        bool,
        typer.Option(
            False,
            "--offline",
            help="Never download weights (as VSRCLI_OFFLINE=1): a missing official model is an error.",
        ),
    ),
)


def default_model(key: str) -> str | None:
    """The zoo's default model for a task (or REAL_WORLD); the zoo is plain data, so no torch import."""
    from vsrcli.models.zoo import default_for

    entry = default_for(key)
    return None if entry is None else entry.name


def model_help(command: str) -> str:
    """--model's help names the model used without it (for batch: the one shipped for --task)."""
    text = "Zoo name or checkpoint path (see `vsrcli models list`). Default: "
    if command == "batch":
        return text + "the model shipped for --task."
    default = default_model(command)
    text += default if default else "none shipped yet, so --model is required"
    if command == "upscale":
        real = default_model(REAL_WORLD)
        if real:
            text += f"; with --real: {real}"
    return text + "."


def parameters(command: str) -> list[inspect.Parameter]:
    """The restore options of ``command`` (a task, or ``batch`` for all of them) as keyword parameters."""
    return [
        inspect.Parameter(
            o.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=o.annotation,
            default=typer.Option(None, "--model", "-m", help=model_help(command))
            if o.name == "model"
            else o.declaration,
        )
        for o in RESTORE_OPTIONS
        if command == "batch" or o.only in (None, command)
    ]


def precision_notice(device: str, precision: str) -> str | None:
    """The slow-precision warning (bf16 emulated on this CPU), printed before the work: after it, too late."""
    if precision.strip().lower() not in ("bf16", "bfloat16"):
        return None
    from vsrcli.device import precision_warning, resolve_device
    from vsrcli.errors import VsrError

    try:
        return precision_warning(precision, resolve_device(device))
    except VsrError:
        return None  # the run itself reports the bad device


def restore_options(task: str, values: dict[str, Any], *, resume: bool) -> Any:
    """The :class:`RestoreOptions` of the parsed values; a UsageError for a combination that does not fit."""
    from vsrcli.pipeline.options import RestoreOptions

    given = {o.name: values[o.name] for o in RESTORE_OPTIONS if o.name in values}
    scene_detect = not given.pop("no_scene_detect", False)
    if given.get("weights") is not None:
        given["weights"] = Path(given["weights"])
    return RestoreOptions(task=task, scene_detect=scene_detect, resume=resume, **given)


def make_command(function: Any, name: str, params: list[inspect.Parameter], help: str) -> Any:
    """``function(**values)`` with a typer-readable signature built from ``params``."""
    function.__signature__ = inspect.Signature(params)
    function.__annotations__ = {p.name: p.annotation for p in params}
    function.__name__ = name
    function.__doc__ = help
    return function
