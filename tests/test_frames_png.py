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
