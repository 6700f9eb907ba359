"""vsrcli batch without Ray: input discovery, segments = the single-machine windows, identical frames, resume,
failures that stay local, local worker processes (one killed mid-segment), the CLI and its no-Ray message.

``MixNet`` is a stand-in following the network contract whose every output frame depends on every frame of the
call (running means in both time directions), so a segment with the wrong context frames would show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import videos
from runs import batch, restore
from vsrcli.batch import discover_inputs
from vsrcli.batch.plan import Segment, plan_segments
from vsrcli.batch.worker import CRASH_ENV
from vsrcli.errors import Interrupted
from vsrcli.pipeline.chunking import plan_windows

SETTINGS = dict(chunk=4, overlap=2, codec="ffv1", tile=0)


class MixNet(nn.Module):
    """x2 nearest upscale of 0.5 * frame + 0.25 * forward running mean + 0.25 * backward running mean."""

    scale = 2
    min_size = 1
    size_multiple = 1
    min_frames = 1

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        rgb = x[:, :, :3].float()
        t = rgb.shape[1]
        count = torch.arange(1, t + 1, dtype=rgb.dtype).view(1, t, 1, 1, 1)
        fwd = rgb.cumsum(1) / count
        bwd = rgb.flip(1).cumsum(1).flip(1) / count.flip(1)
        y = self.gain * (0.5 * rgb + 0.25 * fwd + 0.25 * bwd)
        return y.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)


def read_all(path: Path) -> np.ndarray:
    from vsrcli.io.video import read_video

    return read_video(path)[0]


def panning(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8: smooth random waves panning one pixel per frame (steady motion, no cuts)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : height + frames, 0 : width + frames].astype(np.float32)
    canvas = np.zeros((*yy.shape, 3), np.float32)
    for c in range(3):
        for fy, fx, ph in rng.random((4, 3)) * [0.3, 0.3, 6.28]:
            canvas[..., c] += np.sin(fy * yy + fx * xx + ph)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    clip = np.stack([canvas[t : t + height, t : t + width] for t in range(frames)])
    return np.rint(clip * 255).astype(np.uint8)


def make_clips(folder: Path) -> dict[str, Path]:
    """Two short FFV1 clips (one with audio) and one H.264 clip long enough to be split, cut at frame 11."""
    folder.mkdir(parents=True, exist_ok=True)
    long = np.concatenate([panning(11, 24, 32, seed=2), panning(9, 24, 32, seed=7)])
    return {
        "a": videos.make_video(folder / "a.mkv", videos.moving_pattern(6, 24, 32, seed=1), audio="flac"),
        "b": videos.make_video(folder / "b.mkv", videos.moving_pattern(6, 24, 32, seed=3)),
        # H.264 with one keyframe: later segments seek back to it and decode forward (must stay exact)
        "long": videos.make_video(folder / "long.mkv", long, codec="libx264"),
    }


def single_machine(src: Path, out: Path, **settings: object) -> np.ndarray:
    restore(src, out, model=MixNet(), **{**SETTINGS, **settings})
    return read_all(out)


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    return make_clips(tmp_path / "in")


def test_inputs_are_files_folders_and_lists(tmp_path, clips):
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nin/b.mkv\n\nin/long.mkv\n")
    found = discover_inputs([clips["a"], listing, tmp_path / "in", tmp_path / "missing.mp4"])
    assert found == [clips["a"], clips["b"], clips["long"], tmp_path / "missing.mp4"]


def test_segments_are_the_single_machine_windows_grouped():
    cuts = [11]
    for target in (1, 4, 6, 100):
        segments = plan_segments(20, cuts, chunk=4, overlap=2, fade=1, target=target)
        windows = [w for s in segments for w in s.windows]
        assert windows == plan_windows(20, cuts, 4, 2, 1)
        assert [s.index for s in segments] == list(range(len(segments)))
        kept = [f for s in segments for f in range(s.core_start, s.core_stop)]
        assert kept == list(range(20))  # every frame exactly once, in order
        assert all(isinstance(s, Segment) and s.read_start <= s.core_start for s in segments)
    assert len(plan_segments(20, cuts, 4, 2, 0, target=100)) == 1


def test_batch_equals_single_machine_frame_for_frame(tmp_path, clips):
    report = batch(list(clips.values()), tmp_path / "out", model=MixNet(), segment=6, fade=1, **SETTINGS)
    assert [v.status for v in report.videos] == ["done", "done", "done"]
    assert report.videos[2].scene_cuts == [11]
    assert [v.segments for v in report.videos] == [1, 1, 3]  # cores [0, 8) [8, 15) [15, 20)
    for name, src in clips.items():
        out = tmp_path / "out" / f"{name}.upscaled.mkv"
        expected = single_machine(src, tmp_path / f"ref-{name}.mkv", fade=1)
        got = read_all(out)
        assert len(got) == len(read_all(src))
        np.testing.assert_array_equal(got, expected)
        assert videos.stream_times(out) == videos.stream_times(src)
    assert videos.packet_bytes(tmp_path / "out" / "a.upscaled.mkv") == videos.packet_bytes(clips["a"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.upscaled.mkv",
        "b.upscaled.mkv",
        "long.upscaled.mkv",
    ]  # segment files removed after success


def test_frame_folder_gives_a_png_folder_like_restore(tmp_path):
    from vsrcli.io.frames import read_folder, write_image

    folder = tmp_path / "shots"
    folder.mkdir()
    for i, frame in enumerate(panning(7, 16, 16, seed=5)):
        write_image(folder / f"f{i:03d}.png", frame)
    report = batch([folder], tmp_path / "out", model=MixNet(), segment=3, **SETTINGS)
    assert report.videos[0].status == "done" and report.videos[0].segments == 2
    restore(folder, tmp_path / "ref", model=MixNet(), **SETTINGS)
    assert sorted(p.name for p in (tmp_path / "out" / "shots.upscaled").iterdir())[0] == "f000.png"
    np.testing.assert_array_equal(
        read_folder(tmp_path / "out" / "shots.upscaled"), read_folder(tmp_path / "ref")
    )


def test_corrupt_input_fails_alone(tmp_path, clips):
    bad = videos.make_not_video(tmp_path / "in" / "bad.mp4")
    report = batch([clips["a"], bad, clips["b"]], tmp_path / "out", model=MixNet(), **SETTINGS)
    status = {v.input.name: v.status for v in report.videos}
    assert status == {"a.mkv": "done", "bad.mp4": "failed", "b.mkv": "done"}
    assert "bad.mp4" in report.failed[0].error
    np.testing.assert_array_equal(read_all(tmp_path / "out" / "b.upscaled.mkv"),
                                  single_machine(clips["b"], tmp_path / "ref.mkv"))  # fmt: skip


def test_existing_outputs_are_skipped_without_overwrite(tmp_path, clips):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.upscaled.mkv").write_bytes(b"keep me")
    report = batch([clips["a"]], tmp_path / "out", model=MixNet(), **SETTINGS)
    assert report.videos[0].status == "skipped"
    assert (tmp_path / "out" / "a.upscaled.mkv").read_bytes() == b"keep me"


def test_resume_after_an_interrupted_driver_skips_finished_segments(tmp_path, clips):
    out = tmp_path / "out"

    def stop_after_first_segment(p):
        if p.video.input.name == "long.mkv" and p.video.done_frames > 0:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        batch([clips["long"]], out, model=MixNet(), segment=8, progress=stop_after_first_segment, **SETTINGS)
    assert not (out / "long.upscaled.mkv").exists()
    net = MixNet()
    report = batch([clips["long"]], out, model=net, segment=8, resume=True, **SETTINGS)
    video = report.videos[0]
    assert video.status == "done" and video.resumed_segments == 1 and video.segments == 3
    first = plan_segments(20, [11], 4, 2, 0, 8)[0]
    assert net.calls == len(plan_windows(20, [11], 4, 2)) - len(first.windows)  # nothing redone
    np.testing.assert_array_equal(read_all(out / "long.upscaled.mkv"),
                                  single_machine(clips["long"], tmp_path / "ref.mkv"))  # fmt: skip


def test_local_worker_processes_survive_a_killed_worker(tmp_path, clips, monkeypatch):
    monkeypatch.setenv(CRASH_ENV, "long:1")
    report = batch([clips["b"], clips["long"]], tmp_path / "out", model=MixNet(), workers=2, segment=6,
                       **SETTINGS)  # fmt: skip
    assert report.executor == "LocalExecutor"
    assert len(list((tmp_path / "out" / ".vsrcli-batch").glob("long-*.seg-0001.crashed"))) == 1  # it died
    assert [v.status for v in report.videos] == ["done", "done"], report.videos
    np.testing.assert_array_equal(read_all(tmp_path / "out" / "long.upscaled.mkv"),
                                  single_machine(clips["long"], tmp_path / "ref.mkv"))  # fmt: skip


class _DeadPool:
    """A process pool whose worker died: it refuses new work, as concurrent.futures' broken pool does."""

    def submit(self, fn, *args):
        from concurrent.futures.process import BrokenProcessPool

        raise BrokenProcessPool("a child process terminated abruptly")

    def shutdown(self, wait=True, cancel_futures=False):
        pass


