"""`vsrcli benchmark`: data layouts, the runner's padding/chunking/timing contract, the official averaging,
the JSON/CSV schema, speed runs, the CLI, and the bicubic Vid4 figure (20.39 dB Y-PSNR)."""

from __future__ import annotations

import csv
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vsrcli.bench import data as bench_data
from vsrcli.bench import report
from vsrcli.bench.baselines import NamedModel, baseline_for
from vsrcli.bench.models import load_named_model, parse_arch_args
from vsrcli.bench.runner import run_model, run_quality, run_speed
from vsrcli.cli import run
from vsrcli.degrade import imresize_matlab, parse_degradation
from vsrcli.errors import InputError, ModelError, UsageError
from vsrcli.io.frames import write_image
from vsrcli.metrics import psnr, ssim, to_uint8

CPU = torch.device("cpu")


class NearestUp(nn.Module):
    """Stand-in network: nearest-neighbour x``scale`` per frame; records the shapes it was called with."""

    def __init__(
        self, scale: int = 4, min_size: int = 1, size_multiple: int = 1, min_frames: int = 1
    ) -> None:
        super().__init__()
        self.scale, self.min_size, self.size_multiple, self.min_frames = (
            scale,
            min_size,
            size_multiple,
            min_frames,
        )
        self.calls: list[tuple[int, ...]] = []
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        s = self.scale
        return x.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1) + self.weight


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 7, yy * 5, (xx + yy) * 3], axis=-1)
    return np.stack(
        [np.clip(base + i * 9 + rng.integers(0, 30, base.shape), 0, 255) for i in range(t)]
    ).astype(np.uint8)


