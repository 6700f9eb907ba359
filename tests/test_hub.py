"""Verified downloads against a local HTTP server: good file, corrupt file, server error, cut transfers."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_checkpoints import PAYLOAD, local_http_server
from vsrcli.errors import DownloadError, WeightsNotFoundError
from vsrcli.models import hub, zoo

PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with local_http_server() as url:
        yield url


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def entry_at(url: str) -> zoo.ModelEntry:
    base = zoo.get_entry("basicvsrpp-reds4")
    return dataclasses.replace(
        base, name="test-model", url=url, filename=f"test_model-{PREFIX}.pth", sha256_prefix=PREFIX
    )


def leftovers(home: Path) -> list[str]:
    folder = home / "weights"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "explicit"))
    assert hub.home_dir() == tmp_path / "explicit"
    monkeypatch.delenv("VSRCLI_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.home_dir() == tmp_path / "xdg" / "vsrcli"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert hub.home_dir() == tmp_path / "user" / ".cache" / "vsrcli"
    entry = zoo.get_entry("basicvsr-reds4")
    assert hub.weights_path(entry) == tmp_path / "user" / ".cache" / "vsrcli" / "weights" / entry.filename


def test_good_download_is_verified_and_renamed_into_place(server, home):
    entry = entry_at(f"{server}/good.pth")
    seen: list[tuple[int, int | None]] = []
    assert not hub.is_present(entry)
    path = hub.download(entry, progress=lambda done, total: seen.append((done, total)))
    assert path == home / "weights" / entry.filename
    assert path.read_bytes() == PAYLOAD
    assert hub.is_present(entry) and hub.verify(entry)
    assert leftovers(home) == [entry.filename]  # no temporary file left
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(seen) >= 3  # progress is reported while streaming, not only at the end


def test_existing_file_is_not_downloaded_again(server, home):
    entry = entry_at(f"{server}/good.pth")
    hub.download(entry)
    broken = dataclasses.replace(entry, url=f"{server}/error.pth")
    assert hub.download(broken) == hub.weights_path(entry)  # present: no request made
    with pytest.raises(DownloadError, match="HTTP 500"):
        hub.download(broken, force=True)
    assert leftovers(home) == [entry.filename]  # the good file survives a failed forced refresh


def test_corrupt_download_is_discarded_with_both_prefixes(server, home):
    entry = entry_at(f"{server}/corrupt.pth")
    got = hashlib.sha256(PAYLOAD[:-4] + b"TAIL").hexdigest()[:8]
    with pytest.raises(DownloadError, match=f"expected sha256 {PREFIX}…, got {got}…"):
        hub.download(entry)
    assert leftovers(home) == []


def test_server_error_leaves_nothing(server, home):
    with pytest.raises(DownloadError, match=r"HTTP 500 .*error\.pth"):
        hub.download(entry_at(f"{server}/error.pth"))
    with pytest.raises(DownloadError, match="HTTP 404"):
        hub.download(entry_at(f"{server}/missing.pth"))
    assert leftovers(home) == []


def test_transfer_cut_short_leaves_nothing(server, home):
    with pytest.raises(DownloadError, match="interrupted"):
        hub.download(entry_at(f"{server}/short.pth"))
    assert leftovers(home) == []


def test_unreachable_server_is_a_download_error(home):
    with pytest.raises(DownloadError, match="cannot reach"):
        hub.download(entry_at("http://127.0.0.1:9/none.pth"), timeout=5)
    assert leftovers(home) == []


def test_ctrl_c_during_download_leaves_nothing(server, home):
    def interrupt(done: int, total: int | None) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hub.download(entry_at(f"{server}/good.pth"), progress=interrupt)
    assert leftovers(home) == []


def test_shipped_model_resolves_without_download(tmp_path, monkeypatch):
    weights = tmp_path / "shipped"
    weights.mkdir()
    (weights / "tiny.safetensors").write_bytes(b"x")
    monkeypatch.setenv("VSRCLI_WEIGHTS_DIR", str(weights))
    entry = dataclasses.replace(
        zoo.get_entry("basicvsrpp-reds4"),
        name="tiny",
        url=None,
        sha256_prefix=None,
        local_path="weights/tiny.safetensors",
    )
    assert hub.weights_path(entry) == weights / "tiny.safetensors"
    assert hub.is_present(entry)
    assert hub.download(entry) == weights / "tiny.safetensors"
    missing = dataclasses.replace(entry, local_path="weights/absent.safetensors")
    assert not hub.is_present(missing)
    with pytest.raises(WeightsNotFoundError, match="shipped with vsrcli"):
        hub.download(missing)


def test_mirrors_are_tried_in_order_and_all_failures_reported(server, home):
    entry = dataclasses.replace(
        entry_at(f"{server}/error.pth"), mirrors=(f"{server}/corrupt.pth", f"{server}/good.pth")
    )
    assert hub.download(entry).read_bytes() == PAYLOAD
    assert leftovers(home) == [entry.filename]
    failing = dataclasses.replace(entry, filename="other.pth", mirrors=(f"{server}/corrupt.pth",))
    with pytest.raises(DownloadError, match=r"from all 2 sources: .*HTTP 500.* \| checksum mismatch"):
        hub.download(failing)
    assert leftovers(home) == [entry.filename]