class _InlinePool(_DeadPool):
    """A pool that runs nothing and answers each segment with its own name."""

    def submit(self, fn, *args):
        from concurrent.futures import Future

        fut = Future()
        fut.set_result(f"ran {args[0]}")
        return fut


def test_a_segment_submitted_after_a_worker_died_runs_on_a_fresh_pool(monkeypatch):
    """The race CI hit: a worker dies, the driver submits the next segment before it waits again."""
    from vsrcli.batch.executors import LocalExecutor

    pools = iter([_DeadPool(), _InlinePool()])
    monkeypatch.setattr(LocalExecutor, "_new_pool", lambda self: next(pools))
    ex = LocalExecutor(workers=1, threads=1, max_retries=0)
    handle = ex.submit("segment-7")  # no BrokenProcessPool escapes submit
    # max_retries=0 and still run: a segment that never reached the dead pool spent no attempt there
    assert ex.wait() == [(handle, "ran segment-7")]
    assert ex.pending() == 0


def cli(*args: str) -> int:
    from vsrcli.cli import run

    return run(list(args))


@pytest.fixture
def standin(monkeypatch):
    """`--model standin` loads a MixNet (the CLI plumbing is under test here, not a network)."""
    from vsrcli.pipeline import engine

    real = engine.load_network

    def fake(model, weights, device, **how):
        if model == "standin":
            return MixNet(), model
        return real(model, weights, device, **how)

    monkeypatch.setattr(engine, "load_network", fake)


