"""The typer application and the one place where errors become messages and exit codes.

Command modules import torch and av lazily inside their functions, so ``vsrcli --help`` stays fast.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from collections.abc import Sequence

import typer

from vsrcli import __version__
from vsrcli.errors import Interrupted, VsrError

#: What Ctrl-C means when nothing more specific was raised (a VsrError carries its own message).
INTERRUPTED = "interrupted; no partial output was kept"

app = typer.Typer(
    name="vsrcli",
    help="Restore and upscale video with the BasicVSR++ family of recurrent models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def _take_debug(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` anywhere before a ``--`` separator (users add it to the end of a failing command)."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    kept = [a for a in head if a != "--debug"]
    return kept + tail, len(kept) != len(head)


def _usage_line(exc: typer.TyperException, args: list[str]) -> str:
    """A click usage error as one line; a value given to a flag (``--overwrite true``) says so plainly."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if "unexpected extra argument" in message:
        for before, word in zip(args, args[1:], strict=False):
            if before.startswith("--") and word.lower() in _BOOL_WORDS:
                return f"{before} is a flag and takes no value: write {before} alone (got {before} {word})"
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "vsrcli"
    return f"{' '.join(message.split())} (see `{where} --help`)"


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; every VsrError is mapped here and only here."""
    args, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    if debug:
        _state["debug"] = True
    try:
        result = app(args=args, prog_name="vsrcli", standalone_mode=False)
    except VsrError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _error(str(exc))
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _error(Interrupted(INTERRUPTED).message)
        return Interrupted.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        _error(_usage_line(exc, args))
        return int(getattr(exc, "exit_code", 2))
    code = result if isinstance(result, int) else 0
    if code == Interrupted.exit_code:  # typer turns Ctrl-C into an exit code of 130
        _error(Interrupted(INTERRUPTED).message)
    return code


def main() -> None:
    """The process entry (the ``vsrcli`` script, ``python -m vsrcli``): malloc is tuned here, not in run."""
    from vsrcli.allocator import tune_allocator

    tune_allocator()
    code = run()
    # The process ends here: leave its objects to the OS instead of the interpreter's last full collection,
    # which walks every object torch's import created (~0.3 s on a 2-core EPYC, a tenth of a short job).
    # Outputs are already closed and renamed; nothing waits on a finaliser.
    gc.freeze()
    sys.exit(code)
