"""vsrcli batch on a local Ray instance (2 CPUs): the same frames as single-machine runs, audio and frame
counts kept, a worker killed mid-segment retried, a corrupt input failing alone, and a checkpoint model that
workers load from its path. Skipped when Ray is not installed (``pip install 'vsrcli[ray]'``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'vsrcli[ray]')")

from runs import batch  # noqa: E402
from test_batch import SETTINGS, MixNet, make_clips, read_all, single_machine, videos  # noqa: E402
from vsrcli.batch.worker import CRASH_ENV  # noqa: E402

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """One local Ray instance for the module; workers import vsrcli and these tests from the same paths."""
    path = os.pathsep.join([str(HERE.parent / "src"), str(HERE), os.environ.get("PYTHONPATH", "")])
    # ray.init installs its own SIGTERM/SIGINT handlers in this process; later tests expect the defaults.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_ray_batch_equals_single_machine_with_audio_and_frame_counts(tmp_path):
    clips = make_clips(tmp_path / "in")
    report = batch(list(clips.values()), tmp_path / "out", model=MixNet(), ray="auto", segment=6,
                       **SETTINGS)  # fmt: skip
    assert report.executor == "RayExecutor" and report.workers == 2
    assert [v.status for v in report.videos] == ["done", "done", "done"], report.videos
    assert [v.segments for v in report.videos] == [1, 1, 3]
    for name, src in clips.items():
        out = tmp_path / "out" / f"{name}.upscaled.mkv"
        got = read_all(out)
        assert len(got) == len(read_all(src)) == report.videos[list(clips).index(name)].frames
        np.testing.assert_array_equal(got, single_machine(src, tmp_path / f"ref-{name}.mkv"))
    assert videos.packet_bytes(tmp_path / "out" / "a.upscaled.mkv") == videos.packet_bytes(clips["a"])


def test_killed_worker_is_retried_and_a_corrupt_input_fails_alone(tmp_path, monkeypatch):
    clips = make_clips(tmp_path / "in")
    bad = videos.corrupt(clips["b"], tmp_path / "in" / "bad.mkv", start=0.3, length=4096)
    monkeypatch.setenv(CRASH_ENV, "long:1")  # the first attempt of segment 1 of long.mkv exits
    report = batch([clips["long"], bad], tmp_path / "out", model=MixNet(), ray="auto", segment=6,
                       **SETTINGS)  # fmt: skip
    status = {v.input.name: v.status for v in report.videos}
    assert status == {"long.mkv": "done", "bad.mkv": "failed"}, report.videos
    assert len(list((tmp_path / "out" / ".vsrcli-batch").glob("long-*.seg-0001.crashed"))) == 1  # it died
    np.testing.assert_array_equal(read_all(tmp_path / "out" / "long.upscaled.mkv"),
                                  single_machine(clips["long"], tmp_path / "ref.mkv"))  # fmt: skip


def test_workers_load_a_checkpoint_from_its_path(tmp_path):
    from vsrcli.models import arch

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_x4.pth"
    torch.save(arch.build_network("basicvsrpp", mid_channels=8, num_blocks=1).state_dict(), ckpt)
    src = videos.make_video(tmp_path / "clip.mkv", videos.moving_pattern(2, 16, 16, seed=4))
    settings = dict(model=str(ckpt), chunk=2, overlap=0, codec="ffv1", tile=0, precision="fp32")
    report = batch([src], tmp_path / "out", ray="auto", **settings)
    assert report.videos[0].status == "done", report.videos
    from runs import restore

    # Ray runs each segment with one torch thread here (2 CPUs, 2 workers); float sums depend on the thread
    # count, so the single-machine reference uses one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        restore(src, tmp_path / "ref.mkv", **settings)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(
        read_all(tmp_path / "out" / "clip.upscaled.mkv"), read_all(tmp_path / "ref.mkv")
    )