def _write_clip(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        write_image(folder / f"{i:04d}.png", f)


def _write_video(path: Path, frames: np.ndarray) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


@pytest.fixture
def clips_dir(tmp_path: Path) -> Path:
    root = tmp_path / "clips"
    _write_clip(root / "b_clip", _frames(3, 32, 48, seed=1))
    _write_clip(root / "a_clip", _frames(4, 32, 48, seed=2))
    return root


# ---- data layouts


def test_folder_of_clips_is_degraded_on_the_fly(clips_dir):
    ds = bench_data.discover(clips_dir, parse_degradation("bi"))
    assert (ds.layout, ds.scale, ds.lq_source) == ("clips", 4, "BIx4")
    assert [c.name for c in ds.clips] == ["a_clip", "b_clip"]
    clip = ds.clips[0].load()
    assert clip.gt.shape == (4, 32, 48, 3) and clip.lq.shape == (4, 8, 12, 3)


def test_single_folder_of_frames_is_one_clip(clips_dir):
    ds = bench_data.discover(clips_dir / "a_clip", parse_degradation("bd"), max_frames=2)
    assert [c.name for c in ds.clips] == ["a_clip"]
    assert ds.clips[0].load().lq.shape == (2, 8, 12, 3)


def test_paired_layout_uses_stored_lq_with_lq_option(tmp_path):
    gt = _frames(3, 32, 32)
    _write_clip(tmp_path / "GT" / "c1", gt)
    _write_clip(tmp_path / "LR" / "c1", gt[:, ::2, ::2])
    ds = bench_data.discover(tmp_path, parse_degradation("bi"), lq="LR")
    assert (ds.layout, ds.scale, ds.lq_source) == ("paired", 2, "stored:LR")
    clip = ds.clips[0].load()
    assert np.array_equal(clip.lq, gt[:, ::2, ::2])
    on_the_fly = bench_data.discover(tmp_path, parse_degradation("bi"))
    assert on_the_fly.lq_source == "BIx4" and on_the_fly.clips[0].load().lq.shape == (3, 8, 8, 3)
    with pytest.raises(InputError, match="found: LR"):
        bench_data.discover(tmp_path, parse_degradation("bi"), lq="BIx4")


def test_paired_layout_with_frames_directly_under_gt(tmp_path):
    gt = _frames(2, 16, 16)
    _write_clip(tmp_path / "GT", gt)
    _write_clip(tmp_path / "BIx4", gt[:, ::4, ::4])
    ds = bench_data.discover(tmp_path, parse_degradation("bi"), lq="BIx4")
    assert [c.name for c in ds.clips] == [tmp_path.name] and ds.scale == 4


def test_video_files_are_decoded_and_degraded(tmp_path):
    frames = _frames(5, 32, 48)
    _write_video(tmp_path / "one.mkv", frames)
    _write_video(tmp_path / "two.mkv", frames[:3])
    ds = bench_data.discover(tmp_path, parse_degradation("bi"))
    assert ds.layout == "videos" and [c.name for c in ds.clips] == ["one", "two"]
    clip = ds.clips[0].load()
    assert np.array_equal(clip.gt, frames)  # ffv1 is lossless
    assert clip.lq.shape == (5, 8, 12, 3)
    single = bench_data.discover(tmp_path / "two.mkv", parse_degradation("none"), max_frames=2)
    assert single.clips[0].load().gt.shape == (2, 32, 48, 3)


def test_empty_or_missing_data_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        bench_data.discover(tmp_path, parse_degradation("bi"))
    with pytest.raises(InputError):
        bench_data.discover(tmp_path / "nope", parse_degradation("bi"))


# ---- running a model


def test_inputs_are_padded_to_the_size_rules_and_outputs_cropped():
    lq = _frames(3, 20, 30)
    model = NearestUp(4, min_size=64, size_multiple=8)
    out, seconds = run_model(model, lq, device=CPU)
    assert model.calls == [(1, 3, 3, 64, 64)]
    assert out.shape == (3, 80, 120, 3) and seconds >= 0
    assert np.array_equal(out, lq.repeat(4, axis=1).repeat(4, axis=2))


def test_short_clips_are_padded_to_min_frames():
    model = NearestUp(4, min_frames=5)
    out, _ = run_model(model, _frames(3, 8, 8), device=CPU)
    assert model.calls[0][1] == 5 and out.shape[0] == 3


def test_chunks_do_not_overlap_and_the_last_one_is_full_length():
    lq = _frames(5, 8, 8)
    model = NearestUp(4)
    whole, _ = run_model(model, lq, device=CPU)
    model.calls.clear()
    chunked, _ = run_model(model, lq, device=CPU, chunk_frames=2)
    assert [c[1] for c in model.calls] == [2, 2, 2]
    assert np.array_equal(whole, chunked)


def test_quality_run_scores_clip_means_with_the_baseline_first(clips_dir):
    ds = bench_data.discover(clips_dir, parse_degradation("bi"))
    model = NearestUp(4)
    result = run_quality(ds, [NamedModel("nearest", model)], device=CPU, warmup=2)
    assert [m.model for m in result.models] == ["bicubic x4 (MATLAB)", "nearest"]
    assert [m.role for m in result.models] == ["baseline", "model"]
    # 2 warm-up passes, then one pass per clip
    assert len(model.calls) == 2 + 2
    base = result.models[0]
    expected = []
    for source in ds.clips:
        clip = source.load()
        lq = torch.from_numpy(clip.lq).float().div(255).permute(0, 3, 1, 2)
        out = to_uint8(imresize_matlab(lq, 4))
        expected.append(np.mean([psnr(o, g, y_channel=True) for o, g in zip(out, clip.gt, strict=True)]))
        ssim_rgb = np.mean([ssim(o, g) for o, g in zip(out, clip.gt, strict=True)])
    assert [c.psnr_y for c in base.clips] == pytest.approx(expected)
    assert base.clips[-1].ssim_rgb == pytest.approx(ssim_rgb)
    assert base.mean("psnr_y") == pytest.approx(np.mean(expected))  # mean of clip means, not of frames
    assert base.frames == 7 and base.seconds > 0 and base.fps > 0 and base.peak_rss_mb > 0


def test_torch_bicubic_baseline_is_available_and_scale_mismatch_is_refused(clips_dir):
    ds = bench_data.discover(clips_dir / "a_clip", parse_degradation("bi"))
    result = run_quality(ds, [], device=CPU, baseline="bicubic-torch")
    assert result.models[0].model == "bicubic x4 (torch)"
    with pytest.raises(UsageError, match="x2"):
        run_quality(ds, [NamedModel("x2", NearestUp(2))], device=CPU, baseline="none")
    with pytest.raises(UsageError):
        run_quality(ds, [], device=CPU, baseline="none")


def test_restoration_baseline_is_the_input_and_json_has_no_infinities(clips_dir):
    ds = bench_data.discover(clips_dir / "a_clip", parse_degradation("none"))
    result = run_quality(ds, [], device=CPU)
    assert baseline_for(1).name == "input"
    assert result.models[0].mean("psnr_y") == math.inf
    doc = report.to_json(result)
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["models"][0]["mean"]["psnr_y"] is None


def test_json_and_csv_follow_the_documented_schema(clips_dir, tmp_path):
    ds = bench_data.discover(clips_dir, parse_degradation("bi"))
    result = run_quality(ds, [NamedModel("nearest", NearestUp(4))], device=CPU)
    report.write_json(result, tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["schema"] == "vsrcli.benchmark/1" and doc["kind"] == "quality"
    for key in (
        "dataset",
        "layout",
        "degradation",
        "scale",
        "crop_border",
        "device",
        "precision",
        "versions",
    ):
        assert key in doc
    assert {"torch", "av", "numpy", "vsrcli"} <= set(doc["versions"])
    m = doc["models"][1]
    for key in (
        "model",
        "role",
        "frames",
        "seconds_per_frame",
        "fps",
        "peak_rss_mb",
        "cuda_max_allocated_mb",
    ):
        assert key in m
    assert set(m["mean"]) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}
    assert [c["clip"] for c in m["clips"]] == ["a_clip", "b_clip"]
    report.write_csv(result, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert len(rows) == 2 * (2 + 1)
    assert [r["clip"] for r in rows[:3]] == ["a_clip", "b_clip", "mean"]


def test_speed_run_excludes_warm_up_and_times_each_repeat():
    model = NearestUp(4)
    result = run_speed(
        [NamedModel("nearest", model)], frames=3, height=16, width=24, device=CPU, warmup=2, repeats=3
    )
    assert len(model.calls) == 5 and model.calls[0] == (1, 3, 3, 16, 24)
    speed = result.models[0]
    assert len(speed.runs) == 3 and speed.seconds_per_frame > 0
    assert speed.fps == pytest.approx(1 / speed.seconds_per_frame)
    assert result.source == "random"
    real = run_speed(
        [NamedModel("n", NearestUp(4))], frames=4, height=10, width=12, device=CPU, real=_frames(2, 8, 8)
    )
    assert real.source == "real"
    assert json.loads(json.dumps(report.to_json(real)))["input"] == {
        "frames": 4,
        "height": 10,
        "width": 12,
        "source": "real",
    }


# ---- models and the CLI


def test_arch_args_are_typed():
    assert parse_arch_args("mid_channels=64, num_blocks=7,is_low_res_input=false,x=1.5,name=abc") == {
        "mid_channels": 64,
        "num_blocks": 7,
        "is_low_res_input": False,
        "x": 1.5,
        "name": "abc",
    }
    with pytest.raises(UsageError):
        parse_arch_args("mid_channels")


def test_model_loading_without_the_model_api_is_a_model_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vsrcli.models.api", None)
    with pytest.raises(ModelError):
        load_named_model("basicvsrpp-reds4")


def test_cli_quality_run_writes_json_and_csv(clips_dir, tmp_path, capsys):
    code = run(
        ["benchmark", str(clips_dir), "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "PSNR-Y" in out and "a_clip" in out and "bicubic x4 (MATLAB)" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["degradation"] == "BIx4" and len(doc["models"][0]["clips"]) == 2
    assert (tmp_path / "r.csv").read_text().startswith("model,role,clip")


def test_cli_json_to_stdout_is_pure_json(clips_dir, capsys):
    assert run(["benchmark", str(clips_dir / "a_clip"), "--json", "-", "--max-frames", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["max_frames"] == 2 and doc["models"][0]["frames"] == 2


def test_cli_speed_only_with_a_random_weight_architecture(monkeypatch, capsys, clips_dir):
    fake = types.ModuleType("vsrcli.models.arch")
    fake.build_network = lambda arch, **kw: NearestUp(**kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vsrcli.models.arch", fake)
    args = ["benchmark", "--speed-only", "--arch", "fake", "--arch-args", "scale=4", "--size", "12x16"]
    assert run([*args, "--frames", "2", "--repeats", "2", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["kind"] == "speed"
        and doc["input"]["height"] == 12
        and doc["models"][0]["model"] == "fake(scale=4)"
    )
    assert len(doc["models"][0]["runs"]) == 2
    # with DATA, real frames (tiled/cropped to --size) replace the random ones
    assert run([*args, str(clips_dir / "a_clip"), "--frames", "2", "--repeats", "1", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["input"]["source"] == "real"


@pytest.mark.parametrize(
    "args",
    [
        ["benchmark", "--speed-only"],  # no model
        ["benchmark"],  # no data
        ["benchmark", "DATA", "--degrade", "sharpen"],
        ["benchmark", "DATA", "--lq", "BIx4", "--degrade", "bi"],
        ["benchmark", "DATA", "--precision", "fp8"],
        ["benchmark", "--speed-only", "--size", "big", "--arch", "x"],
        ["benchmark", "DATA", "--degrade", "h264:30", "--nlm"],  # NLM needs a known noise level
        ["benchmark", "DATA", "--degrade", "noise:25", "--sigma", "loud"],
    ],
)
def test_cli_usage_errors_exit_2(clips_dir, args):
    args = [str(clips_dir) if a == "DATA" else a for a in args]
    assert run(args) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_unavailable_device_exits_6(clips_dir):
    assert run(["benchmark", str(clips_dir), "--device", "cuda"]) == 6


def test_bicubic_baseline_on_vid4_calendar_is_20_39_db(shared_data):
    # The full-clip figure through the baseline module itself (the runner around it is tested above; running
    # SSIM on 41 frames of 720x576 as well would take half a minute on this CPU).
    ds = bench_data.discover(shared_data / "Vid4_calendar", parse_degradation("bi"))
    clip = ds.clips[0].load()
    assert clip.gt.shape == (41, 576, 720, 3)
    out, _ = run_model(baseline_for(4).module, clip.lq, device=CPU)
    y_psnr = np.mean([psnr(o, g, y_channel=True) for o, g in zip(out, clip.gt, strict=True)])
    assert y_psnr == pytest.approx(20.3945, abs=1e-3)


# ---- the real networks (once vsrcli.models is merged)


def test_random_weight_architecture_is_named_after_its_arguments():
    from vsrcli.bench.models import random_model

    net = random_model("basicvsrpp", {"mid_channels": 8, "num_blocks": 1})
    assert net.module.scale == 4 and net.name == "basicvsrpp(mid_channels=8,num_blocks=1)"
    with pytest.raises(ModelError):
        random_model("nosuchnet", {})


def test_cli_speed_only_with_the_real_architecture(capsys):
    args = ["benchmark", "--speed-only", "--arch", "basicvsrpp", "--arch-args", "mid_channels=8,num_blocks=1"]
    assert run([*args, "--size", "64x64", "--frames", "2", "--repeats", "1", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["models"][0]["description"].startswith("random weights (seed 0); BasicVSRPlusPlusNet")


def test_model_path_loads_through_the_model_api(clips_dir, tmp_path):
    from vsrcli.models.arch import build_network

    torch.manual_seed(0)
    net = build_network("basicvsrpp", mid_channels=8, num_blocks=1)
    torch.save(net.state_dict(), tmp_path / "tiny.pth")
    model = load_named_model(str(tmp_path / "tiny.pth"))
    assert model.module.scale == 4
    # 32x48 GT -> 8x12 LR: below BasicVSR++'s 64-pixel minimum, so the runner must pad and crop
    ds = bench_data.discover(clips_dir / "b_clip", parse_degradation("bi"), max_frames=2)
    result = run_quality(ds, [model], device=CPU, baseline="none", warmup=0)
    assert result.models[0].model == str(tmp_path / "tiny.pth")
    assert math.isfinite(result.models[0].mean("psnr_rgb"))


# ---- denoisers: the noise-level map, the classical NLM row, crop comparisons


class NoiseMapEcho(nn.Module):
    """Stand-in for a conditioned denoiser: returns its RGB input; remembers the level channel it got."""

    scale, min_size, size_multiple, min_frames = 1, 1, 1, 1
    extra_in_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.levels: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[2] == 4
        self.levels.append(float(x[:, :, 3].mean()))
        assert float(x[:, :, 3].max() - x[:, :, 3].min()) == 0.0  # a constant map
        return x[:, :, :3]


def test_a_conditioned_denoiser_gets_the_noise_level_as_a_fourth_channel():
    net = NoiseMapEcho()
    lq = _frames(2, 16, 16).astype(np.float32) / 255.0
    out, _ = run_model(net, lq, device=CPU, noise_level=25.0)
    assert net.levels == [pytest.approx(25.0 / 255.0)]
    assert out.shape == (2, 16, 16, 3)
    with pytest.raises(UsageError):
        run_model(net, lq, device=CPU)  # no level: an error, not a silent guess


def test_benchmark_noise_level_defaults_to_the_degradation_sigma_or_is_estimated(clips_dir):
    from vsrcli.bench.runner import clip_noise_level

    net = NoiseMapEcho()
    ds = bench_data.discover(clips_dir, parse_degradation("noise:30"))
    run_quality(ds, [NamedModel("echo", net)], device=CPU, warmup=0, noise_level=30.0)
    assert net.levels == [pytest.approx(30 / 255)] * 2
    # "auto" estimates per clip from the 8-bit input; on strong noise the estimate is close to the truth
    flat = np.full((4, 64, 64, 3), 128, np.uint8)
    noisy = parse_degradation("noise:30").apply(flat, "flat")
    assert clip_noise_level(noisy, "auto") == pytest.approx(30.0, rel=0.1)
    assert clip_noise_level(noisy, 12) == 12.0 and clip_noise_level(noisy, None) is None


def test_nlm_row_removes_noise_better_than_doing_nothing(clips_dir):
    pytest.importorskip("cv2")
    from vsrcli.bench.baselines import nlm_baseline

    yy, xx = np.mgrid[0:48, 0:48]
    smooth = np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    clip_dir = clips_dir.parent / "smooth"
    _write_clip(clip_dir / "s", np.stack([smooth] * 3))
    ds = bench_data.discover(clip_dir, parse_degradation("noise:25"))
    result = run_quality(ds, [], device=CPU, warmup=0, extra_baselines=[nlm_baseline(25.0)])
    rows = {m.model: m.mean("psnr_rgb") for m in result.models}
    assert list(rows) == ["input", "NLM (OpenCV, h=20)"]
    assert rows["NLM (OpenCV, h=20)"] > rows["input"] + 3


def test_crops_show_every_row_and_the_ground_truth_side_by_side(clips_dir, tmp_path, capsys):
    out_dir = tmp_path / "crops"
    assert run(["benchmark", str(clips_dir), "--degrade", "h264:40", "--crops", str(out_dir)]) == 0
    assert "crops:" in capsys.readouterr().out
    from vsrcli.io.frames import read_image

    strip = read_image(out_dir / "a_clip.png")
    # two panels (the compressed input, the ground truth) of 32x48 at x2, with one 4-pixel gap
    assert strip.shape == (64, 2 * 96 + 4, 3)
    legend = (out_dir / "a_clip.txt").read_text()
    assert "input | ground truth" in legend


def test_detail_window_finds_the_textured_corner():
    from vsrcli.bench.crops import detail_window

    frame = np.full((60, 80, 3), 100, np.uint8)
    frame[40:60, 60:80] = np.random.default_rng(0).integers(0, 255, (20, 20, 3))
    assert detail_window(frame, 20) == (40, 60)
