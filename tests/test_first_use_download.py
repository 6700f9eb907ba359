"""An official model is downloaded the first time it is used, as torchvision's and Real-ESRGAN's weights are:
progress reported, sha256 checked, renamed into the cache when complete; ``--offline`` and
``VSRCLI_OFFLINE=1`` give the error of a missing file instead. Served from 127.0.0.1 only."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from test_pipeline import moving_clip, write_folder
from vsrcli.cli import run
from vsrcli.io.frames import read_folder
from vsrcli.models import zoo
from vsrcli.models.arch import build_network

NAME = "test-official-x4"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A tiny BasicVSR++ x4 checkpoint in a folder served over HTTP on 127.0.0.1; yields (file, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    torch.manual_seed(0)
    path = folder / "tiny.pth"
    torch.save(build_network("basicvsrpp", mid_channels=8, num_blocks=1).state_dict(), path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield path, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def register(url: str, sha256_prefix: str) -> zoo.ModelEntry:
    entry = dataclasses.replace(
        zoo.get_entry("basicvsrpp-reds4"),
        name=NAME,
        arch_args={"mid_channels": 8, "num_blocks": 1},
        url=url,
        mirrors=(),
        filename=f"tiny-{sha256_prefix}.pth",
        sha256_prefix=sha256_prefix,
    )
    return zoo.register(entry, replace=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSRCLI_OFFLINE")  # conftest keeps every other test offline
    yield tmp_path / "home"
    zoo.unregister(NAME)


def cached(home: Path) -> list[str]:
    folder = home / "weights"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_first_use_downloads_verifies_and_caches_then_reuses(tmp_path, served, home, capsys):
    path, url = served
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    register(f"{url}/tiny.pth", prefix)
    clip = write_folder(tmp_path / "in", moving_clip(2, 16, 16))
    args = ["upscale", str(clip), "--model", NAME, "--tile", "0"]
    assert run([*args, "-o", str(tmp_path / "off"), "--offline"]) == 5
    assert "downloads are off" in capsys.readouterr().err and cached(home) == []
    assert run([*args, "-o", str(tmp_path / "out")]) == 0
    assert "downloading model weights" in capsys.readouterr().err
    assert cached(home) == [f"tiny-{prefix}.pth"]  # renamed into place, no temporary left
    assert read_folder(tmp_path / "out").shape == (2, 64, 64, 3)
    assert run([*args, "-o", str(tmp_path / "again"), "--offline"]) == 0  # now on this machine
    assert "downloading" not in capsys.readouterr().err


def test_a_download_with_the_wrong_checksum_is_discarded(tmp_path, served, home, capsys):
    _, url = served
    register(f"{url}/tiny.pth", "00000000")
    clip = write_folder(tmp_path / "in", moving_clip(2, 16, 16))
    code = run(["upscale", str(clip), "-o", str(tmp_path / "out"), "--model", NAME])
    err = capsys.readouterr().err
    assert code != 0 and "checksum mismatch" in err
    assert cached(home) == [] and not (tmp_path / "out").exists()


def test_vsrcli_offline_env_refuses_the_download(tmp_path, served, home, monkeypatch, capsys):
    path, url = served
    register(f"{url}/tiny.pth", hashlib.sha256(path.read_bytes()).hexdigest()[:8])
    monkeypatch.setenv("VSRCLI_OFFLINE", "1")
    clip = write_folder(tmp_path / "in", moving_clip(2, 16, 16))
    assert run(["upscale", str(clip), "-o", str(tmp_path / "out"), "--model", NAME]) == 5
    assert f"vsrcli models download {NAME}" in capsys.readouterr().err
    assert cached(home) == []
    monkeypatch.delenv("VSRCLI_OFFLINE")
    assert run(["models", "download", NAME]) == 0  # the explicit command still works
    assert len(cached(home)) == 1
