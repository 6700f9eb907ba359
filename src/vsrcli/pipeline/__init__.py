"""The streaming restoration pipeline: ``restore_video`` and what it reports."""

from __future__ import annotations

from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.restore import Progress, ProgressCallback, RestoreReport, restore_video

__all__ = ["Progress", "ProgressCallback", "RestoreOptions", "RestoreReport", "restore_video"]
