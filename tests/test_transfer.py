"""The lean data path: frames cross to the device and back as integers, only the kept frames come back, and
conversion, blending, clamping and rounding happen on the device with the same results as float maths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_pipeline import DecayNet, textured
from vsrcli.models.bicubic import BicubicUpsampler
from vsrcli.pipeline import tiling
from vsrcli.pipeline.chunking import Window
from vsrcli.pipeline.engine import Engine, WindowRestorer
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.tiling import SizeRules, auto_tile, working_set_bytes
from vsrcli.pipeline.transfer import to_codes

CPU = torch.device("cpu")
#: The data-path tests run on every device this machine has: the CPU in CI, also CUDA where a GPU is lent
#: (pinned staging buffers, int16 bit patterns and the upload event only exist there).
DEVICES = [CPU] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
on_every_device = pytest.mark.parametrize("device", DEVICES, ids=str)


def assert_codes_match(got: np.ndarray, want: np.ndarray, exact: np.ndarray, device: torch.device) -> None:
    """Exactly the float32 reference's codes on the CPU. A GPU computes ``codes / peak`` as a multiplication
    by the reciprocal (one ulp off), which may move a value that sits on a rounding tie (``exact``, in
    levels, ends in .5) by one level, and nothing else."""
    if device.type == "cpu":
        np.testing.assert_array_equal(got, want)
        return
    moved = got != want
    assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= 1
    assert np.all(np.abs(exact[moved] % 1 - 0.5) < 1e-3)


def frames(t: int, h: int, w: int, bits: int = 8) -> list[np.ndarray]:
    """Textured RGB frames as stored in a video: integers, (H, W, 3)."""
    peak = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return [np.rint(textured(h, w, seed=i).permute(1, 2, 0).numpy() * peak).astype(dtype) for i in range(t)]


def levels(net: torch.nn.Module, clip: list[np.ndarray], keep: slice, bits: int = 8) -> np.ndarray:
    """The network's float output on the CPU, clamped and in levels (not yet rounded)."""
    peak = 2**bits - 1
    x = torch.from_numpy(np.stack(clip).astype(np.float32) / peak).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        y = net.cpu()(x)[0, keep].permute(0, 2, 3, 1).numpy()
    return np.clip(y, 0, 1) * np.float32(peak)


def reference(net: torch.nn.Module, clip: list[np.ndarray], keep: slice, bits: int = 8) -> np.ndarray:
    """What the network gives on float frames, quantised by numpy in float32 as the official tensor2img does:
    the answer the data path must match."""
    return np.rint(levels(net, clip, keep, bits)).astype(clip[0].dtype)


def restorer(net: torch.nn.Module, tile: int | None = None, device: torch.device = CPU) -> WindowRestorer:
    options = RestoreOptions(model=net, task="upscale" if SizeRules.of(net).scale > 1 else "denoise")
    engine = Engine(options, net.to(device), "test", SizeRules.of(net), device, torch.float32)
    return engine.restorer(tile, None)


@on_every_device
def test_a_window_moves_integers_both_ways_and_only_its_kept_frames_come_back(device):
    net = DecayNet(scale=2, decay=0.5)
    clip = frames(6, 24, 32)
    win = Window(index=0, start=0, stop=6, core_start=1, core_stop=4, fade_out=1)  # keeps frames 1..4
    r = restorer(net, device=device)
    core, tail = r.restore(clip, win)
    assert core.dtype == np.uint8 and core.shape == (3, 48, 64, 3) and tail.shape == (1, 48, 64, 3)
    exact = levels(net, clip, slice(1, 5))
    assert_codes_match(np.concatenate([core, tail]), reference(net, clip, slice(1, 5)), exact, device)
    assert r.buffers is not None
    stats = r.buffers.stats
    assert stats.uploaded == 6 * 24 * 32 * 3  # the window's frames, one byte a sample
    assert stats.downloaded == 4 * 48 * 64 * 3  # the kept frames only, one byte a sample
    assert (stats.uploads, stats.downloads) == (1, 1)


