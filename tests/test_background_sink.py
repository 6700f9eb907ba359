"""Encoding in a worker thread: same frames in the same order, errors surface in the caller, abort drops."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vsrcli.errors import OutputError
from vsrcli.pipeline.streams import BackgroundSink


class RecordingSink:
    def __init__(self, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.chunks: list[tuple[np.ndarray, list[int]]] = []
        self.threads: set[str] = set()
        self.fail_at, self.delay = fail_at, delay
        self.count = 0
        self.committed = self.aborted = False
        self.warnings: list[str] = []

    def write(self, frames: np.ndarray, pts: list[int]) -> None:
        time.sleep(self.delay)
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and len(self.chunks) == self.fail_at:
            raise OutputError("disk full")
        self.chunks.append((frames, pts))
        self.count += len(frames)
        self.warnings.append(f"chunk {len(self.chunks)}")

    def commit(self) -> None:
        self.committed = True

    def abort(self) -> None:
        self.aborted = True


def chunk(i: int) -> np.ndarray:
    return np.full((2, 4, 4, 3), i, dtype=np.uint8)


def test_writes_every_chunk_in_order_from_another_thread():
    inner = RecordingSink(delay=0.01)
    sink = BackgroundSink(inner, depth=1)
    for i in range(5):
        sink.write(chunk(i), [2 * i, 2 * i + 1])
    assert sink.count == 10
    assert sink.warnings == [f"chunk {i}" for i in range(1, 6)]  # waits for the queue to drain
    sink.commit()
    assert inner.committed and not inner.aborted
    assert [int(c[0][0, 0, 0, 0]) for c in inner.chunks] == [0, 1, 2, 3, 4]
    assert [c[1] for c in inner.chunks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert inner.threads == {"vsrcli-encode"}


def test_worker_error_reaches_the_caller_and_nothing_is_committed():
    inner = RecordingSink(fail_at=1)
    sink = BackgroundSink(inner, depth=1)
    with pytest.raises(OutputError, match="disk full"):
        for i in range(50):
            sink.write(chunk(i), [i])
            time.sleep(0.005)
        sink.commit()
    sink.abort()
    assert inner.aborted and not inner.committed
    assert len(inner.chunks) == 1


def test_abort_drops_queued_chunks():
    inner = RecordingSink(delay=0.05)
    sink = BackgroundSink(inner, depth=3)
    for i in range(4):
        sink.write(chunk(i), [i])
    sink.abort()
    assert inner.aborted and not inner.committed
    assert len(inner.chunks) < 4
    with pytest.raises(OutputError):
        sink.write(chunk(9), [9])
