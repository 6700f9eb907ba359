"""PNG frames are written losslessly at their bit depth, in files any decoder reads."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vsrcli.io.frames import png_problem, read_image, write_image


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_png_frame_round_trips_exactly_through_another_decoder(tmp_path, dtype):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, np.iinfo(dtype).max + 1, (37, 53, 3), dtype=dtype)
    rgb[:, :10] = rgb[:, :1]  # flat runs too, where prediction and compression matter
    path = tmp_path / "frame.png"
    write_image(path, rgb)
    assert png_problem(path.read_bytes()) is None
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]  # OpenCV reads BGR
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, rgb)


def test_our_reader_reads_our_8_bit_frames_back(tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    write_image(tmp_path / "frame.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "frame.png"), rgb)


def test_write_image_rejects_what_is_not_an_rgb_frame(tmp_path):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_image(tmp_path / "x.png", np.zeros((4, 4), dtype=np.uint8))


def test_a_palette_png_reads_as_its_colours(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(5).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    expected = np.asarray(Image.open(tmp_path / "pal.png").convert("RGB"))
    np.testing.assert_array_equal(read_image(tmp_path / "pal.png"), expected)


@pytest.mark.parametrize("grey", [False, True])
def test_a_16_bit_png_reads_as_the_nearest_8_bit_codes(tmp_path, grey):
    codes = np.array([0, 128, 129, 32767, 32768, 65407, 65408, 65535], dtype=np.uint16)
    image = np.tile(codes, (3, 1)) if grey else np.stack([codes, codes[::-1], codes], axis=-1)[None]
    cv2.imwrite(str(tmp_path / "deep.png"), image if grey else image[..., ::-1])
    nearest = np.rint(image.astype(np.float64) * 255 / 65535).astype(np.uint8)
    expected = np.repeat(nearest[..., None], 3, axis=-1) if grey else nearest
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), expected)


def test_reading_png_frames_does_not_import_torchvision(tmp_path):
    """Its import alone took 1.9 s, longer than a short clip's frames take to decode."""
    import subprocess
    import sys

    write_image(tmp_path / "f.png", np.zeros((8, 8, 3), dtype=np.uint8))
    probe = (
        "import sys; from vsrcli.io.frames import read_image; "
        f"read_image({str(tmp_path / 'f.png')!r}); print('torchvision' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_png_whose_image_data_was_cut_short_is_refused(tmp_path):
    """Valid chunk CRCs around incomplete compressed data: FFmpeg would decode part garbage without a word."""
    import struct
    import zlib

    from vsrcli.errors import InputError

    write_image(tmp_path / "good.png", np.random.default_rng(6).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    data = (tmp_path / "good.png").read_bytes()
    at = data.index(b"IDAT") - 4
    length = int.from_bytes(data[at : at + 4], "big")
    short = data[at + 8 : at + 8 + length // 2]
    chunk = struct.pack(">I", len(short)) + b"IDAT" + short + struct.pack(">I", zlib.crc32(b"IDAT" + short))
    (tmp_path / "cut.png").write_bytes(data[:at] + chunk + data[at + 12 + length :])
    assert png_problem((tmp_path / "cut.png").read_bytes()) == "image data cut short"
    with pytest.raises(InputError, match="corrupt PNG"):
        read_image(tmp_path / "cut.png")
