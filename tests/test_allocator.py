"""vsrcli's own processes keep frame-sized blocks on glibc's heap instead of mapping them anew."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vsrcli import allocator

glibc = pytest.mark.skipif(allocator.glibc_mallopt() is None, reason="glibc's malloc only")

# Where does a fresh 16 MiB malloc land: on the heap (brk), or in a mapping of its own?
PROBE = """
import ctypes, json, sys
from vsrcli.allocator import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tune" else []
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
address = libc.malloc(16 << 20)
heap = []
for line in open("/proc/self/maps"):
    if line.rstrip().endswith("[heap]"):
        heap = [int(x, 16) for x in line.split()[0].split("-")]
print(json.dumps({"applied": applied, "on_heap": bool(heap) and heap[0] <= address < heap[1]}))
"""


def _probe(mode: str, **env: str) -> dict[str, object]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MALLOC_", "VSRCLI_MALLOC", "GLIBC_TUNABLES"))
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env={**clean, **env}, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@glibc
def test_glibc_maps_a_frame_sized_block_of_its_own_by_default():
    assert _probe("plain") == {"applied": [], "on_heap": False}


@glibc
def test_tuned_a_frame_sized_block_comes_from_the_heap():
    result = _probe("tune")
    assert result["applied"] == ["malloc_mmap_threshold", "malloc_trim_threshold", "malloc_top_pad"]
    assert result["on_heap"] is True


@glibc
def test_vsrcli_malloc_system_keeps_glibc_defaults():
    assert _probe("tune", VSRCLI_MALLOC="system") == {"applied": [], "on_heap": False}


@glibc
def test_the_users_own_malloc_variables_win():
    result = _probe("tune", MALLOC_MMAP_THRESHOLD_="131072")
    assert result == {"applied": ["malloc_trim_threshold", "malloc_top_pad"], "on_heap": False}


@glibc
def test_the_users_glibc_tunables_win():
    result = _probe("tune", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")
    assert result == {"applied": ["malloc_trim_threshold", "malloc_top_pad"], "on_heap": False}


def test_the_process_entry_tunes_malloc_before_the_command_runs(monkeypatch):
    from vsrcli import cli

    order: list[str] = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: order.append("tune") or [])
    monkeypatch.setattr(cli, "run", lambda: order.append("run") or 0)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert order == ["tune", "run"]


def test_running_a_command_through_the_library_leaves_malloc_alone(monkeypatch, tmp_path):
    """``cli.run`` (what tests and embedding programs call) must not touch the host process's allocator."""
    from vsrcli import cli
    from vsrcli.io.frames import write_image

    def forbidden() -> list[str]:
        raise AssertionError("the library tuned malloc")

    monkeypatch.setattr(allocator, "tune_allocator", forbidden)
    (tmp_path / "in").mkdir()
    for i in range(2):
        write_image(tmp_path / "in" / f"{i}.png", np.full((16, 16, 3), 60 * i, dtype=np.uint8))
    out = tmp_path / "out"
    assert cli.run(["upscale", str(tmp_path / "in"), "--model", "bicubic", "-o", str(out), "--quiet"]) == 0
    assert len(list(out.glob("*.png"))) == 2


def test_a_batch_worker_process_tunes_malloc(monkeypatch):
    """Batch's spawned workers are vsrcli's own processes, like the CLI's."""
    import torch

    from vsrcli.batch import executors

    calls: list[str] = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append("tune") or [])
    threads = torch.get_num_threads()
    try:
        executors._init_worker(1)
    finally:
        torch.set_num_threads(threads)
    assert calls == ["tune"]
