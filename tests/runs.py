"""Keyword-style calls of ``restore_video`` and ``run_batch`` for tests: options go into RestoreOptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsrcli.batch import BatchReport, run_batch
from vsrcli.pipeline import RestoreOptions, RestoreReport, restore_video

BATCH_ONLY = ("ray", "workers", "gpus_per_worker", "segment", "max_retries", "progress", "executor")


def restore(
    input: str | Path, output: str | Path | None = None, *, progress: Any = None, **options: Any
) -> RestoreReport:
    return restore_video(input, output, options=RestoreOptions(**options), progress=progress)


def batch(inputs: list[Path], outdir: str | Path, **settings: Any) -> BatchReport:
    own = {k: settings.pop(k) for k in BATCH_ONLY if k in settings}
    return run_batch(inputs, outdir, options=RestoreOptions(**settings), **own)
