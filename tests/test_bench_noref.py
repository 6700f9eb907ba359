"""`vsrcli benchmark --no-reference`: real footage has no ground truth, so the benchmark measures whether a
model amplifies or removes noise (robust noise estimate of the output) and keeps edges, beside bicubic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vsrcli.bench import data as bench_data
from vsrcli.bench.baselines import NamedModel
from vsrcli.bench.noref import INPUT_PANEL, edge_strength, noise_level, run_no_reference
from vsrcli.cli import run
from vsrcli.degrade import parse_degradation
from vsrcli.io.frames import read_image, write_image

CPU = torch.device("cpu")


class Bilinear4(nn.Module):
    """x4 bilinear, plus seeded noise of ``amplify`` (0-1 scale) at output resolution: a stand-in for a
    model that turns input grain into sharper output grain."""

    scale, min_size, size_multiple, min_frames = 4, 1, 1, 1

    def __init__(self, amplify: float = 0.0) -> None:
        super().__init__()
        self.amplify = amplify

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        y = F.interpolate(x.reshape(n * t, c, h, w), scale_factor=4, mode="bilinear", align_corners=False)
        g = torch.Generator().manual_seed(0)
        y = y + self.amplify * torch.randn(y.shape, generator=g)
        return y.reshape(n, t, c, 4 * h, 4 * w)


def _smooth_clip(t: int = 3, h: int = 40, w: int = 48, sigma: float = 6.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 3.0 + 20, yy * 2.0 + 40, np.full((h, w), 128.0)], axis=-1)
    rng = np.random.default_rng(0)
    return np.clip(np.round(base + rng.normal(0, sigma, (t, h, w, 3))), 0, 255).astype(np.uint8)


@pytest.fixture
def real_clip(tmp_path: Path) -> Path:
    folder = tmp_path / "real" / "street"
    folder.mkdir(parents=True)
    for i, f in enumerate(_smooth_clip()):
        write_image(folder / f"{i:03d}.png", f)
    return tmp_path / "real"


def test_noise_level_reads_the_sigma_of_white_noise():
    rng = np.random.default_rng(1)
    clean = np.full((2, 64, 64, 3), 120.0)
    noisy = np.clip(np.round(clean + rng.normal(0, 10, clean.shape)), 0, 255).astype(np.uint8)
    assert noise_level(clean.astype(np.uint8)) < 0.5
    assert abs(noise_level(noisy) - 10) < 1.5
    # x4 pixel repetition hides grain from the full-size estimate; averaging back to the input size finds it
    enlarged = np.repeat(np.repeat(noisy, 4, axis=1), 4, axis=2)
    assert noise_level(enlarged) < 1 and noise_level(enlarged, shrink=4) == pytest.approx(noise_level(noisy))


def test_edge_strength_is_higher_for_a_sharp_edge_than_a_soft_one():
    sharp = np.zeros((1, 32, 32, 3), np.uint8)
    sharp[:, :, 16:] = 200
    ramp = np.clip(np.linspace(-100, 300, 32), 0, 200).astype(np.uint8)
    soft = np.broadcast_to(ramp[None, None, :, None], (1, 32, 32, 3)).copy()
    assert edge_strength(sharp, percentile=99) > 2 * edge_strength(soft, percentile=99)


def test_a_model_that_amplifies_grain_reads_noisier_than_bicubic_and_a_smoother_reads_cleaner(real_clip):
    ds = bench_data.discover(real_clip, parse_degradation("none"))
    result = run_no_reference(
        ds,
        [NamedModel("smoother", Bilinear4()), NamedModel("amplifier", Bilinear4(amplify=8 / 255))],
        device=CPU,
    )
    rows = {m.model: m for m in result.models}
    base = result.models[0]
    assert base.role == "baseline" and result.scale == 4
    assert rows["amplifier"].mean("noise") > base.mean("noise") + 4
    assert rows["smoother"].mean("noise") < base.mean("noise")
    # at the input's size bilinear keeps less than the input's own grain (sigma 6); the amplifier adds to it
    assert result.input_noise[0] > rows["smoother"].mean("noise_input") + 1
    assert rows["amplifier"].mean("noise_input") > rows["smoother"].mean("noise_input") + 0.3
    assert all(m.frames == 3 for m in result.models)


def test_no_reference_cli_writes_json_and_crops_against_the_input(real_clip, tmp_path, capsys):
    crops, out_json = tmp_path / "crops", tmp_path / "r.json"
    args = ["benchmark", str(real_clip), "--no-reference", "--arch", "basicvsr"]
    args += ["--arch-args", "mid_channels=4,num_blocks=1", "--crops", str(crops), "--json", str(out_json)]
    assert run(args) == 0
    assert "no reference" in capsys.readouterr().out
    data = json.loads(out_json.read_text())
    assert data["kind"] == "noref" and [m["role"] for m in data["models"]] == ["baseline", "model"]
    assert set(data["models"][1]["mean"]) == {"noise", "noise_input", "edges"}
    assert list(data["input_noise"]) == ["street"] and data["input_noise"]["street"] > 3
    legend = (crops / "street.txt").read_text()
    assert legend.rstrip().endswith(INPUT_PANEL)
    # three panels (bicubic, the model, the input) of the 128x128 detail window at x2, two 4-pixel gaps
    assert read_image(crops / "street.png").shape == (256, 3 * 256 + 8, 3)


@pytest.mark.parametrize("extra", [["--degrade", "bi"], ["--speed-only"], [], ["--nlm", "--sigma", "5"]])
def test_no_reference_usage_errors_exit_2(real_clip, extra):
    model = [] if extra == [] else ["--arch", "basicvsr"]
    assert run(["benchmark", str(real_clip), "--no-reference", *model, *extra]) == 2
