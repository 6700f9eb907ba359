"""The typer application and the one place where errors become messages and exit codes.

Command modules import torch and av lazily inside their functions, so ``vsrcli --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from vsrcli import __version__
from vsrcli.errors import Interrupted, VsrError

app = typer.Typer(
    name="vsrcli",
    help="Restore and upscale video with the BasicVSR++ family of recurrent models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": bool(os.environ.get("VSRCLI_DEBUG"))}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"vsrcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Restore and upscale video with the BasicVSR++ family of recurrent models."""
    if debug:
        _state["debug"] = True


def _register() -> None:
    from vsrcli.cli import batch, bench, models, restore, train

    for module in (models, restore, bench, train, batch):
        module.register(app)


_register()


def _error(message: str) -> None:
    print(f"vsrcli: error: {message}", file=sys.stderr)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; every VsrError is mapped here and only here."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="vsrcli", standalone_mode=False)
    except VsrError as exc:
        if _state["debug"]:
            raise
        _error(str(exc))
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _error(Interrupted("interrupted; no partial output was kept").message)
        return Interrupted.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)  # typer's usage errors print themselves with the command's usage
        if callable(show):
            show()
        else:
            _error(exc.format_message())
        return int(getattr(exc, "exit_code", 2))
    code = result if isinstance(result, int) else 0
    if code == Interrupted.exit_code:  # typer turns Ctrl-C into an exit code of 130
        _error(Interrupted("interrupted; no partial output was kept").message)
    return code


def main() -> None:
    sys.exit(run())
