"""The restore commands on the command line: options, progress, one-line errors, exit codes, no leftovers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from test_pipeline import DecayNet, moving_clip, write_folder
from vsrcli.cli import run
from vsrcli.io.frames import read_folder


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def videos():
    import videos

    return videos


@pytest.fixture
def tiny_x4(tmp_path: Path) -> Path:
    """A tiny random BasicVSR++ x4 checkpoint (mid 8, 1 block)."""
    from vsrcli.models import arch

    torch.manual_seed(0)
    path = tmp_path / "tiny_x4.pth"
    torch.save(arch.build_network("basicvsrpp", mid_channels=8, num_blocks=1).state_dict(), path)
    return path


@pytest.fixture
def standin(monkeypatch):
    """`--model standin-N` loads a DecayNet of scale N (for tests of the plumbing, not of the network)."""
    from vsrcli.pipeline import engine

    real = engine.load_network

    def fake(model, weights, device, **how):
        if isinstance(model, str) and model.startswith("standin-"):
            scale = int(model.split("-")[1])
            net = DecayNet(scale=scale, decay=0.5)
            if scale == 1:
                net.extra_in_channels = 0
            return net, model
        return real(model, weights, device, **how)

    monkeypatch.setattr(engine, "load_network", fake)


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "in", moving_clip(9, 24, 32))


def test_help_lists_the_commands_and_common_options(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("upscale", "denoise", "deblur", "decompress"):
        assert command in out
    assert run(["denoise", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--sigma", "--device", "--precision", "--chunk", "--overlap", "--tile", "--tile-overlap",
                   "--start", "--end", "--codec", "--crf", "--preset", "--pix-fmt", "--overwrite", "--quiet",
                   "--resume", "--model", "--weights", "--output"):  # fmt: skip
        assert option in out, option


def test_upscale_a_video_with_a_tiny_basicvsrpp(tmp_path, tiny_x4, videos, capsys):
    from vsrcli.io.video import probe

    frames = videos.moving_pattern(3, 40, 48, seed=1)  # below the x4 minimum of 64: padded, cropped back
    src = videos.make_video(tmp_path / "in.mp4", frames, codec="libx264", audio="aac")
    before = digest(src)
    assert run(["upscale", str(src), "--model", str(tiny_x4), "--chunk", "2", "--overlap", "1"]) == 0
    out = tmp_path / "in.upscaled.mp4"
    info = probe(out)
    assert (info.width, info.height, info.num_frames, info.audio_streams) == (192, 160, 3, 1)
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and "3 frames" in captured.out
    assert "frames" in captured.err  # log-friendly progress lines when not on a terminal
    assert digest(src) == before
    assert names(tmp_path) == ["in.mp4", "in.upscaled.mp4", "tiny_x4.pth"]


def test_quiet_prints_nothing(tmp_path, clip_dir, standin, capsys):
    assert (
        run(["upscale", str(clip_dir), "-o", str(tmp_path / "out"), "--model", "standin-2", "--quiet"]) == 0
    )
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert read_folder(tmp_path / "out").shape == (9, 48, 64, 3)


def test_upscale_without_model_uses_the_shipped_default(tmp_path, clip_dir, capsys):
    from vsrcli.models import zoo

    entry = zoo.default_for("upscale")
    assert entry is not None and not entry.official
    assert run(["upscale", str(clip_dir), "--end", "3"]) == 0
    assert read_folder(tmp_path / "in.upscaled").shape == (3, 96, 128, 3)
    assert "wrote" in capsys.readouterr().out


def test_upscale_real_uses_the_shipped_real_world_model(tmp_path, clip_dir, capsys):
    from vsrcli.models import zoo

    entry = zoo.default_for("upscale --real")
    assert entry is not None and entry.task == "sr-x4-real" and not entry.official
    assert run(["upscale", str(clip_dir), "--real", "--end", "2"]) == 0
    assert read_folder(tmp_path / "in.upscaled").shape == (2, 96, 128, 3)


def test_upscale_real_and_model_together_is_a_usage_error(tmp_path, clip_dir, standin, capsys):
    assert run(["upscale", str(clip_dir), "--real", "--model", "standin-2"]) == 2
    assert "--real" in capsys.readouterr().err
    assert names(tmp_path) == ["in"]


def test_a_command_without_default_weights_needs_model(tmp_path, clip_dir, monkeypatch, capsys):
    """Every restore command ships a default today; a task added without one must say so, not guess."""
    from vsrcli.models import zoo

    monkeypatch.setattr(zoo, "default_for", lambda task: None)
    assert run(["deblur", str(clip_dir)]) == 2
    err = capsys.readouterr().err
    assert "needs --model" in err and len(err.strip().splitlines()) == 1
    assert names(tmp_path) == ["in"]


@pytest.mark.parametrize("how", ["--offline", "VSRCLI_OFFLINE=1"])
def test_offline_missing_weights_say_how_to_get_them(tmp_path, clip_dir, monkeypatch, capsys, how):
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("VSRCLI_OFFLINE", "1" if how.startswith("VSRCLI") else "")
    args = ["upscale", str(clip_dir), "--model", "basicvsrpp-reds4"]
    assert run([*args, how] if how.startswith("--") else args) == 5
    err = capsys.readouterr().err
    assert "vsrcli models download basicvsrpp-reds4" in err and len(err.strip().splitlines()) == 1
    assert "in.upscaled" not in names(tmp_path)


def test_cuda_without_cuda_exits_6(tmp_path, clip_dir, standin, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    assert run(["upscale", str(clip_dir), "--model", "standin-2", "--device", "cuda"]) == 6
    assert "CUDA is not available" in capsys.readouterr().err
    assert names(tmp_path) == ["in"]


def test_existing_output_needs_overwrite(tmp_path, clip_dir, standin, capsys):
    out = tmp_path / "out"
    assert run(["upscale", str(clip_dir), "-o", str(out), "--model", "standin-2", "-q"]) == 0
    assert run(["upscale", str(clip_dir), "-o", str(out), "--model", "standin-2", "-q"]) == 4
    assert "already exists" in capsys.readouterr().err
    assert run(["upscale", str(clip_dir), "-o", str(out), "--model", "standin-2", "-q", "--overwrite"]) == 0


def test_not_a_video_exits_3_and_leaves_it_alone(tmp_path, standin, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    assert run(["upscale", str(bad), "--model", "standin-2"]) == 3
    assert capsys.readouterr().err.startswith("vsrcli: error: ")
    assert names(tmp_path) == ["notes.mp4"] and bad.read_text() == "this is not a video"


def test_unknown_codec_exits_4(tmp_path, clip_dir, standin, videos, capsys):
    assert run(["upscale", str(clip_dir), "-o", str(tmp_path / "o.mkv"), "--model", "standin-2",
                "--codec", "nope"]) == 4  # fmt: skip
    assert "codec" in capsys.readouterr().err
    assert names(tmp_path) == ["in"]


def test_task_and_model_must_agree(tmp_path, clip_dir, standin, capsys):
    assert run(["denoise", str(clip_dir), "--model", "standin-2"]) == 2
    assert "vsrcli upscale" in capsys.readouterr().err


def test_blind_denoiser_says_it_ignores_sigma(tmp_path, clip_dir, standin, capsys):
    assert run(["denoise", str(clip_dir), "--model", "standin-1", "--sigma", "15"]) == 0
    assert "ignored" in capsys.readouterr().err
    assert (tmp_path / "in.denoised").is_dir()


def test_ctrl_c_exits_130_and_leaves_no_partial_output(tmp_path, clip_dir, standin, monkeypatch, capsys):
    from vsrcli.pipeline import engine

    calls = {"n": 0}
    real = engine.restore_window

    def interrupt_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "restore_window", interrupt_second_chunk)
    args = ["upscale", str(clip_dir), "-o", str(tmp_path / "out"), "--model", "standin-2", "--chunk", "3"]
    assert run(args) == 130
    assert "interrupted" in capsys.readouterr().err
    assert names(tmp_path) == ["in"]
    calls["n"] = -100
    assert run([*args, "--resume"]) == 0
    assert names(tmp_path) == ["in", "out"]


def test_range_and_tiles_from_the_command_line(tmp_path, clip_dir, standin):
    out = tmp_path / "out"
    args = ["upscale", str(clip_dir), "-o", str(out), "--model", "standin-2", "-q", "--start", "2"]
    args += ["--end", "7", "--tile", "16", "--tile-overlap", "4", "--chunk", "2", "--overlap", "1"]
    assert run(args) == 0
    frames = read_folder(out)
    assert frames.shape == (5, 48, 64, 3)
    assert np.all(frames >= 0)


def test_sigterm_cleans_up_like_ctrl_c(tmp_path, clip_dir, standin, monkeypatch, capsys):
    import os
    import signal

    from vsrcli.pipeline import engine

    real = engine.restore_window

    def terminate(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "restore_window", terminate)
    assert run(["upscale", str(clip_dir), "-o", str(tmp_path / "out"), "--model", "standin-2"]) == 130
    assert names(tmp_path) == ["in"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
