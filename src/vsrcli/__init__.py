"""vsrcli: video restoration with the BasicVSR++ family.

The package namespace is lazy: importing :mod:`vsrcli` (and so ``vsrcli --help``) never imports torch or av.
The public functions are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vsrcli.errors import VsrError

__version__ = "0.1.0"

__all__ = [
    "RestoreOptions",
    "VsrError",
    "__version__",
    "describe_model",
    "list_models",
    "load_model",
    "restore_video",
]

if TYPE_CHECKING:  # pragma: no cover
    from vsrcli.models.api import describe_model, load_model
    from vsrcli.models.zoo import list_entries as list_models
    from vsrcli.pipeline import RestoreOptions, restore_video

_LAZY = {
    "load_model": ("vsrcli.models.api", "load_model"),
    "describe_model": ("vsrcli.models.api", "describe_model"),
    "list_models": ("vsrcli.models.zoo", "list_entries"),
    "restore_video": ("vsrcli.pipeline", "restore_video"),
    "RestoreOptions": ("vsrcli.pipeline.options", "RestoreOptions"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'vsrcli' has no attribute {name!r}")
