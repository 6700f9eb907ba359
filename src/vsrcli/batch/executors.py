"""Where segments run: this process, local worker processes, or a Ray cluster; one small interface.

``submit(task) -> handle`` and ``wait() -> [(handle, SegmentResult | error)]`` with at least one entry while
anything is pending. A worker process that dies (killed, out of memory, ``os._exit``) has its segment retried
up to ``max_retries`` times: Ray does this itself (task ``max_retries``); the local pool is rebuilt and the
lost segments resubmitted.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

from vsrcli.batch.worker import SegmentResult, SegmentTask, run_segment
from vsrcli.errors import UsageError

RAY_INSTALL_HINT = "install the extra: pip install 'vsrcli[ray]'"


class WorkerLost(Exception):
    """A worker died running a segment and the retries are spent."""


class InlineExecutor:
    """Runs segments one at a time in this process (``--workers 1`` without Ray).

    Being in-process, it can report progress inside a segment: ``on_frames(task, done)`` (set by the driver).
    """

    capacity = 1

    def __init__(self, threads: int | None = None) -> None:
        self._queue: deque[tuple[int, SegmentTask]] = deque()
        self._next = 0
        self.threads = threads
        self.on_frames: Callable[[SegmentTask, int], None] | None = None

    def submit(self, task: SegmentTask) -> int:
        self._next += 1
        self._queue.append((self._next, task))
        return self._next

    def wait(self) -> list[tuple[int, Any]]:
        handle, task = self._queue.popleft()
        report = self.on_frames
        if report is None:
            return [(handle, run_segment(task))]
        return [(handle, run_segment(task, lambda done: report(task, done)))]

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()


def _init_worker(threads: int) -> None:
    """A spawned worker is a process of vsrcli's own, so it gets the CLI's malloc tuning too."""
    import torch

    from vsrcli.allocator import tune_allocator

    tune_allocator()
    torch.set_num_threads(threads)


class LocalExecutor:
    """A pool of ``workers`` spawned processes (spawn: no forked torch/thread state), ``threads`` each."""

    def __init__(self, workers: int, threads: int, max_retries: int = 3) -> None:
        self.capacity = workers
        self.threads = threads
        self.max_retries = max_retries
        self._futures: dict[int, Any] = {}
        self._tasks: dict[int, SegmentTask] = {}
        self._attempts: dict[int, int] = {}
        self._next = 0
        self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.capacity,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def submit(self, task: SegmentTask) -> int:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self._next += 1
        self._tasks[self._next] = task
        self._attempts[self._next] = 1
        try:
            self._futures[self._next] = self._pool.submit(run_segment, task)
        except BrokenProcessPool as exc:
            # A worker died since the last wait: hand this segment the pool's failure, so that the next wait
            # rebuilds the pool and runs it there, without counting an attempt it never had.
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            self._futures[self._next] = failed
            self._attempts[self._next] = 0
        return self._next

    def wait(self) -> list[tuple[int, Any]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        while True:
            by_future = {f: h for h, f in self._futures.items()}
            done, _ = wait_futures(list(by_future), return_when=FIRST_COMPLETED)
            results: list[tuple[int, Any]] = []
            broken = False
            for fut in done:
                handle = by_future[fut]
                try:
                    results.append((handle, fut.result()))
                except BrokenProcessPool:
                    broken = True
                except Exception as exc:  # noqa: BLE001 - reported as this segment's failure
                    results.append((handle, exc))
            for handle, _ in results:
                self._forget(handle)
            if broken:
                self._rebuild(results)
            if results:
                return results

    def _rebuild(self, results: list[tuple[int, Any]]) -> None:
        """The pool is dead: every unfinished segment goes to a fresh pool (one more attempt each)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for handle in list(self._futures):
            fut = self._futures[handle]
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                continue  # finished before the pool broke: collected on the next wait
            self._attempts[handle] += 1
            if self._attempts[handle] > self.max_retries + 1:
                results.append((handle, WorkerLost(f"worker died {self.max_retries + 1} times")))
                self._forget(handle)
                continue
            self._futures[handle] = self._pool.submit(run_segment, self._tasks[handle])

    def _forget(self, handle: int) -> None:
        self._futures.pop(handle, None)
        self._tasks.pop(handle, None)
        self._attempts.pop(handle, None)

    def pending(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def import_ray() -> Any:
    """The ray module, or a UsageError that says how to install the extra."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--ray needs Ray, which is not installed", hint=RAY_INSTALL_HINT) from exc
    return ray


def connect_ray(address: str) -> tuple[Any, bool]:
    """Connect per ``--ray``: ``auto`` (RAY_ADDRESS or a running cluster, else a new local instance),
    ``local`` (always a new local instance) or an address. Returns (ray, whether we started it)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    env = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}} if os.environ.get("PYTHONPATH") else None
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, runtime_env=env, log_to_driver=False)
        elif address == "auto":
            try:
                ray.init(address="auto", runtime_env=env, log_to_driver=False)
            except ConnectionError:
                ray.init(include_dashboard=False, runtime_env=env, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
    except ConnectionError as exc:
        raise UsageError(f"--ray {address}: cannot connect to a Ray cluster ({exc})") from exc
    return ray, True


class RayExecutor:
    """Segments as Ray tasks with ``cpus`` CPUs and ``gpus`` GPUs each, retried when a worker dies."""

    def __init__(
        self, address: str, workers: int | None, gpus: float, max_retries: int = 3, threads: int | None = None
    ) -> None:
        self.ray, self.started = connect_ray(address)
        resources = self.ray.cluster_resources()
        total_cpus = max(1, int(resources.get("CPU", 1)))
        if gpus > 0:
            if resources.get("GPU", 0) < gpus:
                raise UsageError(
                    f"--gpus-per-worker {gpus}: the Ray cluster has {resources.get('GPU', 0)} GPUs"
                )
            fit = int(resources.get("GPU", 0) // gpus)
        else:
            fit = total_cpus
        self.capacity = max(1, min(workers, fit) if workers else fit)
        self.cpus = 1 if gpus > 0 else max(1, total_cpus // self.capacity)
        self.threads = threads or self.cpus
        self._remote = self.ray.remote(run_segment).options(
            num_cpus=self.cpus, num_gpus=gpus, max_retries=max_retries
        )
        self._refs: dict[Any, int] = {}
        self._next = 0

    def submit(self, task: SegmentTask) -> int:
        from dataclasses import replace

        self._next += 1
        ref = self._remote.remote(replace(task, threads=task.threads or self.threads))
        self._refs[ref] = self._next
        return self._next

    def wait(self) -> list[tuple[int, Any]]:
        ready, _ = self.ray.wait(list(self._refs), num_returns=1)
        out: list[tuple[int, Any]] = []
        for ref in ready:
            handle = self._refs.pop(ref)
            try:
                result: Any = self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - worker crashed past its retries, or a bug in it
                result = WorkerLost(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            out.append((handle, result))
        return out

    def pending(self) -> int:
        return len(self._refs)

    def close(self) -> None:
        for ref in list(self._refs):
            self.ray.cancel(ref, force=True)
        self._refs.clear()
        if self.started:
            self.ray.shutdown()


def make_executor(ray: str | None, workers: int | None, gpus_per_worker: float, max_retries: int = 3) -> Any:
    """Ray when ``--ray`` is given; else a local pool for ``--workers N`` > 1; else this process."""
    if ray:
        return RayExecutor(ray, workers, gpus_per_worker, max_retries)
    if gpus_per_worker:
        raise UsageError("--gpus-per-worker needs --ray")
    cores = os.cpu_count() or 1
    if workers is None or workers <= 1:
        return InlineExecutor()
    return LocalExecutor(workers, max(1, cores // workers), max_retries)


__all__ = ["InlineExecutor", "LocalExecutor", "RayExecutor", "SegmentResult", "WorkerLost", "make_executor"]
