"""`vsrcli train`: configs and presets, training data, the loop with exact resume, and release export.

Submodules import torch; this package's namespace stays light so the CLI can import it lazily.
"""

from __future__ import annotations

__all__ = ["config", "data", "degradations", "export", "loop", "ops", "presets"]
