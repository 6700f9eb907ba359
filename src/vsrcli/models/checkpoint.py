"""Read every official checkpoint layout of the BasicVSR family, safely, into one canonical state dict.

Canonical means: the official MMEditing/MMagic key names of the bare network (``spynet.…``,
``backward_resblocks.…``, ``deform_align.…``), no ``generator.`` or ``module.`` prefix, tensors only.

Layouts understood:

* MMEditing 0.x / MMagic 1.x release files: ``{'meta': …, 'state_dict': {'generator.…', 'step_counter'}}``,
  often in the legacy (non-zip) format written by ``tools/publish_model.py``;
* RealBasicVSR files, which hold ``generator_ema.`` (used for inference, so it wins), ``generator.`` and
  ``discriminator.`` weights and loss modules;
* BasicSR files: ``{'params_ema': …}`` (preferred) or ``{'params': …}`` with BasicSR's key names, mapped here;
* bare state dicts, with or without DataParallel's ``module.``;
* ``.safetensors``.

Pickles are never trusted: ``torch.load(weights_only=True)`` refuses any global beyond tensors and plain
containers. The only addition is numpy's scalar and dtype reconstructors, which carry no code and may appear
in a legacy ``meta`` dict (e.g. a float64 score). Anything else fails with UnsafeCheckpointError before a
single object is built.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsrcli.errors import CheckpointError, IncompatibleWeightsError, UnsafeCheckpointError

if TYPE_CHECKING:
    import torch

#: Wrappers whose value is the state dict, in order of preference (EMA weights are the ones to run).
_WRAPPERS = ("state_dict", "params_ema", "params", "model", "net", "generator")
#: Restorer-level keys that are not network weights (MMEditing's step counter, MMagic's EMA wrapper counters).
_NON_NETWORK_PREFIXES = ("discriminator.", "perceptual_loss.", "gan_loss.", "pixel_loss.", "cleaning_loss.")
_NON_NETWORK_KEYS = ("step_counter", "steps", "n_averaged")
#: SPyNet's normalisation constants: buffers that official standalone files lack; regenerated when absent.
_CONSTANT_SUFFIXES = ("spynet.mean", "spynet.std")

# BasicSR -> MMEditing key names (reference §7.3). Each rule only matches the BasicSR spelling, so applying
# them to a dict that already uses MMEditing names changes nothing.
_BASICSR_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        # SPyNet: Sequential of conv/relu (0, 2, 4, 6, 8) -> ConvModules 0..4 with `.conv`
        (r"^(.*spynet\.basic_module\.\d+\.basic_module\.)([02468])\.(weight|bias)$", r"\g<1>{half}.conv.\3"),
        (r"^(.*)backward_trunk\.", r"\1backward_resblocks."),
        (r"^(.*)forward_trunk\.", r"\1forward_resblocks."),
        (r"^(.*)upconv([12])\.(weight|bias)$", r"\1upsample\2.upsample_conv.\3"),
        (r"^edvr\.conv_l([23])_([12])\.(weight|bias)$", r"edvr.feat_l\1_conv\2.conv.\3"),
        (r"^edvr\.pcd_align\.", r"edvr.pcd_alignment."),
        (
            r"^edvr\.pcd_alignment\.(offset_conv[123]\.l[123]|feat_conv\.l[123]|cas_offset_conv[12])\.(weight|bias)$",
            r"edvr.pcd_alignment.\1.conv.\2",
        ),
        (
            r"^edvr\.fusion\.(feat_fusion|spatial_attn[1234]|spatial_attn_l[123]|spatial_attn_add1)\.(weight|bias)$",
            r"edvr.fusion.\1.conv.\2",
        ),
    )
)


def map_basicsr_key(key: str) -> str:
    """The MMEditing name of a BasicSR key (identity for keys that already use MMEditing names)."""
    for pattern, repl in _BASICSR_RULES:
        match = pattern.match(key)
        if match is None:
            continue
        if "{half}" in repl:
            key = f"{match.group(1)}{int(match.group(2)) // 2}.conv.{match.group(3)}"
        else:
            key = pattern.sub(repl, key)
    return key


def _safe_numpy_globals() -> list[Any]:
    """numpy scalar/dtype reconstructors: pure data, sometimes found in a legacy MMEditing ``meta`` dict."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency of torch here
        return []
    scalar = getattr(np, "_core", None) or np.core  # numpy 2 renamed core to _core
    scalar = scalar.multiarray.scalar
    allowed: list[Any] = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for kind in ("Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64", "UInt8", "Bool"):
            cls = getattr(dtypes, f"{kind}DType", None)
            if cls is not None:
                allowed.append(cls)
    return allowed


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # torch's weights-only messages put the useful sentence after a long preamble
    for line in lines:
        if "GLOBAL" in line or "Can only build" in line or "Unsupported operand" in line:
            return line
    return lines[0] if lines else type(exc).__name__


