"""`--model bicubic`: x4 with no weights, equal to OpenCV's INTER_CUBIC (Keys a=-0.75) within one level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrcli.cli import run
from vsrcli.models.api import describe_model, load_model
from vsrcli.models.bicubic import BicubicUpsampler


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (5, 9)])
def test_bicubic_matches_opencv_inter_cubic_within_one_level(size):
    cv2 = pytest.importorskip("cv2")
    h, w = size
    rng = np.random.default_rng(h * w)
    frames = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    y = BicubicUpsampler()(x)
    assert y.shape == (1, 2, 3, 4 * h, 4 * w)
    for i, frame in enumerate(frames):
        expected = cv2.resize(frame, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC)
        diff = np.abs(_to_uint8(y[0, i]).astype(int) - expected.astype(int))
        assert diff.max() <= 1, diff.max()


def test_bicubic_is_not_bilinear():
    """A guard that the comparison above can fail: bilinear differs from INTER_CUBIC by many levels."""
    cv2 = pytest.importorskip("cv2")
    frame = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = torch.from_numpy(frame).permute(2, 0, 1).float().div(255)[None]
    bilinear = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)[0]
    expected = cv2.resize(frame, (64, 64), interpolation=cv2.INTER_CUBIC)
    assert np.abs(_to_uint8(bilinear).astype(int) - expected.astype(int)).max() > 10


def test_bicubic_resolves_by_name_with_no_weights(tmp_path: Path):
    info = describe_model("bicubic")
    assert (info.scale, info.task, info.weights, info.num_params) == (4, "sr-x4", None, 0)
    net = load_model("Bicubic", download=False)
    assert isinstance(net, BicubicUpsampler) and net.model_info.name == "bicubic"
    assert (net.scale, net.min_size, net.size_multiple, net.min_frames) == (4, 1, 1, 1)
    assert net.state_dict() == {}


def test_bicubic_refuses_a_weights_file(tmp_path: Path, capsys):
    cv2 = pytest.importorskip("cv2")
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "000.png"), np.zeros((8, 8, 3), np.uint8))
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert run(["upscale", str(tmp_path / "in"), "--model", "bicubic", "--weights", str(weights)]) == 2
    assert "bicubic has no weights" in capsys.readouterr().err


def test_upscale_with_bicubic_writes_the_opencv_result(tmp_path: Path):
    cv2 = pytest.importorskip("cv2")
    videos = pytest.importorskip("videos")
    from vsrcli.io.frames import read_folder

    frames = videos.moving_pattern(3, 20, 28, seed=2)
    src = tmp_path / "in"
    src.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(src / f"{i:03d}.png"), frame[..., ::-1])
    out = tmp_path / "out"
    assert run(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--quiet"]) == 0
    got = read_folder(out)
    assert got.shape == (3, 80, 112, 3)
    for frame, up in zip(frames, got, strict=True):
        expected = cv2.resize(frame, (112, 80), interpolation=cv2.INTER_CUBIC)
        assert np.abs(up.astype(int) - expected.astype(int)).max() <= 1


def test_benchmark_speed_with_bicubic(capsys):
    args = ["benchmark", "--speed-only", "--model", "bicubic", "--size", "16x24", "--frames", "2"]
    assert run([*args, "--repeats", "1", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "speed" and doc["models"][0]["model"] == "bicubic"


def test_models_list_and_info_show_bicubic(capsys):
    assert run(["models", "list"]) == 0
    assert "built in: bicubic" in capsys.readouterr().out
    assert run(["models", "info", "bicubic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["builtin"] is True
