"""Data safety: what --overwrite may replace, batch outputs that would collide or feed a re-run,
temporaries of killed runs, and the checks that must fail before any frame is decoded (issue 21).

Everything runs through the CLI's ``run(argv)`` in-process with a stand-in network, on tiny generated clips.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from test_pipeline import DecayNet, moving_clip, write_folder
from vsrcli.cli import run

videos = pytest.importorskip("videos", reason="tests/videos.py (io helper) is not present")

FAST = ["--chunk", "4", "--overlap", "1", "--tile", "0", "-q"]


def tree(path: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``path`` (the whole state a run must not touch)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def calls(monkeypatch) -> list[tuple[int, ...]]:
    """`--model standin-N` loads a DecayNet of scale N; the list records the shape of every network call."""
    from vsrcli.pipeline import engine

    seen: list[tuple[int, ...]] = []
    real = engine.load_network

    def fake(model, weights, device, **how):
        if isinstance(model, str) and model.startswith("standin-"):
            net = DecayNet(scale=int(model.split("-")[1]), decay=0.5, min_size=int(model.split("-")[2]))
            net.seen = seen
            return net, model
        return real(model, weights, device, **how)

    monkeypatch.setattr(engine, "load_network", fake)
    return seen


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vsrcli: error: "), err
    return lines[0]


# ------------------------------------------------------------------------------------------ --overwrite


def test_overwrite_never_replaces_a_folder_with_other_files_or_the_input(tmp_path, calls, capsys):
    work = tmp_path / "work"
    work.mkdir()
    src = videos.make_video(work / "clip.mkv", videos.moving_pattern(3, 16, 16))
    (work / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    for args in (["-o", str(work)], ["-o", str(work), "--overwrite"], ["-o", str(tmp_path), "--overwrite"]):
        assert run(["upscale", str(src), *args, "--model", "standin-2-1", *FAST]) == 4
        one_line_error(capsys.readouterr().err)
    assert tree(tmp_path) == before and not calls  # nothing written, nothing decoded


def test_overwrite_replaces_a_frame_folder_vsrcli_wrote(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(3, 16, 16))
    out = tmp_path / "frames"
    assert run(["upscale", str(src), "-o", str(out), "--model", "standin-2-1", *FAST]) == 0
    assert run(["upscale", str(src), "-o", str(out), "--model", "standin-2-1", *FAST]) == 4
    assert "pass --overwrite" in capsys.readouterr().err
    assert run(["upscale", str(src), "-o", str(out), "--model", "standin-2-1", "--overwrite", *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["00000000.png", "00000001.png", "00000002.png"]


@pytest.mark.parametrize("target", [".", "notes", "in/sub", "in/out.mkv", "clip.mkv/out.mkv", "out.xyz"])
def test_outputs_that_would_touch_other_files_are_refused_before_any_work(
    tmp_path, calls, capsys, monkeypatch, target
):
    monkeypatch.chdir(tmp_path)
    frames = write_folder(tmp_path / "in", moving_clip(3, 16, 16))
    (tmp_path / "notes").write_text("a file without suffix, not a frame folder")
    videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16))
    before = tree(tmp_path)
    code = run(["upscale", str(frames), "-o", target, "--overwrite", "--model", "standin-2-1", *FAST])
    assert code == 4
    one_line_error(capsys.readouterr().err)
    assert tree(tmp_path) == before and not calls


def test_parent_that_is_a_file_is_named_as_such(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16))
    assert run(["upscale", str(src), "-o", str(src / "out.mkv"), "--model", "standin-2-1", *FAST]) == 4
    assert "clip.mkv is a file, not a folder" in one_line_error(capsys.readouterr().err)


# ------------------------------------------------------------------------------------------ batch


def test_batch_mirrors_subfolders_so_camera_names_do_not_collide(tmp_path, calls, capsys):
    footage = tmp_path / "footage"
    for day in ("day1", "day2"):
        (footage / day).mkdir(parents=True)
    one = videos.make_video(footage / "day1" / "C0001.mkv", videos.moving_pattern(3, 16, 16, seed=1))
    two = videos.make_video(footage / "day2" / "C0001.mkv", videos.moving_pattern(3, 16, 16, seed=2))
    out = tmp_path / "out"
    assert (
        run(["batch", str(footage), "-o", str(out), "--model", "standin-2-1", "--codec", "ffv1", *FAST]) == 0
    )
    from vsrcli.io.video import read_video

    for day, src in (("day1", one), ("day2", two)):
        restored = read_video(out / day / "C0001.upscaled.mkv")[0]
        np.testing.assert_array_equal(restored[:, ::2, ::2].shape, read_video(src)[0].shape)
    assert sorted(p.name for p in out.iterdir()) == ["day1", "day2"]


def test_batch_refuses_colliding_outputs_before_any_work(tmp_path, calls, capsys):
    footage = tmp_path / "footage"
    footage.mkdir()
    videos.make_video(footage / "C0001.mkv", videos.moving_pattern(2, 16, 16))
    videos.make_video(footage / "C0001.avi", videos.moving_pattern(2, 16, 16))  # .avi is written as .mkv
    code = run(["batch", str(footage), "-o", str(tmp_path / "out"), "--model", "standin-2-1", *FAST])
    assert code == 2 and "would both be written to" in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not calls


def test_batch_rerun_into_a_subfolder_does_not_take_its_own_outputs(tmp_path, calls, capsys):
    footage = tmp_path / "footage"
    footage.mkdir()
    videos.make_video(footage / "clip.mkv", videos.moving_pattern(3, 16, 16))
    args = [
        "batch",
        str(footage),
        "-o",
        str(footage / "up"),
        "--model",
        "standin-2-1",
        "--codec",
        "ffv1",
        *FAST,
    ]
    assert run(args) == 0
    first = tree(footage)
    assert run(args) == 0  # the usual re-run: the finished video is skipped, its output is not an input
    out = capsys.readouterr().out
    assert "upscaled.upscaled" not in out and tree(footage) == first
    assert sorted(p.name for p in (footage / "up").iterdir()) == ["clip.upscaled.mkv"]


# ------------------------------------------------------------------------------------------ temporaries


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_a_killed_run_are_removed_with_a_warning(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(3, 16, 16))
    pid = dead_pid()
    stale_video = tmp_path / f".out.vsrcli-tmp-{pid}.mkv"
    stale_video.write_bytes(b"half a video")
    stale_frames = tmp_path / f".frames.vsrcli-tmp-{pid}"
    stale_frames.mkdir()
    (stale_frames / "00000000.png").write_bytes(b"half a frame")
    alive = tmp_path / ".out.vsrcli-tmp-1.mkv"  # pid 1 always runs: its file is not ours to remove
    alive.write_bytes(b"someone else's")
    for out in ("out.mkv", "frames"):
        assert run(["upscale", str(src), "-o", str(tmp_path / out), "--model", "standin-2-1", "--codec",
                    "ffv1", "--chunk", "4", "--tile", "0"]) == 0  # fmt: skip
        assert "unfinished output of a run that was killed" in capsys.readouterr().err
    assert not stale_video.exists() and not stale_frames.exists() and alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".out.vsrcli-tmp-1.mkv",
        "clip.mkv",
        "frames",
        "out.mkv",
    ]


# ------------------------------------------------------------------------------------- checks before work


def test_mkv_whose_timestamps_start_at_10_s_is_valid(tmp_path, calls, capsys):
    src = videos.make_video(
        tmp_path / "late.mkv",
        videos.moving_pattern(12, 16, 16),
        pts=range(250, 262),
        time_base=Fraction(1, 25),
    )
    from vsrcli.io.video import probe, read_video

    assert probe(src).num_frames == 12
    out = tmp_path / "out.mkv"
    code = run(["upscale", str(src), "-o", str(out), "--model", "standin-2-1", "--codec", "ffv1",
                "--chunk", "4", "--tile", "0"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert len(read_video(out)[0]) == 12 and "/262" not in captured.err


@pytest.mark.parametrize(
    ("option", "code"),
    [
        (["--preset", "nosuch"], 2),
        (["--crf", "999"], 2),
        (["--crf", "-1"], 2),
        (["--codec", "nosuch"], 4),
        (["--codec", "ffv1", "-o", "OUT.webm"], 4),
        (["-o", "OUT.xyz"], 4),
    ],
)
def test_encoder_options_fail_before_decoding(tmp_path, calls, capsys, option, code):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(3, 16, 16))
    option = [o.replace("OUT", str(tmp_path / "out")) for o in option]
    output = [] if "-o" in option else ["-o", str(tmp_path / "out.mp4")]
    assert run(["upscale", str(src), *output, *option, "--model", "standin-2-1", *FAST]) == code
    one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"] and not calls


def test_batch_checks_encoder_options_before_decoding(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(3, 16, 16))
    assert (
        run(["batch", str(src), "-o", str(tmp_path / "out"), "--crf", "999", "--model", "standin-2-1"]) == 2
    )
    one_line_error(capsys.readouterr().err)
    assert not calls and not (tmp_path / "out").exists()


def test_webm_output_gets_vp9_by_default(tmp_path, calls, capsys):
    from vsrcli.io.video import probe

    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16))
    assert run(["upscale", str(src), "-o", str(tmp_path / "out.webm"), "--model", "standin-2-1", *FAST]) == 0
    assert probe(tmp_path / "out.webm").codec == "vp9"


def test_a_tiny_user_tile_is_raised_to_the_smallest_useful_one(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 48, 64))
    code = run(["upscale", str(src), "-o", str(tmp_path / "out.mkv"), "--model", "standin-4-64",
                "--tile", "1", "--codec", "ffv1"])  # fmt: skip
    assert code == 0
    assert len(calls) == 1  # one 64-pixel tile holds the 64x48 frame (a 1-pixel tile made 3072 calls)
    assert "using 64-pixel tiles" in capsys.readouterr().err
    calls.clear()
    code = run(["upscale", str(src), "-o", str(tmp_path / "o2.mkv"), "--model", "standin-4-8", "--tile", "16",
                "--tile-overlap", "40", "--codec", "ffv1", "-q"])  # fmt: skip
    assert code == 0 and len(calls) == 1  # tile raised to 80 (twice the overlap): the whole frame


def test_two_frame_clip_has_no_scene_cut(tmp_path):
    from runs import restore

    clip = np.stack([np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 200, np.uint8)])
    report = restore(write_folder(tmp_path / "in", clip), tmp_path / "out", model=DecayNet(), tile=0)
    assert report.scene_cuts == [] and report.chunks == 1


def test_resume_never_discards_a_folder_with_other_files(tmp_path, calls, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(3, 16, 16))
    partial = tmp_path / "out.mkv.vsrcli-partial"
    partial.mkdir()
    (partial / "thesis.txt").write_text("not a chunk")
    args = ["upscale", str(src), "-o", str(tmp_path / "out.mkv"), "--resume", "--model", "standin-2-1", *FAST]
    assert run(args) == 4
    assert "did not write" in one_line_error(capsys.readouterr().err)
    assert (partial / "thesis.txt").read_text() == "not a chunk" and not calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "out.mkv.vsrcli-partial"]


def test_a_truncated_file_is_refused_before_the_network_runs(tmp_path, calls, capsys):
    whole = videos.make_video(tmp_path / "whole.mkv", videos.moving_pattern(24, 32, 32), codec="libx264")
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert run(["upscale", str(cut), "-o", str(tmp_path / "out.mkv"), "--model", "standin-2-1", *FAST]) == 3
    assert "truncated" in one_line_error(capsys.readouterr().err)
    assert not calls  # found from the file's last packets, not after restoring every frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mkv", "whole.mkv"]


def test_batch_raises_a_tiny_user_tile_as_the_single_file_commands_do(tmp_path, calls, capsys):
    (tmp_path / "in").mkdir()
    src = videos.make_video(tmp_path / "in" / "clip.mkv", videos.moving_pattern(2, 48, 64))
    code = run(["batch", str(src), "-o", str(tmp_path / "out"), "--model", "standin-4-64", "--tile", "1",
                "--codec", "ffv1"])  # fmt: skip
    assert code == 0
    assert len(calls) == 1  # the worker's engine clamps the tile too: one call, not 3072
    assert "using 64-pixel tiles" in capsys.readouterr().err