def test_cli_batch_matches_upscale_and_reports_failures(tmp_path, standin, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", panning(7, 16, 16, seed=4), audio="flac")
    bad = videos.make_not_video(tmp_path / "bad.mp4")
    opts = ["--model", "standin", "--codec", "ffv1", "--chunk", "3", "--overlap", "1", "--tile", "0", "-q"]
    code = cli("batch", str(src), str(bad), "-o", str(tmp_path / "out"), "--segment", "3", *opts)
    captured = capsys.readouterr()
    assert code == 1 and "1 of 2 videos failed" in captured.err
    assert "failed" in captured.out and "done" in captured.out  # the summary table
    assert cli("upscale", str(src), "-o", str(tmp_path / "ref.mkv"), *opts) == 0
    np.testing.assert_array_equal(
        read_all(tmp_path / "out" / "clip.upscaled.mkv"), read_all(tmp_path / "ref.mkv")
    )
    assert videos.packet_bytes(tmp_path / "out" / "clip.upscaled.mkv") == videos.packet_bytes(src)


def test_ray_option_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16))
    code = cli("batch", str(src), "-o", str(tmp_path / "out"), "--ray", "auto", "--model", "x.pth")
    assert code == 2
    assert "pip install 'vsrcli[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- batch runs the single-file engine: the shipped models, frame for frame (regressions of issue 18)


