"""The package as installed: every subpackage listed, the shipped models as package data, py.typed.

The wheel itself is built, installed outside the checkout and run by ``.ci/wheel`` (too slow for a unit test).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vsrcli.models import zoo

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_of_src_is_listed(setuptools_config):
    found = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    assert set(setuptools_config["packages"]) == found | {"vsrcli.weights"}


def test_weights_folder_is_the_vsrcli_weights_package_with_every_file_as_data(setuptools_config):
    import fnmatch

    assert setuptools_config["package-dir"]["vsrcli.weights"] == "weights"
    patterns = setuptools_config["package-data"]["vsrcli.weights"]
    files = [p.name for p in (ROOT / "weights").iterdir() if p.is_file() and p.name != "__init__.py"]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files)
    assert "py.typed" in setuptools_config["package-data"]["vsrcli"]
    assert (ROOT / "src" / "vsrcli" / "py.typed").is_file()


def test_every_shipped_model_resolves_through_the_weights_package(monkeypatch):
    monkeypatch.delenv("VSRCLI_WEIGHTS_DIR", raising=False)
    shipped = [e for e in zoo.list_entries() if not e.official]
    assert shipped
    for entry in shipped:
        path = zoo.resolve_local_path(entry)
        assert path is not None and path.parent == zoo.shipped_dir(), entry.name
