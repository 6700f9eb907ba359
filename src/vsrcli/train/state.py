"""A training run's state on disk: the checkpoint (format, atomic writes, safe reads), every RNG state for a
bit-exact resume, and which config changes a resume accepts."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from vsrcli.errors import CheckpointError

CHECKPOINT = "checkpoint.pt"
FORMAT = "vsrcli-train-checkpoint/1"

# Config fields a resumed run may change (bookkeeping, and a curriculum: longer clips, bigger patches or
# batches, a longer or shorter schedule); anything else must match the checkpoint. Resuming with nothing
# changed continues bit for bit.
RESUMABLE_CHANGES = {("run", "iters"), ("run", "device"), ("run", "threads"), ("run", "checkpoint_minutes")}
RESUMABLE_CHANGES |= {("data", "clip_len"), ("data", "patch"), ("data", "batch"), ("optim", "fix_iter")}
RESUMABLE_CHANGES |= {("run", "log_every"), ("run", "val_every"), ("run", "export_dtype"), ("optim", "loss")}
RESUMABLE_CHANGES |= {("data", "cache_mb"), ("data", "root")}
# Precision follows the machine: bf16 is ~5x fp32 on a CPU with AMX and ~30x slower on one without, and a
# run may resume on either. Weights and optimiser state stay float32 under autocast, so nothing else changes.
RESUMABLE_CHANGES |= {("run", "precision")}
# Top-level fields that never change what training does: the description, and [runtime] (export writes it into
# the card; the network trains without it), whole tables included.
FREE_KEYS = {"description", "runtime"}


def rng_state() -> dict[str, Any]:
    """Every global RNG as checkpoint-safe plain data (tensors, ints, tuples)."""
    name, keys, pos, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos)},
        "numpy_gauss": [int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    has_gauss, cached = state["numpy_gauss"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["name"], keys, np_state["pos"], has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, read without running any pickled code."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: no checkpoint to resume from", hint="drop --resume to start"
        ) from None
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a vsrcli training checkpoint")
    return payload


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted names of fields that differ and may not change on resume."""
    diffs = []
    for key in sorted((set(old) | set(new)) - FREE_KEYS):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key != "arch_args":
            for sub in sorted(set(a) | set(b)):
                if a.get(sub) != b.get(sub) and (key, sub) not in RESUMABLE_CHANGES:
                    diffs.append(f"{key}.{sub}")
        elif a != b:
            diffs.append(key)
    return diffs
