"""Resumable runs: finished chunks kept as segment files in ``OUT.vsrcli-partial/`` with a manifest.

The manifest records the input's identity (resolved path, size, modification time) and every setting that
changes the pixels; a partial folder that does not match is discarded rather than mixed in. Each segment holds
the final (already cross-faded) output frames of one chunk core plus the fade-out frames the next chunk blends
with, as uncompressed ``.npy`` arrays, so a resumed run writes exactly the frames an uninterrupted one would.
Disk cost: about one uncompressed output frame per finished frame until the run completes; the
folder is removed after success.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vsrcli.errors import OutputError

MANIFEST = "manifest.json"
VERSION = 2  # 2: bicubic became PIL's (a = -0.5); earlier partials are not resumed


def partial_dir(output: Path) -> Path:
    """Where segments of ``output`` live: ``OUT.vsrcli-partial`` beside it."""
    return output.parent / f"{output.name}.vsrcli-partial"


def input_identity(path: Path) -> dict[str, Any]:
    """Enough to notice a changed input: resolved path, size and mtime (of every frame for a folder)."""
    path = path.resolve()
    if path.is_dir():
        stats = [p.stat() for p in sorted(path.iterdir()) if p.is_file()]
        return {
            "path": str(path),
            "size": sum(s.st_size for s in stats),
            "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
        }
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def model_fingerprint(model: Any) -> str:
    """SHA-256 over the state dict (names, shapes and bytes): the same weights give the same fingerprint."""
    import hashlib

    import torch

    digest = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


class Partial:
    """Reads and writes the segment folder of one output."""

    def __init__(self, output: Path, identity: dict[str, Any], settings: dict[str, Any]) -> None:
        self.folder = partial_dir(output)
        self.identity = identity
        self.settings = settings
        self.segments: dict[str, dict[str, Any]] = {}
        self.discarded = False

    def open(self) -> None:
        """Load a matching manifest, or start a fresh folder (discarding one from another run)."""
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError):
                data = {}
            if (
                data.get("version") == VERSION
                and data.get("input") == self.identity
                and data.get("settings") == self.settings
            ):
                self.segments = dict(data.get("segments", {}))
                return
        if self.folder.exists() or self.folder.is_symlink():
            if not self._only_ours():
                raise OutputError(
                    f"{self.folder}: holds files vsrcli did not write; move it away to use --resume here"
                )
            self.discarded = True
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self._save()

    def _only_ours(self) -> bool:
        """The folder holds nothing but a manifest and segment files (so discarding it loses nothing else)."""
        if self.folder.is_symlink() or not self.folder.is_dir():
            return False
        pattern = re.compile(r"^(manifest\.json|\.manifest\.json\.tmp|\.?seg_\d+(_tail)?\.npy(\.tmp)?)$")
        return all(p.is_file() and pattern.match(p.name) for p in self.folder.iterdir())

    def _save(self) -> None:
        data = {
            "version": VERSION,
            "input": self.identity,
            "settings": self.settings,
            "segments": self.segments,
        }
        tmp = self.folder / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.folder / MANIFEST)

    def load(self, index: int, core_start: int, core_stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The saved (core, tail) of chunk ``index`` if it exists and covers the same frames."""
        entry = self.segments.get(str(index))
        if not entry or entry.get("core") != [core_start, core_stop]:
            return None
        try:
            core = np.load(self.folder / entry["file"], allow_pickle=False)
            tail = np.load(self.folder / entry["tail"], allow_pickle=False)
        except (OSError, ValueError, KeyError):
            return None
        if len(core) != core_stop - core_start:
            return None
        return core, tail

    def save(self, index: int, core_start: int, core_stop: int, core: np.ndarray, tail: np.ndarray) -> None:
        """Write the segment files first, then record them in the manifest (atomic replace)."""
        name = f"seg_{index:06d}"
        for suffix, array in (("", core), ("_tail", tail)):
            tmp = self.folder / f".{name}{suffix}.npy.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
            os.replace(tmp, self.folder / f"{name}{suffix}.npy")
        self.segments[str(index)] = {
            "core": [core_start, core_stop],
            "file": f"{name}.npy",
            "tail": f"{name}_tail.npy",
        }
        self._save()

    def remove(self) -> None:
        """After success the segments are no longer needed."""
        shutil.rmtree(self.folder, ignore_errors=True)
