"""What the output keeps besides the pixels, and plain errors for odd inputs (issue 21): stream languages,
titles and dispositions, text subtitles converted for the container, grey staying grey; FIFOs, parents
that are files and corrupt PNG frames.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from test_data_safety import calls, one_line_error  # noqa: F401 - the fixture is used by name
from test_pipeline import moving_clip, write_folder
from vsrcli.cli import run

videos = pytest.importorskip("videos", reason="tests/videos.py (io helper) is not present")

RUN = ["--model", "standin-2-1", "--chunk", "4", "--tile", "0", "-q"]


def tagged_mp4(path: Path, frames: int = 4) -> Path:
    """Video, English audio titled 'Main' (default), French commentary audio, English mov_text cues."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"crf": "0", "preset": "ultrafast"})
        video.width = video.height = 16
        video.pix_fmt = "yuv420p"
        english = out.add_stream("aac", rate=44100, layout="stereo")
        english.metadata.update(language="eng", title="Main")
        french = out.add_stream("aac", rate=44100, layout="stereo")
        french.metadata["language"] = "fra"
        french.disposition = av.stream.Disposition.comment
        cues = out.add_mux_stream("mov_text")
        cues.metadata["language"] = "eng"
        cues.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(videos.moving_pattern(frames, 16, 16)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for stream in (english, french):
            tone = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            tone.sample_rate, tone.pts = 44100, 0
            out.mux(stream.encode(tone))
            out.mux(stream.encode())
        for i in range(frames):
            text = f"cue {i}".encode()
            packet = av.Packet(len(text).to_bytes(2, "big") + text)
            packet.stream, packet.time_base = cues, Fraction(1, 1000)
            packet.pts = packet.dts = i * 40
            packet.duration = 40
            out.mux(packet)
    return path


def streams(path: Path) -> list[tuple[str, str, str, int]]:
    """(type, language, title, disposition) of every audio and subtitle stream."""
    with av.open(str(path)) as container:
        return [
            (
                s.type,
                s.metadata.get("language", "und"),
                s.metadata.get("title", s.metadata.get("name", "")),
                int(s.disposition),
            )
            for s in container.streams
            if s.type in ("audio", "subtitle")
        ]


def cue_texts(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.subtitles[0]) if p.size]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_languages_titles_and_dispositions_survive(tmp_path, calls, suffix, capsys):  # noqa: F811
    src = tagged_mp4(tmp_path / "in.mp4")
    out = tmp_path / f"out{suffix}"
    assert run(["upscale", str(src), "-o", str(out), *RUN]) == 0
    kept = streams(out)
    assert [k[:3] for k in kept] == [
        ("audio", "eng", "Main"),
        ("audio", "fra", ""),
        ("subtitle", "eng", ""),
    ]
    assert [k[3] for k in kept] == [k[3] for k in streams(src)]  # default / comment flags


def test_mov_text_becomes_subrip_in_mkv_and_back(tmp_path, calls, capsys):  # noqa: F811
    src = tagged_mp4(tmp_path / "in.mp4")
    assert run(["upscale", str(src), "-o", str(tmp_path / "out.mkv"), *RUN[:-1]]) == 0
    err = capsys.readouterr().err
    assert "converted to subrip" in err and "use .mkv" not in err
    assert cue_texts(tmp_path / "out.mkv") == [b"cue 0", b"cue 1", b"cue 2", b"cue 3"]
    assert run(["denoise", str(tmp_path / "out.mkv"), "-o", str(tmp_path / "back.mp4"),
                "--model", "standin-1-1", "--chunk", "4", "--tile", "0", "-q"]) == 0  # fmt: skip
    texts = [t for t in cue_texts(tmp_path / "back.mp4") if t != b"\x00\x00"]
    assert texts == [b"\x00\x05cue 0", b"\x00\x05cue 1", b"\x00\x05cue 2", b"\x00\x05cue 3"]


@pytest.mark.parametrize(
    ("codec", "suffix"), [("libx264", ".mp4"), ("ffv1", ".mkv"), ("libvpx-vp9", ".webm")]
)
def test_grey_input_stays_grey(tmp_path, calls, codec, suffix, monkeypatch):  # noqa: F811
    from test_pipeline import DecayNet
    from vsrcli.io.video import probe, read_video

    plain = DecayNet.forward

    def tinted(self, x):  # a network that adds a little red, as real ones do on grey input
        y = plain(self, x)
        return y + torch.tensor([0.05, 0.0, 0.0]).view(1, 1, 3, 1, 1)

    monkeypatch.setattr(DecayNet, "forward", tinted)

    grey = videos.moving_pattern(3, 16, 16)
    grey[..., 1] = grey[..., 2] = grey[..., 0]
    src = videos.make_video(tmp_path / "grey.mkv", grey, codec="ffv1", pix_fmt="gray")
    out = tmp_path / f"out{suffix}"
    assert run(["upscale", str(src), "-o", str(out), "--codec", codec, *RUN]) == 0
    # FFV1 stores grey; VP9 has no grey format and this x264 build decodes back as 4:2:0: neutral chroma
    assert probe(out).is_gray or codec != "ffv1"
    rgb = read_video(out)[0].astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() == 0 and np.abs(rgb[..., 2] - rgb[..., 1]).max() == 0


def test_a_fifo_is_refused_at_once_not_called_empty(tmp_path, calls, capsys):  # noqa: F811
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run(["upscale", str(fifo), *RUN])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO hung")
    assert result == [3]
    line = one_line_error(capsys.readouterr().err)
    assert "not a regular file" in line and "empty" not in line


def test_input_under_a_file_says_the_parent_is_a_file(tmp_path, calls, capsys):  # noqa: F811
    (tmp_path / "notes.txt").write_text("x")
    assert run(["upscale", str(tmp_path / "notes.txt" / "clip.mp4"), *RUN]) == 3
    assert "notes.txt is a file, not a folder" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_corrupt_png_frame_is_one_plain_line(tmp_path, calls, capsys, damage):  # noqa: F811
    folder = write_folder(tmp_path / "in", moving_clip(3, 16, 16))
    frame = folder / "f1.png"
    data = bytearray(frame.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    frame.write_bytes(bytes(data))
    assert run(["upscale", str(folder), "-o", str(tmp_path / "out"), *RUN]) == 3
    line = one_line_error(capsys.readouterr().err)
    assert "f1.png: corrupt PNG" in line and ".cpp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
