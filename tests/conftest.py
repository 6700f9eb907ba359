"""Shared fixtures: the shared data folder (tests skip cleanly without it), the vendored official key tables,
no downloads, and RNG hygiene."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("VSRCLI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA = SHARED / "data"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return DATA


@pytest.fixture(scope="session")
def official_keys_dir() -> Path:
    """Keys and shapes of the official MMagic checkpoints, vendored from the shared reference folder."""
    return Path(__file__).parent / "official_keys"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the internet: official weights are never fetched (download tests use 127.0.0.1)."""
    monkeypatch.setenv("VSRCLI_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seeded_rng():
    """Every test starts from the same seeds and leaves the global RNGs as it found them."""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
    else:
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        yield
        torch.random.set_rng_state(torch_state)
    random.setstate(py_state)
    np.random.set_state(np_state)
