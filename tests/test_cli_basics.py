"""The CLI skeleton: version, help without torch, usage errors, one error-to-exit-code mapping."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vsrcli import errors
from vsrcli.cli import app, run


def test_version_prints_package_version(capsys):
    from vsrcli import __version__

    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vsrcli {__version__}"


def test_help_does_not_import_torch_or_av():
    code = (
        "import sys\n"
        "from vsrcli.cli import run\n"
        "rc = run(['--help'])\n"
        "heavy = sorted(m for m in ('torch', 'av', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY [] 0" in out
    assert "Usage" in out


def test_unknown_option_is_a_usage_error(capsys):
    assert run(["--no-such-option"]) == 2


@pytest.mark.parametrize(
    "exc, code",
    [
        (errors.InputError("bad"), 3),
        (errors.OutputError("bad"), 4),
        (errors.WeightsNotFoundError("bad"), 5),
        (errors.DeviceError("bad"), 6),
        (errors.OutOfMemoryError("bad"), 7),
        (errors.Interrupted("bad"), 130),
    ],
)
def test_errors_map_to_exit_codes_with_one_line_message(capsys, exc, code):
    @app.command("raise-for-test", hidden=True)
    def _raise() -> None:
        raise exc

    try:
        assert run(["raise-for-test"]) == code
    finally:
        app.registered_commands.pop()
    err = capsys.readouterr().err.strip()
    assert err == "vsrcli: error: bad"


def test_keyboard_interrupt_exits_130(capsys):
    @app.command("interrupt-for-test", hidden=True)
    def _interrupt() -> None:
        raise KeyboardInterrupt

    try:
        assert run(["interrupt-for-test"]) == 130
    finally:
        app.registered_commands.pop()
    assert "interrupted" in capsys.readouterr().err


def test_console_script_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "vsrcli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("vsrcli ")


def test_the_cli_declares_each_restore_option_once_with_the_engine_defaults():
    """Every shared option is a RestoreOptions field (or its negation) and defaults as the library does."""
    import dataclasses

    from vsrcli.cli import options as cli_options
    from vsrcli.pipeline.options import RestoreOptions

    fields = {f.name: f.default for f in dataclasses.fields(RestoreOptions)}
    for option in cli_options.RESTORE_OPTIONS:
        name = "scene_detect" if option.name == "no_scene_detect" else option.name
        assert name in fields, option.name
        default = option.declaration.default
        assert (not default if option.name == "no_scene_detect" else default) == fields[name], option.name
    names = [o.name for o in cli_options.RESTORE_OPTIONS]
    assert len(names) == len(set(names))


def test_the_cli_copies_of_pipeline_constants_agree():
    """cli/options.py repeats a few constants so `--help` imports no numpy; they must not drift."""
    from vsrcli.cli import options as cli_options
    from vsrcli.pipeline import options as pipeline_options
    from vsrcli.pipeline.streams import TASK_TAGS

    assert cli_options.TASK_TAGS == TASK_TAGS
    assert cli_options.REAL_WORLD == pipeline_options.REAL_WORLD
    assert cli_options.DEFAULT_CHUNK == pipeline_options.DEFAULT_CHUNK
    assert cli_options.DEFAULT_OVERLAP == pipeline_options.DEFAULT_OVERLAP
    assert cli_options.DEFAULT_TILE_OVERLAP == pipeline_options.DEFAULT_TILE_OVERLAP
