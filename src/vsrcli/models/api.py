"""``load_model``: a zoo name or a checkpoint path in, a ready ``torch.nn.Module`` in eval mode out.

The one place that joins the zoo (what a name means), the hub (where its file is), checkpoint reading and
detection (what a file holds) and the architectures (how to build it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vsrcli.device import resolve_device
from vsrcli.errors import (
    CheckpointError,
    IncompatibleWeightsError,
    ModelNotFoundError,
    UsageError,
    WeightsNotFoundError,
)
from vsrcli.models import hub, zoo
from vsrcli.models.checkpoint import load_into, read_checkpoint
from vsrcli.models.detect import RUNTIME_ARGS, arch_label, detect_architecture

_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")


@dataclass(frozen=True)
class ModelInfo:
    """What the pipeline needs to know about a model before (or after) building it."""

    name: str
    """Zoo name, or the checkpoint's file name for a model loaded from a path."""
    arch: str
    arch_args: Mapping[str, Any]
    label: str
    """Short description, e.g. ``BasicVSR++ c64n7 x4``."""
    scale: int
    task: str | None
    """Zoo task; for a bare checkpoint inferred where the layout says it (x4 vs restoration), else None."""
    weights: Path | None = None
    """The weights file, when known and on disk."""
    num_params: int | None = None
    """Trainable parameters (SPyNet's mean/std buffers not counted)."""
    entry: zoo.ModelEntry | None = field(default=None, repr=False)


def _task_and_scale(arch: str, arch_args: Mapping[str, Any]) -> tuple[str | None, int]:
    if arch in zoo.CLEANING_ARCHS:
        return "sr-x4-real", 4
    if arch == "basicvsrpp" and not arch_args.get("is_low_res_input", True):
        return None, 1  # deblur, denoise or decompress: the weights do not say which
    return "sr-x4", 4


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\")) or text.lower().endswith(_CHECKPOINT_SUFFIXES)


def builtin_name(name_or_path: str | Path) -> str | None:
    """The built-in (weightless) model ``name_or_path`` names, e.g. ``bicubic``; None for anything else."""
    if isinstance(name_or_path, Path):
        return None
    name = name_or_path.strip().lower()
    return name if name in zoo.BUILTIN else None


def _builtin_info(name: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        arch=name,
        arch_args={"scale": 4},
        label=zoo.BUILTIN[name].split(",")[0],
        scale=4,
        task="sr-x4",
        weights=None,
        num_params=0,
    )


def _zoo_entry(name_or_path: str | Path) -> zoo.ModelEntry | None:
    if isinstance(name_or_path, Path):
        return None
    try:
        return zoo.get_entry(name_or_path)
    except ModelNotFoundError:
        if Path(name_or_path).expanduser().exists() or _looks_like_path(name_or_path):
            return None
        raise


def _entry_info(entry: zoo.ModelEntry, weights: Path | None) -> ModelInfo:
    if weights is None:
        candidate = hub.weights_path(entry)
        weights = candidate if candidate.is_file() else None
    return ModelInfo(
        name=entry.name,
        arch=entry.arch,
        arch_args=dict(entry.arch_args),
        label=arch_label(entry.arch, entry.arch_args),
        scale=entry.scale,
        task=entry.task,
        weights=weights,
        num_params=entry.num_params,
        entry=entry,
    )


def _card_runtime_args(path: Path, arch: str) -> dict[str, Any]:
    """Runtime arguments (no tensor shows them) from the model card vsrcli writes beside a release file,
    ``<name>-<sha>.json``, so a shipped file given by path runs as its zoo entry does."""
    import json

    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(card, dict) or card.get("file") != path.name or card.get("arch") != arch:
        return {}
    args = card.get("arch_args") or {}
    return {k: args[k] for k in RUNTIME_ARGS if k in args}


def _path_info(path: Path, state: Mapping[str, torch.Tensor]) -> ModelInfo:
    arch, arch_args = detect_architecture(state)
    arch_args = {**arch_args, **_card_runtime_args(path, arch)}
    task, scale = _task_and_scale(arch, arch_args)
    return ModelInfo(
        name=path.name,
        arch=arch,
        arch_args=arch_args,
        label=arch_label(arch, arch_args),
        scale=scale,
        task=task,
        weights=path,
        num_params=sum(v.numel() for k, v in state.items() if not k.endswith(("spynet.mean", "spynet.std"))),
    )


