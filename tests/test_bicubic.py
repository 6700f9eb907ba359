"""`--model bicubic`: x4 with no weights, equal to PIL's BICUBIC (Keys a=-0.5) within one level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vsrcli.cli import run
from vsrcli.models.api import describe_model, load_model
from vsrcli.models.bicubic import BicubicUpsampler


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _pil(frame: np.ndarray, scale: int = 4) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.asarray(Image.fromarray(frame).resize((scale * w, scale * h), Image.BICUBIC)).astype(int)


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (5, 9), (2, 3)])
def test_bicubic_matches_pil_on_the_float_and_the_integer_path(size):
    h, w = size
    rng = np.random.default_rng(h * w)
    frames = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    net = BicubicUpsampler()
    y = net(torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).unsqueeze(0))
    codes = net.forward_codes(torch.from_numpy(frames))
    assert y.shape == (1, 2, 3, 4 * h, 4 * w)
    assert codes is not None and codes.dtype == torch.uint8 and codes.shape == (2, 4 * h, 4 * w, 3)
    for i, frame in enumerate(frames):
        expected, floats, integers = _pil(frame), _to_uint8(y[0, i]).astype(int), codes[i].numpy().astype(int)
        assert np.abs(floats - expected).max() <= 1
        assert np.abs(integers - floats).max() <= 1
        # PyTorch's and PIL's fixed-point roundings differ: on random noise a few pixels per million by 2
        off = np.abs(integers - expected)
        assert off.max() <= 2 and (off > 1).mean() < 1e-4


def test_bicubic_integer_kernel_declines_what_it_cannot_do():
    """16-bit codes take the float path (the caller's fallback)."""
    assert BicubicUpsampler().forward_codes(torch.zeros(1, 4, 4, 3, dtype=torch.uint16)) is None


def test_bicubic_is_not_bilinear_nor_opencv_cubic():
    """Guards that the comparison above can fail: bilinear, and a = -0.75 with replicated edges (OpenCV's
    and torch's float bicubic), differ from PIL's bicubic by several levels on a random frame."""
    frame = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    x = torch.from_numpy(frame).permute(2, 0, 1).float().div(255)[None]
    expected = _pil(frame)
    for mode in ("bilinear", "bicubic"):
        other = torch.nn.functional.interpolate(x, scale_factor=4, mode=mode, align_corners=False)[0]
        assert np.abs(_to_uint8(other).astype(int) - expected).max() > 5


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


def test_upscale_with_bicubic_writes_the_pil_result(tmp_path: Path):
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
        assert np.abs(up.astype(int) - _pil(frame)).max() <= 1


def test_bicubic_looks_for_no_scene_cuts_and_says_so(tmp_path: Path, capsys):
    """Frames that are upscaled independently share nothing across a cut, so no detector runs; the summary
    says that instead of claiming the clip has no cuts."""
    cv2 = pytest.importorskip("cv2")
    videos = pytest.importorskip("videos")

    src = tmp_path / "in"
    src.mkdir()
    for i, frame in enumerate(videos.moving_pattern(3, 20, 28, seed=2)):
        cv2.imwrite(str(src / f"{i:03d}.png"), frame[..., ::-1])
    assert run(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", "bicubic"]) == 0
    summary = capsys.readouterr().out
    assert "scene cuts not looked for" in summary and "scene cut(s)" not in summary


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