@on_every_device
def test_sixteen_bit_frames_stay_sixteen_bit_through_the_device(device):
    net = DecayNet(scale=1, decay=0.5)
    clip = frames(3, 20, 20, bits=16)
    clip[0][0, 0] = 65535  # above int16's range: the bit patterns must come back as the same codes
    r = restorer(net, device=device)
    core, _ = r.restore(clip, Window(index=0, start=0, stop=3, core_start=0, core_stop=3))
    assert core.dtype == np.uint16
    exact = levels(net, clip, slice(0, 3), bits=16)
    assert_codes_match(core, reference(net, clip, slice(0, 3), bits=16), exact, device)
    assert r.buffers is not None and r.buffers.stats.downloaded == 3 * 20 * 20 * 3 * 2


@on_every_device
def test_tiles_blended_on_the_device_give_the_whole_frame_codes(device):
    net = DecayNet(scale=2, decay=0.5)
    clip = frames(4, 40, 56)
    win = Window(index=0, start=0, stop=4, core_start=0, core_stop=4)
    whole, _ = restorer(net, device=device).restore(clip, win)
    tiled_restorer = restorer(net, tile=16, device=device)
    tiled, _ = tiled_restorer.restore(clip, win)
    assert len(net.seen) > 2  # it did tile
    x = torch.from_numpy(np.stack(clip).astype(np.float32) / 255).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        exact = net.cpu()(x)[0].permute(0, 2, 3, 1).numpy() * 255
    moved = tiled != whole
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    assert np.all(np.abs(exact[moved] % 1 - 0.5) < 0.01)  # float32 blending only moves rounding ties
    assert tiled_restorer.buffers is not None and tiled_restorer.buffers.stats.downloaded == 4 * 80 * 112 * 3


@on_every_device
@pytest.mark.parametrize("integer_kernel", [True, False])
def test_a_frame_independent_network_runs_only_the_kept_frames(integer_kernel, device):
    class Counting(BicubicUpsampler):
        def __init__(self) -> None:
            super().__init__(4)
            self.frames_run = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.frames_run += x.shape[1]
            return super().forward(x)

        def forward_codes(self, codes: torch.Tensor) -> torch.Tensor | None:
            out = super().forward_codes(codes) if integer_kernel else None
            if out is not None:  # the integer kernel exists on the CPU only; elsewhere forward runs
                self.frames_run += codes.shape[0]
            return out

    net = Counting()
    clip = frames(8, 16, 16)
    r = restorer(net, device=device)
    core, _ = r.restore(clip, Window(index=0, start=0, stop=8, core_start=2, core_stop=6))
    assert net.frames_run == 4 and core.shape == (4, 64, 64, 3)
    assert r.buffers is not None and r.buffers.stats.uploaded == 4 * 16 * 16 * 3
    expected = reference(BicubicUpsampler(4), clip, slice(2, 6))
    assert np.abs(core.astype(int) - expected.astype(int)).max() <= 1  # integer and float kernels agree


def test_codes_are_clamped_and_rounded_half_to_even_in_float32_whatever_the_dtype():
    y = (
        torch.tensor([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.999, 1.7])
        .view(1, 1, 1, 7)
        .expand(1, 3, 1, 7)
    )
    codes = to_codes(y.clone(), 255.0)
    assert codes.dtype == torch.uint8 and codes.shape == (1, 1, 7, 3)
    assert codes[0, 0, :, 0].tolist() == [0, 0, 0, 2, 2, 255, 255]
    half = torch.full((1, 3, 2, 2), 200 / 255, dtype=torch.bfloat16)  # bf16 holds 0.78515625: 200.2 -> 200
    assert to_codes(half, 255.0).unique().tolist() == [200]


