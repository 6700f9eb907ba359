"""Hardware encoders: constant-quality options from --crf/--preset, 10-bit formats, and a one-line error
(exit 6, before any decoding) where the machine has no such hardware."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vsrcli.errors import DeviceError
from vsrcli.io import encoders


def test_nvenc_takes_constant_quality_from_crf_and_a_p_preset():
    assert encoders.quality_options("h264_nvenc", 18, "medium") == {
        "rc": "vbr",
        "cq": "18",
        "b": "0",
        "preset": "p5",
    }
    assert encoders.quality_options("hevc_nvenc", 23, "veryfast")["preset"] == "p3"
    assert encoders.quality_options("hevc_nvenc", 23, "ultrafast")["preset"] == "p1"
    # AV1's quantiser scale is 0-63: CRF 51 (worst) maps to its worst
    assert encoders.quality_options("av1_nvenc", 51, None) == {"rc": "vbr", "cq": "63", "b": "0"}


def test_qsv_uses_icq_global_quality_and_its_own_preset_names():
    assert encoders.quality_options("hevc_qsv", 20, "slow") == {"global_quality": "20", "preset": "slow"}
    assert encoders.quality_options("h264_qsv", 20, "ultrafast")["preset"] == "veryfast"
    assert encoders.quality_options("av1_qsv", 51, None) == {"global_quality": "255"}


def test_software_encoders_get_no_hardware_options():
    assert encoders.quality_options("libx264", 18, "medium") == {}
    assert not encoders.is_hardware("libx264") and encoders.is_hardware("av1_nvenc")


def test_ten_bit_sources_get_p010_where_the_encoder_has_it():
    assert encoders.pixel_format("hevc_nvenc", 10) == "p010le"
    assert encoders.pixel_format("av1_qsv", 12) == "p010le"
    assert encoders.pixel_format("h264_nvenc", 10) == "yuv420p"  # 10-bit H.264 plays almost nowhere
    assert encoders.pixel_format("h264_qsv", 8) == "nv12"
    assert encoders.pixel_format("hevc_nvenc", 8) == "yuv420p"


def test_a_missing_encoder_is_a_device_error_with_a_hint(monkeypatch):
    monkeypatch.setattr(encoders, "_cached_open_error", lambda codec: "Operation not permitted")
    with pytest.raises(DeviceError) as info:
        encoders.require("hevc_nvenc")
    assert info.value.exit_code == 6 and "hevc_nvenc is not available" in str(info.value)
    encoders.require("libx264")  # software encoders are never probed


def test_p010_frames_hold_the_planar_ten_bit_codes(tmp_path: Path):
    """The writer fills p010le through yuv420p10le: the packed frame holds the same 10-bit codes, each in the
    top bits of its 16-bit word, with U and V interleaved. Read straight from the packed planes: converting
    them back through swscale here sometimes returned rows of 512 (PyAV 18.1), whatever the packed data."""
    from vsrcli.io.video import VideoWriter

    rgb = np.random.default_rng(0).integers(0, 65536, (16, 24, 3), dtype=np.uint16)
    kwargs = {"source": None, "width": 24, "height": 16, "fps": Fraction(25), "codec": "libx265"}
    with VideoWriter(tmp_path / "a.mkv", pix_fmt="yuv420p10le", **kwargs) as planar_writer:
        planar = planar_writer._to_frame(rgb)
        planar_writer.pix_fmt = "p010le"
        packed = planar_writer._to_frame(rgb)
    assert packed.format.name == "p010le"

    def rows(plane, height: int, width: int) -> np.ndarray:
        return np.frombuffer(plane, dtype="<u2").reshape(height, -1)[:, :width]

    y, u, v = (rows(p, p.height, p.width) for p in planar.planes)
    packed_y = rows(packed.planes[0], 16, 24)
    packed_uv = rows(packed.planes[1], 8, 24)
    assert np.array_equal(packed_y, y << 6)
    assert np.array_equal(packed_uv[:, 0::2], u << 6)
    assert np.array_equal(packed_uv[:, 1::2], v << 6)


def test_upscale_with_nvenc_on_a_machine_without_one_fails_in_one_line_before_decoding(
    tmp_path: Path, monkeypatch, capsys
):
    videos = pytest.importorskip("videos")
    from vsrcli.cli import run
    from vsrcli.io import video

    if encoders._cached_open_error("h264_nvenc") is None:
        pytest.skip("this machine has NVENC")
    src = videos.make_video(tmp_path / "in.mkv", videos.moving_pattern(2, 16, 16), codec="ffv1")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoding started before the encoder was checked")

    monkeypatch.setattr(video.VideoReader, "iter_chunks", no_decoding)
    out = tmp_path / "out.mp4"
    assert run(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--codec", "h264_nvenc"]) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("vsrcli: error: encoder h264_nvenc is not available on this machine")
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())
