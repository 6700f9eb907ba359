"""Models shipped in weights/: registered as command defaults, verified, loadable offline, and useful.

These run the real shipped weights (small models), so they also pin that the committed file is a trained model
and not random weights: on a photo the x4 default must beat MATLAB bicubic clearly.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from vsrcli.models import zoo

SHIPPED = [e for e in zoo.list_entries() if not e.official]
DENOISE_MARGIN_DB = 4.0


def test_every_restore_command_with_a_shipped_model_has_exactly_one_default():
    assert zoo.default_for("upscale") is not None, "vsrcli upscale needs a default shipped model"
    for command in ("upscale", "denoise", "deblur", "decompress"):
        owners = [e.name for e in SHIPPED if command in e.default_for]
        assert len(owners) <= 1, f"{command} has several defaults: {owners}"


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_file_is_committed_small_and_matches_its_entry_and_card(entry):
    path = zoo.resolve_local_path(entry)
    assert path is not None, f"{entry.local_path} is missing"
    data = path.read_bytes()
    assert len(data) < 10 * 1024 * 1024
    digest = hashlib.sha256(data).hexdigest()
    assert entry.sha256_prefix and digest.startswith(entry.sha256_prefix)
    assert entry.url is None and entry.filename == path.name
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == digest
    assert card["arch"] == entry.arch  # the card lists the arguments it set, the entry all of them
    assert {k: entry.arch_args[k] for k in card["arch_args"]} == card["arch_args"]
    assert card["num_params"] == entry.num_params
    assert (path.with_suffix(".md")).is_file()


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_shipped_model_loads_strictly_without_network(entry, monkeypatch, tmp_path):
    from vsrcli.models import hub
    from vsrcli.models.api import load_model

    def no_download(*args, **kwargs):
        raise AssertionError("a shipped model must never download")

    monkeypatch.setattr(hub, "download", no_download, raising=False)
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "empty-cache"))
    net = load_model(entry.name)
    assert sum(p.numel() for p in net.parameters()) == entry.num_params
    assert net.scale == entry.scale


def test_a_shipped_file_given_by_path_keeps_the_runtime_arguments_of_its_card(tmp_path):
    """No tensor shows vsrcli-denoise's second pass; the card beside the file does. A copy without its card,
    or with a card for another file, runs the network as its keys describe it."""
    import shutil

    from vsrcli.models.api import load_model

    entry = zoo.get_entry("vsrcli-denoise")
    path = zoo.resolve_local_path(entry)
    assert load_model(path).prefilter_radius == entry.arch_args["prefilter_radius"] > 0
    bare = tmp_path / path.name
    shutil.copy(path, bare)
    assert load_model(bare).prefilter_radius == 0
    card = json.loads(path.with_suffix(".json").read_text())
    bare.with_suffix(".json").write_text(json.dumps({**card, "file": "another.safetensors"}))
    assert load_model(bare).prefilter_radius == 0


def test_the_real_default_given_by_path_cleans_as_often_as_its_entry(tmp_path):
    """vsrcli-realx4 cleans again while a pass changes the frame by 3/255: its card carries that, so the
    file given by path runs as the entry; without the card it cleans once, as RealBasicVSR's configs do."""
    import shutil

    from vsrcli.models.api import load_model

    entry = zoo.default_for("upscale --real")
    path = zoo.resolve_local_path(entry)
    assert entry.arch_args["dynamic_refine_thres"] == 3
    assert load_model(path).dynamic_refine_thres == load_model(entry.name).dynamic_refine_thres == 3 / 255
    bare = tmp_path / path.name
    shutil.copy(path, bare)
    assert load_model(bare).dynamic_refine_thres == 1.0


def _photo_clip(frames: int = 3) -> np.ndarray:
    """A 256x256 crop of scikit-image's public-domain astronaut photo, slowly panning."""
    data = pytest.importorskip("skimage.data")
    img = data.astronaut()  # 512x512 RGB uint8
    return np.stack([img[100 + 2 * t : 356 + 2 * t, 120 + 3 * t : 376 + 3 * t] for t in range(frames)])


