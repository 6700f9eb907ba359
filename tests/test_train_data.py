"""Training data: held-out clips never train, synthetic motion is smooth, samples are seeded and resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videos import make_video
from vsrcli.errors import InputError
from vsrcli.io.frames import write_image
from vsrcli.train import data as tdata
from vsrcli.train import degradations, ops
from vsrcli.train.config import DataConfig, DegradationConfig


def _frames(folder: Path, n: int, h: int, w: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h + n, w + n, 3), dtype=np.uint8)
    for i in range(n):
        write_image(folder / f"{i:05d}.png", np.ascontiguousarray(base[i : i + h, i : i + w]))
    return folder


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A data root that looks like the shared one: real clips (some held out) and stills of various sizes."""
    _frames(tmp_path / "DAVIS/JPEGImages/dog", 6, 48, 64, 1)
    _frames(tmp_path / "DAVIS/JPEGImages/blackswan", 6, 48, 64, 2)
    _frames(tmp_path / "Vimeo/sequences/00002/0001", 4, 40, 40, 3)
    _frames(tmp_path / "Vimeo/sequences/00002/0004", 4, 40, 40, 4)
    _frames(tmp_path / "Vid4_calendar/GT", 4, 40, 40, 5)
    stills = tmp_path / "stills"
    stills.mkdir()
    rng = np.random.default_rng(6)
    for i, (h, w) in enumerate([(50, 40), (36, 60)]):
        write_image(stills / f"s{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return tmp_path


@pytest.mark.parametrize(
    "path, held",
    [
        ("x/Vid4_calendar/GT", True),
        ("x/vid4/calendar", True),
        ("x/sequences/00002/0004", True),
        ("x/sequences/00002/0007/im1.png", True),
        ("x/sequences/00002/0008", True),
        ("x/sequences/00001/0004", False),
        ("x/JPEGImages/blackswan", True),
        ("x/JPEGImages/car-roundabout", True),
        ("x/JPEGImages/parkour/00001.jpg", True),
        ("x/JPEGImages/dog", False),
        ("x/T91/t1.bmp", False),
    ],
)
def test_held_out_clips_are_recognised(path, held):
    assert tdata.is_held_out(path) is held


def test_extra_held_out_names_and_path_tails():
    assert tdata.is_held_out("a/JPEGImages/dog", ["dog"])
    assert tdata.is_held_out("a/seq/00001/0003", ["00001/0003"])
    assert not tdata.is_held_out("a/seq/00001/0002", ["00001/0003"])


def test_discover_skips_held_out_and_tells_videos_from_stills(tiny_root):
    clips, skipped = tdata.discover(
        ["video:DAVIS/JPEGImages", "Vimeo/sequences", "images:stills", "."], tiny_root
    )
    names = {Path(c.name).name for c in clips}
    assert {"dog", "0001", "s0.png", "s1.png"} <= names
    assert not names & {"blackswan", "0004", "GT"}
    assert {p.name for p in skipped} >= {"blackswan", "0004", "GT"}
    videos = [c for c in clips if not c.still]
    assert all(len(c.frames) >= 4 for c in videos)
    assert all(c.still and len(c.frames) == 1 for c in clips if c.name.endswith(".png"))


def test_pointing_at_a_held_out_clip_yields_nothing(tiny_root):
    clips, skipped = tdata.discover(["video:DAVIS/JPEGImages/blackswan"], tiny_root)
    assert clips == [] and skipped


def test_missing_data_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        tdata.discover(["nope"], tmp_path)


def test_shared_data_never_trains_on_held_out_clips(shared_data):
    from vsrcli.train.presets import TRAIN_PATHS, VAL_CLIPS

    clips, skipped = tdata.discover(TRAIN_PATHS + ["Vid4_calendar"], shared_data)
    trained = {str(Path(c.name).relative_to(shared_data)) for c in clips}
    for name in tdata.DAVIS_VAL:
        assert f"DAVIS2016_val_480p/JPEGImages/{name}" not in trained
    for tail in tdata.VIMEO_TEST:
        assert f"Vimeo90K_septuplet_sample/sequences/{tail}" not in trained
    assert not any("vid4" in t.lower() for t in trained)
    assert not any(c in trained for c in VAL_CLIPS)
    assert sum(not c.still for c in clips) == 7 + 13  # DAVIS 10 - 3, Vimeo 16 - 3
    assert len(skipped) == 3 + 3 + 3  # and Vid4 GT, BIx4, BDx4_DUF


def test_validation_may_not_use_vid4(tiny_root):
    with pytest.raises(InputError, match="Vid4"):
        tdata.load_val_clips(["Vid4_calendar/GT"], tiny_root, 3, 8, 4)


def test_validation_clips_are_centre_cropped_to_multiples(tiny_root):
    [(name, gt)] = tdata.load_val_clips(["DAVIS/JPEGImages/blackswan"], tiny_root, 3, 8, 4, multiple=1)
    assert name == "blackswan" and gt.shape == (3, 3, 32, 32)
    [(_, gt)] = tdata.load_val_clips(["DAVIS/JPEGImages/blackswan"], tiny_root, 5, 100, 1, multiple=4)
    assert gt.shape == (5, 3, 48, 64)


def _cfg(**kw) -> DataConfig:
    base = dict(patch=8, batch=2, clip_len=4, seq_flip=True, still_prob=0.5, cache_mb=16)
    base.update(kw)
    return DataConfig(**base)


def test_samples_have_the_configured_shape_and_mirror_half_the_frames(tiny_root):
    clips, _ = tdata.discover(["video:DAVIS/JPEGImages", "images:stills"], tiny_root)
    sampler = tdata.ClipSampler(clips, _cfg(), scale=4, seed=0)
    for _ in range(6):
        batch = sampler.sample()
        assert batch.shape == (2, 4, 3, 32, 32) and batch.dtype == torch.float32
        assert 0.0 <= batch.min() and batch.max() <= 1.0
        torch.testing.assert_close(batch[:, 2:], batch[:, :2].flip(1), rtol=0, atol=0)


def test_without_seq_flip_all_frames_are_loaded(tiny_root):
    clips, _ = tdata.discover(["video:DAVIS/JPEGImages"], tiny_root)
    sampler = tdata.ClipSampler(clips, _cfg(seq_flip=False, clip_len=5, still_prob=0.0), scale=4, seed=0)
    clip = sampler.sample_one()
    assert clip.shape[0] == 5
    assert not torch.equal(clip[0], clip[-1])


def test_real_clips_are_crops_of_the_source_frames(tiny_root):
    clips, _ = tdata.discover(["video:DAVIS/JPEGImages/dog"], tiny_root)
    cfg = _cfg(seq_flip=False, clip_len=3, still_prob=0.0, patch=16)
    sampler = tdata.ClipSampler(clips, cfg, scale=1, seed=3)
    frames = torch.stack([sampler.cache.get(f) for f in clips[0].frames]).float() / 255
    clip = sampler.sample_one()
    # undo the flips by searching all 8 orientations and both directions in the source
    found = False
    for sample in (clip, clip.flip(0)):
        for t in (False, True):
            s = sample.transpose(-1, -2) if t else sample
            for fh in (False, True):
                for fv in (False, True):
                    x = s.flip(-1) if fh else s
                    x = x.flip(-2) if fv else x
                    for start in range(frames.shape[0] - 2):
                        for top in range(48 - 16 + 1):
                            for left in range(64 - 16 + 1):
                                if torch.equal(x[0], frames[start, :, top : top + 16, left : left + 16]):
                                    found = found or torch.equal(
                                        x, frames[start : start + 3, :, top : top + 16, left : left + 16]
                                    )
                    if found:
                        return
    pytest.fail("the sample is not a crop of consecutive source frames")


def test_sampler_state_resumes_the_same_sequence(tiny_root):
    clips, _ = tdata.discover(["video:DAVIS/JPEGImages", "images:stills"], tiny_root)
    a = tdata.ClipSampler(clips, _cfg(), scale=4, seed=7)
    a.sample()
    state = a.state_dict()
    expected = [a.sample() for _ in range(3)]
    b = tdata.ClipSampler(clips, _cfg(), scale=4, seed=999)
    b.load_state_dict(state)
    for want in expected:
        torch.testing.assert_close(b.sample(), want, rtol=0, atol=0)


def test_too_small_sources_are_an_input_error(tiny_root):
    clips, _ = tdata.discover(["images:stills"], tiny_root)
    with pytest.raises(InputError, match="at least"):
        tdata.ClipSampler(clips, _cfg(patch=32), scale=4, seed=0)


def test_synthetic_pan_moves_the_picture_smoothly():
    """A pure pan of a smooth image: each frame matches the previous one shifted by the same velocity."""
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    image = ((torch.sin(xx / 5) * torch.cos(yy / 7) + 1) * 127.5).round().to(torch.uint8).expand(3, -1, -1)
    cfg = DataConfig(max_shift=1.0, max_zoom=0.0, max_rotate=0.0)
    rng = np.random.default_rng(11)
    while True:  # draw a moving clip (one in ten is static)
        state = rng.bit_generator.state
        clip = tdata.synthetic_clip(image, 5, 32, rng, cfg, scale=2)
        if not torch.equal(clip[0], clip[1]):
            break
    rng.bit_generator.state = state
    grids = tdata._affine_grids(5, 32, 96, 96, rng, cfg, 2)
    steps = grids[1:] - grids[:-1]
    # translation only: every pixel moves by the same amount within a frame, and the motion changes smoothly
    assert torch.allclose(steps, steps[:, :1, :1], atol=1e-5)
    per_frame = steps[:, 0, 0] * 96 / 2  # back to pixels
    assert (
        per_frame.abs().max() <= 2 * 1.0 * 1.2 + 1e-4
    )  # max_shift LR px * scale, plus the small acceleration
    assert (per_frame[1:] - per_frame[:-1]).abs().max() < 0.5
    assert clip.shape == (5, 3, 32, 32) and 0 <= clip.min() and clip.max() <= 1


def test_synthetic_rotation_and_zoom_change_the_geometry():
    cfg = DataConfig(max_shift=0.0, max_zoom=0.05, max_rotate=3.0)
    rng = np.random.default_rng(5)
    grids = tdata._affine_grids(4, 16, 64, 64, rng, cfg, 1)
    spread = (grids[:, -1, -1] - grids[:, 0, 0]).norm(dim=-1)
    direction = torch.atan2(*(grids[:, -1, -1] - grids[:, 0, 0]).unbind(-1))
    assert (spread.max() - spread.min()) > 1e-4 or (direction.max() - direction.min()) > 1e-4


def test_random_walk_stays_in_bounds_and_moves_in_small_steps():
    rng = np.random.default_rng(0)
    v = degradations.random_walk(rng, 200, 1.0, 3.0, 0.05)
    assert v.min() >= 1.0 and v.max() <= 3.0
    assert np.abs(np.diff(v)).max() <= 0.05 * 2.0 + 1e-12
    assert v.std() > 0


def _bicubic(x: torch.Tensor, scale: float) -> torch.Tensor:
    shape = x.shape
    y = torch.nn.functional.interpolate(
        x.reshape(-1, *shape[-3:]), scale_factor=scale, mode="bicubic", antialias=True, align_corners=False
    )
    return y.reshape(*shape[:-2], *y.shape[-2:])


def test_bi_degradation_downsamples_and_quantises(monkeypatch):
    monkeypatch.setattr(ops, "imresize", _bicubic)
    gt = torch.rand(2, 3, 3, 32, 32)
    lq = degradations.degrade(gt, DegradationConfig(kind="bi", scale=4), np.random.default_rng(0)).lq
    assert lq.shape == (2, 3, 3, 8, 8)
    torch.testing.assert_close(lq * 255, (lq * 255).round(), rtol=0, atol=1e-4)


def test_noise_degradation_adds_unclipped_noise_and_a_level_map():
    gt = torch.full((3, 4, 3, 16, 16), 0.5)
    cfg = DegradationConfig(kind="noise", scale=1, sigma=[10.0, 50.0], noise_map=True)
    lq = degradations.degrade(gt, cfg, np.random.default_rng(0)).lq
    assert lq.shape == (3, 4, 4, 16, 16)
    level = lq[:, :, 3]
    for i in range(3):
        sigma = float(level[i].flatten()[0])
        assert torch.all(level[i] == sigma) and 10 / 255 <= sigma <= 50 / 255
        measured = float((lq[i, :, :3] - 0.5).std())
        assert abs(measured - sigma) < 0.15 * sigma


def test_noise_can_arrive_as_real_inputs_do_clipped_and_rounded_to_8_bits():
    gt = torch.linspace(0, 1, 16).view(1, 1, 1, 1, 16).expand(2, 3, 3, 16, 16).contiguous()
    cfg = DegradationConfig(kind="noise", scale=1, sigma=[40.0, 50.0], noise_map=True, noise_8bit=True)
    lq = degradations.degrade(gt, cfg, np.random.default_rng(0)).lq
    rgb, level = lq[:, :, :3], lq[:, :, 3]
    assert rgb.min() == 0 and rgb.max() == 1  # clipped at both ends (sigma >= 40 near black and white)
    torch.testing.assert_close(rgb * 255, (rgb * 255).round(), rtol=0, atol=1e-4)
    assert torch.all(level >= 40 / 255) and torch.all(level <= 50 / 255)  # the map still says the level


def test_noise_level_map_helper_matches_training_layout():
    lq = torch.zeros(1, 2, 3, 4, 4)
    from vsrcli.degrade import noise_level_map

    x = noise_level_map(lq, 25.0)
    assert x.shape == (1, 2, 4, 4, 4) and torch.allclose(x[:, :, 3], torch.tensor(25 / 255))


def test_compress_degradation_goes_through_the_codec(monkeypatch):
    calls = []

    def fake_compress(frames, codec, crf):
        calls.append((frames.shape, frames.dtype, codec, crf))
        return frames

    monkeypatch.setattr(ops, "compress", fake_compress)
    gt = torch.rand(2, 3, 3, 16, 16)
    lq = degradations.degrade(gt, DegradationConfig(kind="compress", scale=1), np.random.default_rng(0)).lq
    assert lq.shape == gt.shape
    assert [c[0] for c in calls] == [(3, 16, 16, 3)] * 2 and all(c[1] == np.uint8 for c in calls)
    assert all(28 <= c[3] <= 40 and c[2] == "libx264" for c in calls)


def test_realworld_degradation_gives_lq_and_clean_target(monkeypatch):
    monkeypatch.setattr(ops, "imresize", _bicubic)
    monkeypatch.setattr(ops, "compress", lambda f, codec, crf: f)
    gt = torch.rand(2, 4, 3, 32, 32)
    cfg = DegradationConfig(kind="realworld", scale=4, sigma=[1.0, 20.0], crf=[25, 35])
    deg = degradations.degrade(gt, cfg, np.random.default_rng(0))
    assert deg.lq.shape == (2, 4, 3, 8, 8) and deg.lq_clean is not None and deg.lq_clean.shape == deg.lq.shape
    assert not torch.equal(deg.lq, deg.lq_clean)


def test_synthetic_flow_pairs_carry_their_exact_flow():
    """Warping ``supp`` by the ground-truth flow gives ``ref`` wherever both views are inside the image."""
    from vsrcli.train.flow import flow_pair

    yy, xx = torch.meshgrid(torch.arange(120.0), torch.arange(160.0), indexing="ij")
    image = ((torch.sin(xx / 6) * torch.cos(yy / 9) + 1) * 127.5).round().to(torch.uint8).expand(3, -1, -1)
    rng = np.random.default_rng(2)
    for _ in range(4):
        ref, supp, flow, valid = flow_pair(image, 48, rng, max_flow=5.0)
        assert ref.shape == supp.shape == (3, 48, 48) and flow.shape == (2, 48, 48)
        assert valid.mean() > 0.5 and flow.abs().max() > 0.1
        ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
        gx = (2 * (xs + flow[0]) + 1) / 48 - 1
        gy = (2 * (ys + flow[1]) + 1) / 48 - 1
        warped = torch.nn.functional.grid_sample(
            supp[None], torch.stack([gx, gy], -1)[None], mode="bilinear", align_corners=False
        )[0]
        inner = valid[0].bool() & (gx.abs() < 0.95) & (gy.abs() < 0.95)
        err = (warped - ref).abs().amax(0)[inner]
        assert err.mean() < 0.01, err.mean()


def test_a_video_file_is_a_training_clip_decoded_once(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    source = np.stack([np.roll(base, i, axis=1) for i in range(5)])  # a pan, one pixel a frame
    make_video(tmp_path / "pan.mkv", source)  # ffv1 RGB: lossless
    clips, _ = tdata.discover(["video:pan.mkv"], tmp_path)
    assert len(clips) == 1 and clips[0].video and len(clips[0].frames) == 5
    assert (clips[0].height, clips[0].width) == (40, 50)
    sampler = tdata.ClipSampler(clips, _cfg(seq_flip=False, clip_len=3, patch=40), scale=1, seed=0)
    clip = sampler.sample_one()
    frames = torch.from_numpy(source).permute(0, 3, 1, 2).float() / 255
    found = any(
        torch.equal(o, frames[s : s + 3, :, :, left : left + 40])
        for o in (clip, clip.flip(0), clip.flip(-1), clip.flip(0).flip(-1), clip.transpose(-1, -2))
        for o in (o, o.flip(-2), o.transpose(-1, -2))
        for s in range(3)
        for left in range(11)
    )
    assert found, "the sample is not a crop of consecutive decoded frames"
    assert list(sampler.cache._videos) == [tmp_path / "pan.mkv"]  # decoded once, kept


def test_a_held_out_video_file_never_trains(tmp_path):
    make_video(tmp_path / "parkour.mkv", np.zeros((2, 16, 16, 3), np.uint8))
    clips, skipped = tdata.discover(["video:parkour.mkv"], tmp_path)
    assert clips == [] and skipped == [tmp_path / "parkour.mkv"]


def _gradient_step(clip: torch.Tensor) -> float:
    """Mean absolute step between neighbouring pixels of a (T, 3, P, P) clip of a diagonal ramp."""
    inner = clip[..., 8:-8, 8:-8]  # away from the resampling border
    return float(inner.diff(dim=-1).abs().mean() + inner.diff(dim=-2).abs().mean())


def test_gt_downscale_shrinks_the_source_before_the_patch_is_cut(tmp_path):
    ramp = (np.add.outer(np.arange(96), np.arange(96)) % 192).astype(np.uint8)  # one level a pixel per axis
    folder = tmp_path / "clips/ramp"
    folder.mkdir(parents=True)
    for i in range(3):
        write_image(folder / f"{i:05d}.png", np.repeat(ramp[..., None], 3, axis=2))
    clips, _ = tdata.discover(["video:clips"], tmp_path)
    steps = {}
    for shrink in (1.0, 0.5):
        cfg = _cfg(seq_flip=False, clip_len=2, still_prob=0.0, patch=40, gt_downscale=[shrink, shrink])
        sampler = tdata.ClipSampler(clips, cfg, scale=1, seed=0)
        steps[shrink] = np.median([_gradient_step(sampler.sample_one()) for _ in range(8)])
    assert steps[1.0] == pytest.approx(2 / 255, rel=0.05)
    assert steps[0.5] == pytest.approx(4 / 255, rel=0.05)  # twice the detail per pixel


def test_gt_downscale_never_asks_for_more_source_than_a_clip_has(tiny_root):
    clips, _ = tdata.discover(["video:DAVIS/JPEGImages", "images:stills"], tiny_root)
    sampler = tdata.ClipSampler(clips, _cfg(gt_downscale=[0.1, 0.2]), scale=4, seed=0)
    for _ in range(6):  # 32-px patches from 36..64-px sources: the shrink is capped at what fits
        assert sampler.sample().shape == (2, 4, 3, 32, 32)
