"""Hostile inputs and options walked through the CLI in-process (issue 21).

Every case must end with its documented exit code and one plain line on stderr, leave no file behind and
leave every existing file byte for byte as it was. The network is a stand-in (the plumbing is under test),
the clips are a few 16x16 frames, so the whole walk takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from test_data_safety import calls, one_line_error, tree  # noqa: F401 - the fixture is used by name
from test_pipeline import moving_clip, write_folder
from vsrcli.cli import run

videos = pytest.importorskip("videos", reason="tests/videos.py (io helper) is not present")

MODEL = ["--model", "standin-2-1", "--tile", "0", "-q"]


def make_world(root: Path) -> None:
    """The files every case may use: a clip, a frame folder, a text file and a folder of notes."""
    videos.make_video(root / "clip.mkv", videos.moving_pattern(4, 16, 16))
    write_folder(root / "frames", moving_clip(3, 16, 16))
    (root / "notes.txt").write_text("not a video")
    (root / "docs").mkdir()
    (root / "docs" / "letter.txt").write_text("keep me")


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]  # "{r}" is replaced by the case's folder
    code: int
    setup: Callable[[Path], None] | None = None
    needs: str = ""


def fifo(root: Path) -> None:
    os.mkfifo(root / "pipe.mp4")


def empty(root: Path) -> None:
    (root / "empty.mp4").write_bytes(b"")


def fake(root: Path) -> None:
    (root / "fake.mp4").write_bytes(b"this is not a video at all" * 40)


def truncated(root: Path) -> None:
    data = (root / "clip.mkv").read_bytes()
    (root / "cut.mkv").write_bytes(data[: len(data) // 2])


def bad_png(root: Path) -> None:
    frame = root / "frames" / "f1.png"
    data = bytearray(frame.read_bytes())
    data[len(data) // 2] ^= 0x5A
    frame.write_bytes(bytes(data))


def no_frames(root: Path) -> None:
    (root / "nothing").mkdir()


def loop(root: Path) -> None:
    (root / "loop.mp4").symlink_to(root / "loop.mp4")


def garbage_weights(root: Path) -> None:
    (root / "weights.pth").write_bytes(b"\x80\x04garbage")


def colliding(root: Path) -> None:
    (root / "cards").mkdir()
    videos.make_video(root / "cards" / "C0001.mkv", videos.moving_pattern(2, 16, 16))
    videos.make_video(root / "cards" / "C0001.avi", videos.moving_pattern(2, 16, 16))


CASES = [
    # inputs
    Case("missing input", ["upscale", "{r}/nope.mp4"], 3),
    Case("empty file", ["upscale", "{r}/empty.mp4"], 3, empty),
    Case("not a video", ["upscale", "{r}/fake.mp4"], 3, fake),
    Case("text file", ["upscale", "{r}/notes.txt"], 3),
    Case("truncated video", ["upscale", "{r}/cut.mkv", "-o", "{r}/out.mkv"], 3, truncated),
    Case("fifo", ["upscale", "{r}/pipe.mp4"], 3, fifo),
    Case("parent is a file", ["upscale", "{r}/notes.txt/clip.mp4"], 3),
    Case("symlink loop", ["upscale", "{r}/loop.mp4"], 3, loop),
    Case("folder without frames", ["upscale", "{r}/nothing"], 3, no_frames),
    Case("corrupt png", ["upscale", "{r}/frames", "-o", "{r}/out"], 3, bad_png),
    Case("start past the end", ["upscale", "{r}/clip.mkv", "--start", "100"], 3),
    # outputs
    Case("-o .", ["upscale", "{r}/clip.mkv", "-o", "."], 4),
    Case("-o the input", ["upscale", "{r}/clip.mkv", "-o", "{r}/clip.mkv", "--overwrite"], 4),
    Case("-o its folder", ["upscale", "{r}/clip.mkv", "-o", "{r}", "--overwrite"], 4),
    Case("-o a folder of letters", ["upscale", "{r}/clip.mkv", "-o", "{r}/docs", "--overwrite"], 4),
    Case("-o inside input frames", ["upscale", "{r}/frames", "-o", "{r}/frames/up"], 4),
    Case("-o a text file as folder", ["upscale", "{r}/clip.mkv", "-o", "{r}/notes.txt", "--overwrite"], 4),
    Case("-o under a file", ["upscale", "{r}/clip.mkv", "-o", "{r}/notes.txt/out.mp4"], 4),
    Case("-o missing folder", ["upscale", "{r}/clip.mkv", "-o", "{r}/no/such/out.mp4"], 4),
    Case("-o unknown suffix", ["upscale", "{r}/clip.mkv", "-o", "{r}/out.xyz"], 4),
    Case("-o name too long", ["upscale", "{r}/clip.mkv", "-o", "{r}/" + "n" * 300 + ".mp4"], 4),
    Case("-o exists", ["upscale", "{r}/clip.mkv", "-o", "{r}/notes.txt"], 4),
    # encoder
    Case("unknown codec", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.mp4", "--codec", "nosuch"], 4),
    Case("audio codec", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.mp4", "--codec", "aac"], 4),
    Case("h264 in webm", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.webm", "--codec", "libx264"], 4),
    Case("unknown preset", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.mp4", "--preset", "nosuch"], 2),
    Case("crf 999", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.mp4", "--crf", "999"], 2),
    Case("unknown pix fmt", ["upscale", "{r}/clip.mkv", "-o", "{r}/o.mkv", "--pix-fmt", "nosuch"], 4),
    # options
    Case("flag with a value", ["upscale", "{r}/clip.mkv", "--overwrite", "true"], 2),
    Case("unknown option", ["upscale", "{r}/clip.mkv", "--frobnicate"], 2),
    Case("unknown command", ["enhance", "{r}/clip.mkv"], 2),
    Case("chunk 0", ["upscale", "{r}/clip.mkv", "--chunk", "0"], 2),
    Case("negative tile", ["upscale", "{r}/clip.mkv", "--tile", "-1"], 2),
    Case("end before start", ["upscale", "{r}/clip.mkv", "--start", "3", "--end", "2"], 2),
    Case("fp16 on the cpu", ["upscale", "{r}/clip.mkv", "--device", "cpu", "--precision", "fp16"], 2),
    Case("unknown precision", ["upscale", "{r}/clip.mkv", "--precision", "fp8"], 2),
    Case("unknown device", ["upscale", "{r}/clip.mkv", "--device", "tpu"], 2),
    Case("cuda without cuda", ["upscale", "{r}/clip.mkv", "--device", "cuda"], 6, needs="no-cuda"),
    Case("sigma not a number", ["denoise", "{r}/clip.mkv", "--sigma", "loud", "--model", "standin-1-1"], 2),
    # models
    Case("unknown model", ["upscale", "{r}/clip.mkv", "--model", "no-such-model"], 5),
    Case("garbage weights", ["upscale", "{r}/clip.mkv", "--model", "{r}/weights.pth"], 5, garbage_weights),
    Case("real and model", ["upscale", "{r}/clip.mkv", "--real", "--model", "vsrcli-x4"], 2),
    # batch
    Case("batch collision", ["batch", "{r}/cards", "-o", "{r}/out"], 2, colliding),
    Case("batch crf", ["batch", "{r}/clip.mkv", "-o", "{r}/out", "--crf", "999"], 2),
    Case("batch into a file", ["batch", "{r}/clip.mkv", "-o", "{r}/notes.txt"], 4),
    # benchmark
    Case("benchmark json over its input", ["benchmark", "{r}/clip.mkv", "--json", "{r}/clip.mkv"], 4),
    Case("benchmark csv over a video", ["benchmark", "{r}/frames", "--csv", "{r}/clip.mkv"], 4),
    Case("benchmark crops into its data", ["benchmark", "{r}/frames", "--crops", "{r}/frames/crops"], 4),
]


def _expand(argv: list[str], root: Path) -> list[str]:
    return [a.replace("{r}", str(root)) for a in argv]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(tmp_path, calls, capsys, monkeypatch, case):  # noqa: F811
    if case.needs == "no-cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    root = tmp_path / "world"
    root.mkdir()
    make_world(root)
    if case.setup is not None:
        case.setup(root)
    monkeypatch.chdir(root)
    before = tree(root)
    listing = sorted(p.name for p in root.rglob("*"))
    argv = _expand(case.argv, root)
    needs_model = argv[0] in ("upscale", "batch") and "--model" not in argv and "--real" not in argv
    extra = [] if argv[0] == "benchmark" else MODEL if needs_model else MODEL[2:]
    if "--tile" in argv:
        extra = [a for a in extra if a not in ("--tile", "0")]
    code = run(argv + extra)
    err = capsys.readouterr().err
    assert code == case.code, err
    one_line_error(err)
    assert tree(root) == before  # every input and bystander byte for byte
    assert sorted(p.name for p in root.rglob("*")) == listing  # and nothing new, not even hidden