def test_default_upscaler_beats_matlab_bicubic_on_a_photo():
    from vsrcli.degrade import imresize_matlab
    from vsrcli.metrics import psnr
    from vsrcli.models.api import load_model

    entry = zoo.default_for("upscale")
    net = load_model(entry.name).eval()
    gt = torch.from_numpy(_photo_clip()).permute(0, 3, 1, 2).float() / 255  # (T, 3, 256, 256)
    lq = (imresize_matlab(gt, 0.25).clamp(0, 1) * 255).round() / 255  # BI x4, stored as 8-bit
    with torch.no_grad():
        out = net(lq.unsqueeze(0))[0].clamp(0, 1)
    bicubic = imresize_matlab(lq, 4.0).clamp(0, 1)

    def score(x: torch.Tensor) -> float:
        arr = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        ref = (gt.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        pairs = zip(arr, ref, strict=True)
        return float(np.mean([psnr(a, b, crop_border=8, y_channel=True) for a, b in pairs]))

    gain = score(out) - score(bicubic)
    assert gain > 0.5, f"shipped x4 model is only {gain:.2f} dB above bicubic on a photo"


def test_real_world_upscaler_is_cleaner_than_the_bi_default_on_a_noisy_compressed_photo():
    # What --real is for: on input with grain and H.264 artefacts the BI model sharpens them into the output,
    # the real-world model (cleaning module first) must not. Noise is the estimator of `--sigma auto` on the
    # output averaged back to the input size (at 4x, sharp edges alone raise the full-size estimate).
    from vsrcli.bench.noref import noise_level
    from vsrcli.bench.runner import run_model
    from vsrcli.degrade import bi_downsample, parse_degradation
    from vsrcli.models.api import load_model

    real, bi = zoo.default_for("upscale --real"), zoo.default_for("upscale")
    assert real is not None and real.task == "sr-x4-real" and bi is not None
    lq = bi_downsample(_photo_clip(4), 4).astype(np.float64)
    lq = np.clip(np.rint(lq + np.random.default_rng(0).normal(0, 8, lq.shape)), 0, 255).astype(np.uint8)
    lq = parse_degradation("h264:30").apply(lq, "astronaut")
    noise = {}
    for entry in (bi, real):
        out, _ = run_model(load_model(entry.name).eval(), lq, device=torch.device("cpu"))
        noise[entry.name] = noise_level(out, shrink=4)
    assert noise[real.name] < 0.8 * noise[bi.name], noise


def _restore(command: str, lq: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Run ``command``'s default model on uint8 (T, H, W, 3) frames (or float, for noise) -> uint8."""
    from vsrcli.bench.runner import run_model
    from vsrcli.models.api import load_model

    entry = zoo.default_for(command)
    assert entry is not None, f"vsrcli {command} needs a default shipped model"
    net = load_model(entry.name).eval()
    out, _ = run_model(net, lq, device=torch.device("cpu"), noise_level=sigma)
    return out


def _rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    from vsrcli.metrics import psnr

    return float(np.mean([psnr(x, y) for x, y in zip(a, b, strict=True)]))


# Margins on a photo the models never saw, well inside what `vsrcli benchmark` measured on held-out clips
# (see the model cards), so they catch a broken or untrained file without pinning exact figures. A command
# without a shipped default asks for --model instead (tested in test_cli_restore).
RESTORE_CHECKS = [
    ("denoise", "noise:25", DENOISE_MARGIN_DB),
    # vsrcli-deblur-lite gains +1.5 dB on held-out Gaussian sigma 1.5 (its card): this pins that the shipped
    # file sharpens at all, not the issue's +2 dB bar, which the benchmark measures.
    ("deblur", "blur:gauss:2", 0.4),
    # vsrcli-decompress-lite gains +0.28 dB on this 4-frame pan (vsrcli-decompress +0.35) and +0.38 on the
    # held-out 960x540 clips (vsrcli-decompress +0.26): an untrained file gains nothing.
    ("decompress", "h264:35", 0.2),
]


@pytest.mark.parametrize(
    ("command", "spec", "margin"),
    [c for c in RESTORE_CHECKS if zoo.default_for(c[0]) is not None],
    ids=lambda v: v if isinstance(v, str) and ":" not in v else "",
)
def test_default_restorers_clearly_improve_their_input_on_a_photo(command, spec, margin):
    from vsrcli.degrade import parse_degradation

    gt = _photo_clip(4)
    degradation = parse_degradation(spec, seed=0)
    lq = degradation.apply(gt, "astronaut")
    sigma = float(degradation.params["sigma"]) if degradation.kind == "noise" else None
    out = _restore(command, lq, sigma)
    lq8 = lq if lq.dtype == np.uint8 else np.clip(np.rint(lq * 255), 0, 255).astype(np.uint8)
    gain = _rgb_psnr(out, gt) - _rgb_psnr(lq8, gt)
    assert gain > margin, f"{command} default gains only {gain:.2f} dB over its input ({spec})"