@pytest.mark.parametrize("free_gib", [8, 16])
def test_bicubic_needs_no_tiles_for_1080p_frames(monkeypatch, free_gib):
    """It runs frame by frame, so one frame's working set is what must fit, not a window's."""
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: free_gib << 30)
    net = BicubicUpsampler(4)
    assert restorer(net).engine.tile_for(1080, 1920) is None
    assert auto_tile(net, SizeRules.of(net), 30, 1080, 1920, CPU, torch.float32) is not None  # a window would


def test_half_precision_is_half_features_in_bf16_flows_in_float32(monkeypatch):
    """Under bf16 autocast every propagated feature map is stored in bf16 while the flows stay float32, so
    the tile memory model may count features at two bytes."""
    from vsrcli.models import basicvsr_pp
    from vsrcli.models.arch import build_network

    seen: list[tuple[set[torch.dtype], torch.dtype]] = []
    real = basicvsr_pp.propagate

    def spy(net, feats, flows, name, device, cache=False):
        out = real(net, feats, flows, name, device, cache)
        seen.append(({f.dtype for f in out} | {f.dtype for f in feats["spatial"]}, flows.dtype))
        return out

    monkeypatch.setattr(basicvsr_pp, "propagate", spy)
    net = build_network("basicvsrpp", mid_channels=8, num_blocks=1).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        net(torch.rand(1, 3, 3, 64, 64))
    assert len(seen) == 4
    assert all(dtypes == {torch.bfloat16} and flow == torch.float32 for dtypes, flow in seen)


def test_the_memory_model_counts_features_in_the_compute_dtype():
    net = DecayNet(scale=4)
    rules = SizeRules(scale=4, min_size=64)
    full = working_set_bytes(net, rules, 10, 180, 320, torch.float32)
    half = working_set_bytes(net, rules, 10, 180, 320, torch.bfloat16)
    features_saved = 5 * 64 * 2 * 10 * 180 * 320
    assert full - half == features_saved
    assert 5 * 64 * 4 * 10 * 180 * 320 < full < 2 * 5 * 64 * 4 * 10 * 180 * 320


def test_tiles_are_blended_in_host_memory_when_the_window_would_crowd_the_gpu(monkeypatch):
    """Tiles bound the network's memory, not the blend accumulator's: a window whose float32 accumulator
    would take over a quarter of the GPU's free memory is blended on the host (the CPU blends in place)."""
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 16 << 30)
    cuda = torch.device("cuda")
    assert tiling.blend_device(cuda, 2 << 30) == cuda
    assert tiling.blend_device(cuda, 16 << 30) == CPU
    assert tiling.blend_device(CPU, 1 << 40) == CPU


def test_the_automatic_tile_leaves_room_for_what_tiles_cannot_shrink(monkeypatch):
    """The window's codes and float input stay whole: the tile is sized from what is left of the budget."""
    net = DecayNet(scale=4)
    rules = SizeRules(scale=4, min_size=64)
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 8 << 30)
    tile = auto_tile(net, rules, 20, 1080, 1920, CPU, torch.float32)
    assert tile is not None
    pixels = 1080 * 1920
    fixed = tiling.WORKSPACE_FACTOR * 20 * pixels * (3 + 2 * 4 * 4)  # codes, float input and padded copy
    whole = tiling.WORKSPACE_FACTOR * working_set_bytes(net, rules, 20, 1080, 1920, torch.float32)
    per_px = (whole - fixed) / pixels
    assert fixed + per_px * tile * tile <= 0.5 * (8 << 30) < fixed + per_px * (tile + 8) ** 2


def test_out_of_memory_in_the_data_path_is_a_clear_error(monkeypatch):
    from vsrcli.errors import OutOfMemoryError
    from vsrcli.pipeline import engine

    def no_room(*args: object, **kwargs: object) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 6.00 GiB")

    monkeypatch.setattr(engine, "to_unit", no_room)
    r = restorer(DecayNet(scale=2))
    with pytest.raises(OutOfMemoryError, match="holding one window's frames"):
        r.restore(frames(2, 8, 8), Window(index=0, start=0, stop=2, core_start=0, core_stop=2))
