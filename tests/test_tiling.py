"""Padding to the size rules, tiles with feathered blending, and out-of-memory recovery."""

from __future__ import annotations

import pytest
import torch

from test_pipeline import DecayNet, OomNet, textured
from vsrcli.errors import OutOfMemoryError
from vsrcli.pipeline import tiling
from vsrcli.pipeline.engine import Engine
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.tiling import (
    SizeRules,
    auto_tile,
    feather,
    pad_spatial,
    pad_temporal,
    restore_window,
    run_tiled,
    tile_starts,
    tiled_area,
    working_set_bytes,
)

CPU = torch.device("cpu")


def clip(t: int = 4, h: int = 40, w: int = 56) -> torch.Tensor:
    return torch.stack([textured(h, w, seed=i) for i in range(t)]).unsqueeze(0)


def whole(net: DecayNet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)[0]


def test_size_rules_round_up_to_minimum_and_multiple():
    rules = SizeRules(scale=1, min_size=256, size_multiple=4)
    assert [rules.padded(s) for s in (1, 255, 256, 257, 301)] == [256, 256, 256, 260, 304]
    assert SizeRules(scale=4, min_size=64).padded(65) == 65


def test_spatial_padding_replicates_the_border():
    x = clip(2, 5, 6)
    y = pad_spatial(x, 9, 8)
    assert y.shape == (1, 2, 3, 9, 8)
    assert torch.equal(y[..., :5, :6], x)
    assert torch.equal(y[..., 8, 7], x[..., 4, 5])


def test_temporal_padding_mirrors_the_end():
    x = torch.arange(3.0).view(1, 3, 1, 1, 1)
    assert pad_temporal(x, 7).flatten().tolist() == [0, 1, 2, 1, 0, 1, 2]
    assert pad_temporal(x[:, :1], 3).flatten().tolist() == [0, 0, 0]


@pytest.mark.parametrize("length, tile, overlap", [(10, 20, 4), (100, 32, 8), (64, 32, 0), (37, 16, 5)])
def test_tiles_cover_everything_with_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and min(starts[-1] + tile, length) == length
    for a, b in zip(starts, starts[1:], strict=False):
        assert a + tile - b >= overlap


def test_feather_is_positive_and_one_at_image_borders():
    w = feather(100, 0, 40, 8, 2)
    assert w.shape == (80,) and bool((w > 0).all())
    assert w[0] == 1 and w[-1] < 0.1
    assert bool((feather(100, 60, 40, 8, 2)[-16:] == 1).all())


@pytest.mark.parametrize("tile, overlap", [(16, 4), (24, 8), (17, 3)])
def test_tiled_output_equals_whole_frame_output(tile, overlap):
    net = DecayNet(scale=2, decay=0.5)
    x = clip()
    y = run_tiled(
        net, x, rules=SizeRules.of(net), device=CPU, dtype=torch.float32, tile=tile, tile_overlap=overlap
    )
    torch.testing.assert_close(y, whole(net, x), atol=1e-5, rtol=0)
    assert len(net.seen) > 4


def test_feathering_hides_seams_of_a_context_dependent_network():
    net = DecayNet(scale=4, decay=0.0, mode="bilinear")
    x = clip(2, 48, 48)
    ref = whole(net, x)
    rules = SizeRules.of(net)
    blended = run_tiled(net, x, rules=rules, device=CPU, dtype=torch.float32, tile=20, tile_overlap=6)
    butted = run_tiled(net, x, rules=rules, device=CPU, dtype=torch.float32, tile=16, tile_overlap=0)
    assert (blended - ref).abs().max() < (butted - ref).abs().max()


def test_keep_returns_only_the_requested_frames():
    net = DecayNet(scale=1, decay=0.5)
    x = clip(6)
    y = run_tiled(net, x, rules=SizeRules.of(net), device=CPU, dtype=torch.float32, tile=16, keep=slice(2, 4))
    torch.testing.assert_close(y, whole(net, x)[2:4], atol=1e-5, rtol=0)


def test_out_of_memory_retries_the_same_frames_with_smaller_tiles():
    net = OomNet(max_pixels=80 * 80, scale=2, decay=0.5, min_size=8)
    x = clip(2, 128, 192)
    retries: list[int] = []
    y, used = restore_window(
        net, x, rules=SizeRules.of(net), device=CPU, dtype=torch.float32, tile=None, tile_overlap=4,
        on_retry=retries.append,
    )  # fmt: skip
    assert net.failures >= 1 and used is not None and used * used <= 80 * 80
    assert retries[-1] == used
    torch.testing.assert_close(y, whole(DecayNet(scale=2, decay=0.5), x), atol=1e-5, rtol=0)


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error():
    net = OomNet(max_pixels=10, scale=2, min_size=8)
    with pytest.raises(OutOfMemoryError, match="out of memory"):
        restore_window(net, clip(2, 64, 64), rules=SizeRules.of(net), device=CPU, dtype=torch.float32,
                       tile=None, tile_overlap=4)  # fmt: skip


