"""`vsrcli models`: list, info, download (against a local server) and verify; listing never imports torch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers_checkpoints import PAYLOAD, local_http_server
from vsrcli.cli import run
from vsrcli.models import zoo

PREFIX = hashlib.sha256(PAYLOAD).hexdigest()[:8]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VSRCLI_WEIGHTS_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with local_http_server() as url:
        yield url


def point_at(monkeypatch, name: str, url: str) -> zoo.ModelEntry:
    """Make zoo entry ``name`` download from the local server (the registry is restored after the test)."""
    entry = dataclasses.replace(
        zoo.get_entry(name), url=url, filename=f"{name}-{PREFIX}.pth", sha256_prefix=PREFIX
    )
    monkeypatch.setitem(zoo._REGISTRY, name, entry)
    return entry


def test_models_lists_every_official_model(capsys):
    assert run(["models"]) == 0
    out = capsys.readouterr().out
    for name in zoo.OFFICIAL_NAMES:
        assert name in out
    assert "7.32" in out and "43.78" in out  # params in millions
    assert "BasicVSR++ c64n15 restoration" in out
    assert " yes " not in out  # nothing downloaded in a fresh cache


def test_models_list_marks_downloaded_files_and_filters_by_task(capsys, home):
    entry = zoo.get_entry("basicvsrpp-denoise")
    (home / "weights").mkdir(parents=True)
    (home / "weights" / entry.filename).write_bytes(b"x")
    assert run(["models", "list", "--task", "denoise"]) == 0
    out = capsys.readouterr().out
    assert "basicvsrpp-denoise" in out and "yes" in out
    assert "basicvsrpp-reds4" not in out
    assert run(["models", "list", "--task", "colorize"]) == 2
    assert "unknown task 'colorize'" in capsys.readouterr().err


def test_models_json(capsys, home):
    assert run(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(zoo.names())
    # nothing downloaded into the empty cache; shipped models are always present
    assert all(r["present"] is (zoo.get_entry(r["name"]).local_path is not None) for r in rows)
    assert rows[0]["path"].startswith(str(home))


def test_models_info_shows_the_whole_card(capsys, home):
    assert run(["models", "info", "basicvsrpp-reds4"]) == 0
    out = capsys.readouterr().out
    entry = zoo.get_entry("basicvsrpp-reds4")
    for text in (
        entry.url,
        entry.sha256_prefix,
        "7,322,927",
        "BasicVSR++ c64n7 x4",
        "REDS4 (BIx4, RGB)",
        "32.3855",
    ):
        assert text in out
    assert str(home / "weights" / entry.filename) in out and "downloaded     no" in out
    assert run(["models", "info", "basicvsrpp-ntire-vsr"]) == 0
    assert "published results: none" in capsys.readouterr().out


def test_models_info_unknown_name_is_an_error_with_suggestions(capsys):
    assert run(["models", "info", "iconvsr-reds"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("vsrcli: error: unknown model 'iconvsr-reds'") and "iconvsr-reds4" in err


def test_models_download_fetches_verifies_and_reports(capsys, monkeypatch, server, home):
    entry = point_at(monkeypatch, "basicvsr-reds4", f"{server}/good.pth")
    assert run(["models", "download", "basicvsr-reds4"]) == 0
    target = home / "weights" / entry.filename
    assert target.read_bytes() == PAYLOAD
    assert str(target) in capsys.readouterr().out
    assert run(["models", "download", "basicvsr-reds4"]) == 0
    assert "already present" in capsys.readouterr().out
    assert run(["models", "verify", "basicvsr-reds4"]) == 0
    assert "basicvsr-reds4: ok" in capsys.readouterr().out


def test_models_download_failure_leaves_nothing(capsys, monkeypatch, server, home):
    point_at(monkeypatch, "basicvsr-reds4", f"{server}/corrupt.pth")
    point_at(monkeypatch, "iconvsr-reds4", f"{server}/error.pth")
    assert run(["models", "download", "basicvsr-reds4", "iconvsr-reds4"]) == 5
    err = capsys.readouterr().err
    assert "2 downloads failed" in err and "checksum mismatch" in err and "HTTP 500" in err
    assert not (home / "weights").exists() or list((home / "weights").iterdir()) == []


def test_models_download_needs_a_name(capsys):
    assert run(["models", "download"]) == 2
    assert "name at least one model" in capsys.readouterr().err
    assert run(["models", "download", "nope"]) == 5


def test_models_verify_detects_a_tampered_file(capsys, monkeypatch, home):
    entry = point_at(monkeypatch, "basicvsr-reds4", "https://example.invalid/never-used.pth")
    (home / "weights").mkdir(parents=True)
    (home / "weights" / entry.filename).write_bytes(b"tampered")
    assert run(["models", "verify"]) == 5
    captured = capsys.readouterr()
    assert "basicvsr-reds4: MISMATCH" in captured.out and "checksum mismatch" in captured.err


def test_models_listing_does_not_import_torch():
    code = (
        "import sys\n"
        "from vsrcli.cli import run\n"
        "rc = run(['models'])\n"
        "rc2 = run(['models', 'info', 'realbasicvsr'])\n"
        "heavy = sorted(m for m in ('torch', 'av', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy, rc, rc2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY [] 0 0" in out
    assert "basicvsrpp-reds4" in out


def test_models_info_describes_a_checkpoint_file(capsys, tmp_path):
    from helpers_checkpoints import layout, random_state, save_mmedit

    shapes = layout("iconvsr", mid_channels=16, num_blocks=2, padding=3)
    path = save_mmedit(random_state(shapes), tmp_path / "my_iconvsr.pth")
    assert run(["models", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "IconVSR c16n2 (7-frame EDVR)" in out and "padding=3" in out and "x4" in out
    expected = sum(math.prod(s) for k, s in shapes.items() if not k.endswith(("mean", "std")))
    assert f"{expected:,}" in out
    assert run(["models", "info", "--json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arch"] == "iconvsr" and data["num_params"] == expected and data["scale"] == 4
    (tmp_path / "junk.pth").write_bytes(b"junk")
    assert run(["models", "info", str(tmp_path / "junk.pth")]) == 5
    assert "cannot read" in capsys.readouterr().err
