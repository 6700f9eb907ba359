"""Turning ``--model`` / ``--arch`` options into modules for the runner.

``--model NAME|PATH`` goes through ``vsrcli.models.api.load_model`` (zoo names and checkpoint files);
``--arch NAME --arch-args k=v,...`` builds a network with random weights (seeded) through
``vsrcli.models.arch.build_network``, which is what speed runs need when no weights are at hand.
Both are imported lazily so the benchmark still works (baseline only) in a build without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vsrcli.bench.baselines import NamedModel
from vsrcli.errors import ModelError, UsageError

if TYPE_CHECKING:
    import torch

__all__ = ["load_named_model", "parse_arch_args", "random_model"]


def parse_arch_args(text: str | None) -> dict[str, Any]:
    """``"mid_channels=64,num_blocks=7,is_low_res_input=false"`` -> typed keyword arguments
    (int, float, bool, None or str)."""
    args: dict[str, Any] = {}
    if not text:
        return args
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--arch-args: {item!r} is not KEY=VALUE")
        args[key] = _value(raw)
    return args


def _value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _describe(module: Any) -> str:
    params = sum(p.numel() for p in module.parameters()) if hasattr(module, "parameters") else 0
    return f"{type(module).__name__}, {params / 1e6:.2f} M parameters"


def random_model(arch: str, args: dict[str, Any], seed: int = 0) -> NamedModel:
    """An architecture with seeded random weights (speed runs, smoke tests)."""
    import torch

    try:
        from vsrcli.models.arch import build_network
    except ImportError as exc:
        raise ModelError("--arch needs vsrcli.models.arch, which this build does not have") from exc
    torch.manual_seed(seed)
    try:
        module = build_network(arch, **args)
    except TypeError as exc:
        raise UsageError(f"--arch {arch}: bad --arch-args ({exc})") from exc
    shown = ",".join(f"{k}={v}" for k, v in args.items())
    name = f"{arch}({shown})" if shown else arch
    return NamedModel(name, module, f"random weights (seed {seed}); {_describe(module)}")


def load_named_model(spec: str, device: torch.device | str = "cpu") -> NamedModel:
    """A zoo name or checkpoint path, loaded by the model API."""
    try:
        from vsrcli.models.api import load_model
    except ImportError as exc:
        raise ModelError("--model needs vsrcli.models.api, which this build does not have") from exc
    module = load_model(spec, device=str(device))
    info = getattr(module, "model_info", None)
    label = getattr(info, "label", None)
    description = f"{label}; {_describe(module)}" if label else _describe(module)
    return NamedModel(spec, module, description)
