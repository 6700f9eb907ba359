"""Honest messages (issue 21): plain flags, --debug anywhere, help that names defaults, warnings for slow
precisions, the truth after Ctrl-C with --resume, and progress that moves within a window."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from test_data_safety import calls, one_line_error  # noqa: F401 - the fixture is used by name
from test_pipeline import DecayNet, moving_clip, write_folder
from vsrcli.cli import run
from vsrcli.errors import UsageError

RUN = ["--model", "standin-2-1", "--tile", "0"]


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "in", moving_clip(6, 16, 16))


def test_flags_are_plain_flags_in_help(capsys):
    assert run(["upscale", "--help"]) == 0
    out = capsys.readouterr().out
    assert "<bool>" not in out
    assert "--overwrite " in out and "--resume " in out


def test_a_value_given_to_a_flag_is_one_line_exit_2(frames, calls, capsys):  # noqa: F811
    assert run(["upscale", str(frames), "--overwrite", "true", *RUN]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "--overwrite is a flag" in line and not calls


def test_other_usage_errors_are_one_line_too(capsys):
    assert run(["upscale", "--no-such-option", "x"]) == 2
    assert "--no-such-option" in one_line_error(capsys.readouterr().err)
    assert run(["upscale"]) == 2
    one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("where", ["first", "last"])
def test_debug_works_anywhere_and_keeps_the_exit_code(tmp_path, capsys, where):
    args = ["upscale", str(tmp_path / "missing.mp4")]
    args = ["--debug", *args] if where == "first" else [*args, "--debug"]
    try:
        assert run(args) == 3
    finally:
        from vsrcli import cli

        cli._state["debug"] = False
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("vsrcli: error: ")


def test_benchmark_help_shows_the_bench_extra(capsys):
    assert run(["benchmark", "--help"]) == 0
    assert "vsrcli[bench]" in " ".join(capsys.readouterr().out.split())


def test_upscale_help_names_its_default_model_and_output(capsys):
    from vsrcli.models.zoo import default_for

    assert run(["upscale", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    entry = default_for("upscale")
    assert entry is not None and f"Default: {entry.name}" in out
    assert "IN.upscaled.EXT" in out


def test_forced_bf16_on_a_cpu_without_native_bf16_warns_before_the_work(frames, calls, monkeypatch, capsys):  # noqa: F811
    from vsrcli import device as precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda *a, **k: False)
    seen_at_first_call: list[str] = []
    real_forward = DecayNet.forward

    def forward(self, x):
        seen_at_first_call.append(capsys.readouterr().err)
        return real_forward(self, x)

    monkeypatch.setattr(DecayNet, "forward", forward)
    out = frames.parent / "out"
    assert run(["upscale", str(frames), "-o", str(out), "--device", "cpu", "--precision", "bf16", *RUN]) == 0
    assert "no native bf16" in seen_at_first_call[0]  # said before the first network call
    assert "no native bf16" not in capsys.readouterr().err  # and only once

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda *a, **k: True)
    assert precision.precision_warning("bf16", __import__("torch").device("cpu")) is None


def test_batch_warns_about_forced_bf16_before_the_work_too(frames, calls, monkeypatch, capsys):  # noqa: F811
    from vsrcli import device

    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda *a, **k: False)
    seen_at_first_call: list[str] = []
    real_forward = DecayNet.forward

    def forward(self, x):
        seen_at_first_call.append(capsys.readouterr().err)
        return real_forward(self, x)

    monkeypatch.setattr(DecayNet, "forward", forward)
    out = frames.parent / "out"
    args = ["batch", str(frames), "-o", str(out), "--device", "cpu", "--precision", "bf16", "-q", *RUN]
    assert run(args) == 0
    assert "no native bf16" in seen_at_first_call[0]
    assert "no native bf16" not in capsys.readouterr().err  # and only once


@pytest.mark.parametrize("fast", [False, True])
def test_fp16_on_the_cpu_recommends_only_fast_paths(monkeypatch, fast):
    import torch

    from vsrcli import device as precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda *a, **k: fast)
    with pytest.raises(UsageError) as info:
        precision.resolve_precision("fp16", torch.device("cpu"))
    assert "fp32" in str(info.value)
    assert ("bf16" in str(info.value)) == fast


def test_ctrl_c_with_resume_says_the_chunks_are_kept(frames, calls, monkeypatch, capsys):  # noqa: F811
    from vsrcli.pipeline import engine

    count = {"n": 0}
    real = engine.restore_window

    def interrupt_third_window(*args, **kwargs):
        count["n"] += 1
        if count["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "restore_window", interrupt_third_window)
    out = frames.parent / "out"
    args = ["upscale", str(frames), "-o", str(out), "--chunk", "2", "--overlap", "1", "--resume", "-q", *RUN]
    assert run(args) == 130
    line = one_line_error(capsys.readouterr().err)
    assert "2 finished chunk(s) kept in" in line and "--resume" in line and "no partial output" not in line
    assert (frames.parent / "out.vsrcli-partial").is_dir()
    count["n"] = -100
    assert run([a for a in args if a != "-q"]) == 0
    assert "2 chunk(s) resumed" in capsys.readouterr().out


def test_ctrl_c_without_resume_keeps_nothing_and_says_so(frames, calls, monkeypatch, capsys):  # noqa: F811
    from vsrcli.pipeline import engine

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "restore_window", interrupt)
    assert run(["upscale", str(frames), "-o", str(frames.parent / "out"), "-q", *RUN]) == 130
    assert "no partial output was kept" in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in frames.parent.iterdir()) == ["in"]


def test_progress_moves_with_every_network_call(tmp_path):
    from runs import restore

    folder = write_folder(tmp_path / "in", moving_clip(4, 48, 64))
    events = []
    restore(folder, tmp_path / "out", model=DecayNet(), tile=16, tile_overlap=4, progress=events.append)
    within = sorted({e.done for e in events if 0 < e.done < 4})
    assert len(within) >= 3  # 4 x 3 tiles of one window: the count moves long before the window ends
    assert events[1].stage == "frames 0-3" and events[-1].done == 4
    assert events[-1].eta_s == 0


def test_log_lines_say_what_is_running_with_fps_and_eta(frames, calls, capsys):  # noqa: F811
    args = ["upscale", str(frames), "-o", str(frames.parent / "out"), "--chunk", "2", "--overlap", "0", *RUN]
    assert run(args) == 0
    err = capsys.readouterr().err
    assert "restoring frames 0-1" in err  # before the first window is done
    assert "ETA 0:00:00" in err and "fps" in err


def test_progress_moves_frame_by_frame_inside_one_basicvsrpp_call(tmp_path):
    from runs import restore
    from vsrcli.models.arch import build_network

    torch.manual_seed(0)
    net = build_network("basicvsrpp", mid_channels=8, num_blocks=1)
    folder = write_folder(tmp_path / "in", moving_clip(6, 64, 64))
    events = []
    report = restore(folder, tmp_path / "out", model=net, tile=0, progress=events.append)
    assert report.chunks == 1  # one network call for the whole clip
    within = [e.done for e in events if 0 < e.done < 6]
    assert within == sorted(within) and len(set(within)) >= 4  # the count moves inside the call
    assert not any(h for m in net.modules() for h in m._forward_hooks.values())  # hooks removed