def test_other_errors_are_not_mistaken_for_out_of_memory():
    class Broken(DecayNet):
        def forward(self, x):
            raise ValueError("shape mismatch")

    with pytest.raises(ValueError, match="shape mismatch"):
        restore_window(Broken(), clip(2), rules=SizeRules(), device=CPU, dtype=torch.float32, tile=None,
                       tile_overlap=4)  # fmt: skip


def test_auto_tile_follows_free_memory(monkeypatch):
    net = DecayNet(scale=4)
    rules = SizeRules(scale=4, min_size=64)
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 64 << 30)
    assert auto_tile(net, rules, 60, 180, 320, CPU, torch.float32) is None
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 1 << 30)
    small = auto_tile(net, rules, 60, 1080, 1920, CPU, torch.float32)
    assert small is not None and 64 <= small < 1080 and small % 8 == 0
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 1 << 20)
    assert auto_tile(net, rules, 60, 1080, 1920, CPU, torch.float32) == rules.smallest_tile()


class _HalfOut(torch.nn.Module):
    """A network whose output is bfloat16, as under autocast: the pipeline converts what it keeps."""

    scale, min_size, size_multiple, min_frames = 2, 1, 1, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = torch.nn.functional.interpolate(x[0], scale_factor=2, mode="nearest").unsqueeze(0)
        return up.to(torch.bfloat16)


def test_an_untiled_window_returns_the_kept_frames_unconverted_on_the_device():
    """Context frames are cropped away and nothing is converted to float32 or copied to the host here:
    ``transfer.to_codes`` turns the kept frames into integers on the device (test_transfer.py counts
    the bytes)."""
    net, x = _HalfOut(), clip(6, 8, 10)
    rules = SizeRules.of(net)
    y = run_tiled(net, x, rules=rules, device=CPU, dtype=torch.float32, tile=None, keep=slice(2, 4))
    assert y.shape == (2, 3, 16, 20) and y.dtype == torch.bfloat16 and y.device == CPU
    torch.testing.assert_close(y, net(x)[0, 2:4])


def _engine(net: torch.nn.Module, **options) -> Engine:
    opts = RestoreOptions(model=net, task="upscale", **options)
    return Engine(opts, net, "test", SizeRules.of(net), CPU, torch.float32)


def _budget_for(net: torch.nn.Module, frames: int, h: int, w: int) -> int:
    """Free memory such that a window of exactly ``frames`` frames fits untiled."""
    per_frame = tiling.WORKSPACE_FACTOR * working_set_bytes(net, SizeRules.of(net), 1, h, w, torch.float32)
    return int(2 * per_frame * frames) + 1


def test_the_automatic_tile_is_sized_for_the_clip_when_it_is_shorter_than_a_window(monkeypatch):
    net = DecayNet(scale=4)
    engine = _engine(net)  # chunk 40 + 2 x 10 context: 60-frame windows
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: _budget_for(net, 12, 360, 640))
    assert engine.tile_for(360, 640) is not None
    assert engine.tile_for(360, 640, frames=12) is None
    assert engine.tile_for(360, 640, frames=13) is not None


def test_on_the_cpu_a_window_too_big_for_memory_is_shortened_instead_of_tiled(monkeypatch):
    net = DecayNet(scale=4)
    engine = _engine(net)
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: _budget_for(net, 46, 360, 640))
    warnings: list[str] = []
    tile, chunk = engine.fit_window(360, 640, warnings, frames=1000)
    assert (tile, chunk) == (None, 26)  # 26 + 2 x 10 = 46 frames: the longest window that fits
    assert warnings == ["windows of 26 frames (not 40) to fit memory untiled"]
    assert engine.windows(chunk) == (26, 10, engine.options.fade)
    # the tiles it avoided would have computed far more than the 1.18x more frames
    tile = engine.tile_for(360, 640, frames=1000)
    assert tile is not None and tiled_area(360, 640, tile, 16) / (360 * 640) > (46 / 26) / (60 / 40)


def test_tiles_are_kept_where_a_window_short_enough_would_recompute_more(monkeypatch):
    net = DecayNet(scale=4)
    engine = _engine(net)
    # even a window of 10 frames (its minimum: as many as its context) needs 30: only tiles fit
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: _budget_for(net, 25, 360, 640))
    assert engine.fit_window(360, 640, frames=1000) == (engine.tile_for(360, 640, frames=1000), 40)
    assert engine.tile_for(360, 640, frames=1000) is not None
    # a window of 16 fits (36 frames with its context) but computes 2.25 frames per kept one, 1.5x the
    # default's 60 per 40; full-height tiles two across recompute only 15% of the frame
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: _budget_for(net, 36, 360, 640))
    tile, chunk = engine.fit_window(360, 640, frames=1000)
    assert tile is not None and chunk == 40
    assert tiled_area(360, 640, tile, 16) / (360 * 640) < (36 / 16) / (60 / 40)


def test_an_asked_tile_keeps_the_asked_window(monkeypatch):
    net = DecayNet(scale=4)
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: _budget_for(net, 20, 360, 640))
    assert _engine(net, tile=0).fit_window(360, 640, frames=1000) == (None, 40)
    assert _engine(net, tile=128).fit_window(360, 640, frames=1000) == (128, 40)