def _checkpoint_path(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def describe_model(name_or_path: str | Path, *, weights: str | Path | None = None) -> ModelInfo:
    """Architecture, task and scale of a zoo name (no file read) or of a checkpoint file (read, detected)."""
    builtin = builtin_name(name_or_path)
    if builtin is not None:
        if weights is not None:
            raise UsageError(f"{builtin} has no weights; --weights does not apply")
        return _builtin_info(builtin)
    entry = _zoo_entry(name_or_path)
    if entry is not None:
        return _entry_info(entry, None if weights is None else _checkpoint_path(weights))
    if weights is not None:
        raise UsageError("--weights goes with a zoo model name, not with a checkpoint path")
    path = _checkpoint_path(name_or_path)
    return _path_info(path, read_checkpoint(path))


def _entry_weights(entry: zoo.ModelEntry, *, download: bool, progress: hub.ProgressCallback | None) -> Path:
    path = hub.weights_path(entry)
    if path.is_file():
        return path
    if entry.url is None:
        raise WeightsNotFoundError(
            f"the shipped weights of {entry.name} are missing ({entry.local_path})",
            hint="reinstall vsrcli or pass --weights FILE",
        )
    if not download:
        raise WeightsNotFoundError(
            f"the weights of {entry.name} are not on this machine and downloads are off (offline)",
            hint=f"run `vsrcli models download {entry.name}` or pass --weights FILE",
        )
    return hub.download(entry, progress=progress)


def load_model(
    name_or_path: str | Path,
    *,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    download: bool | None = None,
    progress: hub.ProgressCallback | None = None,
) -> torch.nn.Module:
    """The network, with its weights loaded strictly, in eval mode on ``device``.

    ``name_or_path`` is a zoo name (weights from ``weights`` if given, else the shipped file or the cache,
    else downloaded, verified and renamed into the cache; ``download=False``, or None with ``VSRCLI_OFFLINE``
    set, makes that a WeightsNotFoundError instead), a checkpoint file whose architecture is detected from
    its keys, or a built-in name (``bicubic``: no weights). The returned module carries a
    :class:`ModelInfo` as ``model.model_info``.
    """
    from vsrcli.models.arch import build_network

    dev = resolve_device(device)
    builtin = builtin_name(name_or_path)
    if builtin is not None:
        from vsrcli.models.bicubic import BicubicUpsampler

        info = describe_model(builtin, weights=weights)
        module: torch.nn.Module = BicubicUpsampler(scale=info.scale).eval().to(dev)
        module.__dict__["model_info"] = info
        return module
    if download is None:
        download = not hub.offline_from_env()
    entry = _zoo_entry(name_or_path)
    if entry is not None:
        path = (
            _checkpoint_path(weights)
            if weights is not None
            else _entry_weights(entry, download=download, progress=progress)
        )
        info = _entry_info(entry, path)
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            if weights is not None or not entry.official:
                raise
            raise type(exc)(
                exc.message, hint=f"re-download it with `vsrcli models download --force {entry.name}`"
            ) from None
    else:
        if weights is not None:
            raise UsageError("--weights goes with a zoo model name, not with a checkpoint path")
        path = _checkpoint_path(name_or_path)
        state = read_checkpoint(path)
        info = _path_info(path, state)
    net = build_network(info.arch, **info.arch_args)
    try:
        load_into(net, state, label=f"{info.name} ({info.label})")
    except IncompatibleWeightsError as exc:
        if entry is None:
            raise
        try:
            found = arch_label(*detect_architecture(state))
        except CheckpointError:
            raise exc from None
        if found == info.label:
            raise
        raise IncompatibleWeightsError(
            f"{path} holds a {found}, but {entry.name} is a {info.label}",
            hint="pass the matching model name, or the file alone to detect its architecture",
        ) from None
    net.eval()
    net.to(dev)
    if dev.type == "cpu":
        # oneDNN runs the convolutions in NHWC without reordering every input and output; the rest of the
        # network follows the weights' layout. BasicVSR++ c64n7 at 320x180: 14.2 -> 10.3 s a frame
        # (benchmarks/official_cpu.py). Same values within float rounding; the state dict is unchanged.
        net.to(memory_format=torch.channels_last)
    # a plain attribute, not a submodule: the pipeline reads task and scale from it
    net.__dict__["model_info"] = info
    return net
