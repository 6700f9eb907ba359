"""Many videos and long films across worker processes or a Ray cluster, with the single-machine frames."""

from __future__ import annotations

from vsrcli.batch.driver import BatchProgress, BatchReport, VideoResult, run_batch
from vsrcli.batch.plan import discover_inputs

__all__ = ["BatchProgress", "BatchReport", "VideoResult", "discover_inputs", "run_batch"]