def noisy(frames: int, height: int, width: int, sigma: float, seed: int) -> np.ndarray:
    clean = panning(frames, height, width, seed).astype(np.float64)
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)


def test_batch_denoise_at_a_given_sigma_equals_vsrcli_denoise(tmp_path):
    """The noise level reaches the default (noise-conditioned) denoiser once on the 0-255 scale in both."""
    torch.set_num_threads(1)
    src = videos.make_video(tmp_path / "clip.mkv", noisy(5, 32, 40, 25.0, seed=5))
    opts = ["--sigma", "25", "--codec", "ffv1", "--tile", "0", "--chunk", "2", "--overlap", "1", "-q"]
    assert cli("denoise", str(src), "-o", str(tmp_path / "ref.mkv"), *opts) == 0
    out = ["-o", str(tmp_path / "out"), "--task", "denoise", "--segment", "2"]
    assert cli("batch", str(src), *out, *opts) == 0
    ref = read_all(tmp_path / "ref.mkv")
    np.testing.assert_array_equal(read_all(tmp_path / "out" / "clip.denoised.mkv"), ref)
    assert np.abs(ref.astype(int) - read_all(src).astype(int)).mean() > 3  # it did denoise


def test_batch_upscale_real_equals_vsrcli_upscale_real(tmp_path):
    torch.set_num_threads(1)
    src = videos.make_video(tmp_path / "clip.mkv", noisy(4, 24, 32, 8.0, seed=6))
    opts = ["--real", "--codec", "ffv1", "--tile", "0", "--chunk", "2", "--overlap", "1", "-q"]
    assert cli("upscale", str(src), "-o", str(tmp_path / "ref.mkv"), *opts) == 0
    assert cli("batch", str(src), "-o", str(tmp_path / "out"), "--segment", "2", *opts) == 0
    real = read_all(tmp_path / "ref.mkv")
    np.testing.assert_array_equal(read_all(tmp_path / "out" / "clip.upscaled.mkv"), real)
    assert cli("upscale", str(src), "-o", str(tmp_path / "bi.mkv"), *opts[1:]) == 0
    assert np.abs(read_all(tmp_path / "bi.mkv").astype(int) - real.astype(int)).max() > 10  # not the BI model


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "--task", "deblur", "--sigma", "5"],
        ["batch", "--task", "denoise", "--real"],
        ["batch", "--fade", "3", "--overlap", "2"],
        ["batch", "--precision", "fp8"],
        ["upscale", "--sigma", "5"],
        ["denoise", "--real"],
        ["deblur", "--fade", "3", "--overlap", "2"],
    ],
)
def test_an_option_that_does_not_apply_is_refused_with_exit_2(tmp_path, args, capsys):
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16))
    where = ["-o", str(tmp_path / "out")]
    assert cli(args[0], str(src), *where, *args[1:]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]


def test_progress_moves_inside_a_segment_run_in_this_process(tmp_path, clips):
    """One segment of 20 frames in chunks of 4: the count moves with every window, not once at the end."""
    events: list[tuple[int, str]] = []  # (done, status) when reported: the VideoResult itself changes later
    report = batch([clips["long"]], tmp_path / "out", model=MixNet(), segment=1000,
                   progress=lambda p: events.append((p.done, p.video.status)), **SETTINGS)  # fmt: skip
    assert report.videos[0].status == "done" and report.videos[0].segments == 1
    running = [done for done, status in events if status == "running"]
    assert len(set(running)) >= 5  # 6 windows: the count moves within the segment, before it finishes
    assert running == sorted(running) and max(done for done, _ in events) == 20