def _load_pickle(path: Path) -> Any:
    import torch

    try:
        with torch.serialization.safe_globals(_safe_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _first_line(exc)
        if "GLOBAL" in detail or "Can only build" in detail or "reduce" in detail.lower():
            raise UnsafeCheckpointError(
                f"refused to load {path}: it asks to run or build what a weights file never needs ({detail})",
                hint="nothing was executed; if you trust the file, convert it to .safetensors yourself",
            ) from None
        raise CheckpointError(f"cannot read {path}: not a PyTorch checkpoint ({detail})") from None
    except Exception as exc:  # damaged files fail in many ways: EOFError, struct.error, zip errors…
        raise CheckpointError(f"cannot read {path}: not a PyTorch checkpoint ({_first_line(exc)})") from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as exc:  # pragma: no cover - safetensors is a dependency
        raise CheckpointError(f"cannot read {path}: the safetensors package is not installed") from exc
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError
        raise CheckpointError(
            f"cannot read {path}: not a valid .safetensors file ({_first_line(exc)})"
        ) from None


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix) :] if key.startswith(prefix) else key


def canonical_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The bare network's tensors from any of the understood layouts, under MMEditing key names."""
    import torch

    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a state dict")
    state: Mapping[str, Any] = obj
    for wrapper in _WRAPPERS:
        inner = obj.get(wrapper)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            state = inner
            break
    tensors = {_strip(str(k), "module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in ("generator_ema.", "generator."):
        if any(k.startswith(prefix) for k in tensors):
            tensors = {
                _strip(k[len(prefix) :], "module."): v for k, v in tensors.items() if k.startswith(prefix)
            }
            break
    tensors = {
        k: v
        for k, v in tensors.items()
        if k not in _NON_NETWORK_KEYS and not k.startswith(_NON_NETWORK_PREFIXES)
    }
    if not tensors:
        raise CheckpointError(f"{source} holds no network weights")
    return {map_basicsr_key(k): v for k, v in tensors.items()}


def _is_safetensors(path: Path) -> bool:
    """By suffix, or by content (an 8-byte header length then a JSON object) whatever the file is called."""
    if path.suffix.lower() == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Load ``path`` (.pth/.pt/.ckpt pickle or .safetensors) safely and return its canonical state dict."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    raw = _load_safetensors(path) if _is_safetensors(path) else _load_pickle(path)
    return canonical_state_dict(raw, source=str(path))


def write_checkpoint(state_dict: Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Save tensors only (``.safetensors`` by suffix, else a weights-only-loadable ``.pth``)."""
    import torch

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.clone() for k, v in tensors.items()}, str(path))
    else:
        torch.save(tensors, path)
    return path


def _listing(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def load_into(
    net: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, label: str = "the network"
) -> None:
    """Strictly load ``state_dict`` into ``net``; any missing, unexpected or mis-shaped key is an error.

    SPyNet's mean/std buffers are constants: when the file lacks them, the network keeps its own.
    """
    own = net.state_dict()
    state = dict(state_dict)
    for key in own:
        if key.endswith(_CONSTANT_SUFFIXES) and key not in state:
            state[key] = own[key]
    for key in list(state):
        if key.endswith(_CONSTANT_SUFFIXES) and key not in own:
            del state[key]  # a network that keeps the constants non-persistent
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mis_shaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({_listing(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({_listing(unexpected)})")
        if mis_shaped:
            parts.append(f"{len(mis_shaped)} mis-shaped, file vs network ({_listing(mis_shaped)})")
        raise IncompatibleWeightsError(f"the weights do not fit {label}: {'; '.join(parts)}")
    net.load_state_dict(state, strict=True)
