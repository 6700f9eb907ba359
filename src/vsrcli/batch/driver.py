"""``run_batch``: plan every video, run its segments on an executor, join each video once it is complete.

The driver decodes each input once (frame count, timestamps, scene cuts), plans the single-machine windows and
groups them into segments, submits them, and as soon as all segments of a video are on disk encodes the final
file (:mod:`vsrcli.batch.join`). The restoration itself is the pipeline's :class:`Engine`, in every worker.
Segment files live in ``OUTDIR/.vsrcli-batch/<video-id>/`` with a manifest; they are removed once the video is
written, and kept after a failure or interruption so that ``--resume`` skips the finished ones. A video that
fails (corrupt input, worker lost past its retries) is reported and the others go on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsrcli.batch.join import join_segments
from vsrcli.batch.plan import VideoPlan, auto_segment, find_inputs, plan_segments, video_id
from vsrcli.batch.worker import CRASH_ENV, SegmentTask, read_done
from vsrcli.errors import InputError, Interrupted, OutputError, UsageError, VsrError
from vsrcli.pipeline.chunking import SceneCutDetector
from vsrcli.pipeline.engine import DownloadCallback, Engine
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.resume import input_identity
from vsrcli.pipeline.streams import KEEP_SUFFIXES, TASK_TAGS, check_output, open_source

STATE_DIR = ".vsrcli-batch"
MANIFEST = "manifest.json"
VERSION = 1


@dataclass
class VideoResult:
    """One row of the summary."""

    input: Path
    output: Path | None = None
    status: str = "queued"  # queued, planning, running, joining, done, skipped, failed
    frames: int = 0
    done_frames: int = 0
    segments: int = 0
    resumed_segments: int = 0
    scene_cuts: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    videos: list[VideoResult]
    elapsed_s: float = 0.0
    executor: str = ""
    workers: int = 1

    @property
    def failed(self) -> list[VideoResult]:
        return [v for v in self.videos if v.status == "failed"]

    @property
    def frames(self) -> int:
        return sum(v.frames for v in self.videos if v.status == "done")


@dataclass(frozen=True)
class BatchProgress:
    """Overall frames done / known total (grows while videos are planned), speed, and the video that moved."""

    done: int
    total: int
    fps: float
    elapsed_s: float
    video: VideoResult


BatchCallback = Callable[[BatchProgress], None]


def output_name(source: Path, task: str, is_folder: bool) -> str:
    """``name.upscaled.mp4`` as restore's default (``.mkv`` for other containers; a folder for frames)."""
    tag = TASK_TAGS.get(task, task)
    if is_folder:
        return f"{source.name}.{tag}"
    suffix = source.suffix.lower() if source.suffix.lower() in KEEP_SUFFIXES else ".mkv"
    return f"{source.stem}.{tag}{suffix}"


@dataclass
class _Video:
    """Driver-side state of one video while it runs."""

    result: VideoResult
    plan: VideoPlan
    source: Any
    state: Path
    began: float
    remaining: set[int] = field(default_factory=set)
    sigma: float | None = None  # 0-255 scale, as restore_video feeds it
    handles: dict[int, int] = field(default_factory=dict)


def run_batch(
    inputs: Iterable[str | Path],
    outdir: str | Path,
    *,
    options: RestoreOptions,
    ray: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 0,
    segment: int | None = None,
    max_retries: int = 3,
    progress: BatchCallback | None = None,
    on_download: DownloadCallback | None = None,
    executor: Any = None,
) -> BatchReport:
    """Restore every input into ``outdir`` with the same frames as ``restore_video`` would write.

    ``options`` are those of ``restore_video`` (``resume`` skips the segments an interrupted batch finished).
    ``ray``: None (local), ``auto``, ``local`` or a cluster address. ``workers``: parallel segments (local
    processes without Ray; default one, in this process). ``segment``: kept frames per segment (default: the
    video split evenly over the workers, at most 1200 frames). Returns a report; failed videos are in it,
    not raised, so the others finish.
    """
    t0 = time.monotonic()
    if segment is not None and segment < 1:
        raise UsageError(f"--segment {segment}: expected at least 1 frame")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: expected at least 1")
    out_root = Path(outdir)
    found = find_inputs(inputs, skip=lambda p: is_batch_output(p, out_root))
    if not found:
        raise UsageError("no inputs")
    targets = [out_root / f.subfolder / output_name(f.path, options.task, f.path.is_dir()) for f in found]
    check_collisions([f.path for f in found], targets)
    from vsrcli.io.video import check_encoder

    # --crf, --preset, --codec: before any decoding
    check_encoder(Path("any.mkv"), options.codec, options.crf, options.preset)
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_root}: cannot create ({exc.strerror})") from exc
    if not os.access(out_root, os.W_OK | os.X_OK):
        raise OutputError(f"{out_root}: folder is not writable")

    # the engine once in the driver, on the CPU: model download, task and scale check, noise conditioning,
    # fingerprint. Workers get the same options with the model spec resolved and run the same engine.
    engine = Engine.load(options, device="cpu", on_download=on_download)
    spec = options.model_spec() if options.model is None else options.model
    worker_options = options.with_changes(model=spec, real=False)

    results = [VideoResult(f.path, output=target) for f, target in zip(found, targets, strict=True)]
    report = BatchReport(results)
    ex = executor if executor is not None else make_executor_for(ray, workers, gpus_per_worker, max_retries)
    report.executor = type(ex).__name__
    report.workers = int(getattr(ex, "capacity", 1))
    crash = os.environ.get(CRASH_ENV) if report.executor != "InlineExecutor" else None

    videos: dict[str, _Video] = {}
    owner: dict[int, tuple[str, int]] = {}  # handle -> (video id, segment)
    queue: list[SegmentTask] = []
    counters = {"done": 0, "total": 0, "computed": 0}
    running: dict[tuple[str, int], int] = {}  # frames done inside segments still running in this process

    def emit(result: VideoResult) -> None:
        if progress is not None:
            elapsed = time.monotonic() - t0
            moving = sum(running.values())
            fps = (counters["computed"] + moving) / elapsed if elapsed > 0 else 0.0
            progress(BatchProgress(counters["done"] + moving, counters["total"], fps, elapsed, result))

    def inside_segment(task: SegmentTask, done: int) -> None:
        """Progress within a segment run in this process (the inline executor), frame by frame."""
        v = videos.get(task.video_id)
        if v is not None:
            running[(task.video_id, task.index)] = done
            emit(v.result)

    if progress is not None and hasattr(ex, "on_frames"):
        ex.on_frames = inside_segment

    def fail(result: VideoResult, message: str, vid: str | None = None) -> None:
        result.status, result.error = "failed", message
        if vid is not None and vid in videos:
            v = videos.pop(vid)
            result.wall_s = time.monotonic() - v.began
            counters["total"] -= v.plan.frames - result.done_frames
        emit(result)

    def submit_ready() -> None:
        while queue and ex.pending() < report.workers:
            t = queue.pop(0)
            if t.video_id not in videos:
                continue
            handle = ex.submit(t)
            owner[handle] = (t.video_id, t.index)

    try:
        for result in results:
            began = time.monotonic()
            result.status = "planning"
            emit(result)
            try:
                v = _plan_video(result, out_root, engine, segment, report.workers)
            except VsrError as exc:
                fail(result, str(exc))
                continue
            if v is None:  # skipped
                emit(result)
                continue
            v.began = began
            vid = v.plan.video_id
            videos[vid] = v
            counters["total"] += v.plan.frames
            counters["done"] += result.done_frames
            result.status = "running"
            emit(result)
            source = v.source
            for seg in v.plan.segments:
                if seg.index not in v.remaining:
                    continue
                files: tuple[str, ...] = ()
                if source.kind == "folder":
                    lo, hi = source.start + seg.read_start, source.start + seg.read_stop
                    files = tuple(str(f) for f in source.files[lo:hi])
                queue.append(
                    SegmentTask(
                        video_id=vid,
                        name=result.input.stem,
                        index=seg.index,
                        input=str(result.input),
                        kind=source.kind,
                        offset=source.start,
                        windows=seg.windows,
                        start_pts=v.plan.pts[seg.read_start] if seg.read_start > 0 else None,
                        files=files,
                        state_dir=str(v.state),
                        options=worker_options,
                        sigma=v.sigma,
                        crash=crash,
                    )  # fmt: skip
                )
            if not v.remaining:
                _finish(v, videos, options, engine.rules.scale, fail, emit)
            submit_ready()
        while ex.pending():
            _drain(ex, owner, videos, counters, fail, emit, options, engine.rules.scale, running)
            submit_ready()
    except KeyboardInterrupt:
        raise Interrupted("interrupted; finished segments are kept for --resume") from None
    finally:
        if executor is None:
            ex.close()
    for vid in list(videos):  # anything left without a result (should not happen)
        fail(videos[vid].result, "internal error: segments never finished", vid)
    report.elapsed_s = time.monotonic() - t0
    return report


_OUTPUT_STEM = re.compile(rf"\.(?:{'|'.join(TASK_TAGS.values())})(?:-\d+)?$")


def is_batch_output(path: Path, out_root: Path) -> bool:
    """A file a batch into ``out_root`` writes (``name.upscaled.mp4`` below it): found again when OUTDIR
    lies inside an input folder, it must not become an input of the re-run."""
    try:
        inside = out_root.resolve() in path.resolve().parents
    except (OSError, RuntimeError):
        return False
    return inside and _OUTPUT_STEM.search(path.stem) is not None


def check_collisions(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """Refuse, before any work, two inputs writing the same output, or an output that is an input."""
    owner: dict[str, Path] = {}
    sources = {os.path.abspath(p): p for p in inputs}
    for source, target in zip(inputs, outputs, strict=True):
        key = os.path.abspath(target)
        if key in sources:
            raise UsageError(f"the output of {source} would be {target}, which is an input; use another -o")
        if key in owner:
            raise UsageError(
                f"{owner[key]} and {source} would both be written to {target}",
                hint="rename one of them, or run them in separate batches",
            )
        owner[key] = source


def make_executor_for(ray: str | None, workers: int | None, gpus: float, retries: int) -> Any:
    from vsrcli.batch.executors import make_executor

    return make_executor(ray, workers, gpus, retries)


def _plan_video(
    result: VideoResult, out_root: Path, engine: Engine, segment: int | None, workers: int
) -> _Video | None:
    """Probe and decode the input once, plan its segments, set up (or reuse) its state folder.

    The output path and the encoder are checked before the decoding, as ``restore_video`` does.
    """
    from vsrcli.io.video import check_encoder

    o = engine.options
    path = result.input
    source = open_source(path, o.start, o.end)
    if result.output is None:
        result.output = out_root / output_name(path, o.task, source.kind == "folder")
    if result.output.exists() and not o.overwrite:
        result.status = "skipped"
        result.error = "output exists (pass --overwrite to replace it)"
        return None
    try:
        result.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{result.output.parent}: cannot create ({exc.strerror})") from exc
    check_output(result.output, path, o.overwrite, folder=source.kind == "folder")
    if source.kind != "folder":
        check_encoder(result.output, o.codec, o.crf, o.preset)
    vid = video_id(path)
    plan = VideoPlan(path, vid)
    detector = SceneCutDetector() if o.scene_detect else None
    shape = None
    for frame, stamp in source.frames():
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise InputError(f"{path}: frame {source.start + plan.frames} changes size")
        if detector is not None:
            cut = detector.push(frame)
            if cut is not None:
                plan.cuts.append(cut)
        plan.pts.append(int(stamp))
        plan.frames += 1
    if detector is not None:
        last = detector.finish()
        if last is not None:
            plan.cuts.append(last)
    if plan.frames == 0:
        raise InputError(f"{path}: no frames to restore")
    warnings: list[str] = []
    engine.user_tile(warnings)  # the note when --tile is raised (each worker clamps it the same way)
    level, _ = engine.resolve_sigma(source, warnings)
    result.warnings += warnings
    target = segment if segment is not None else auto_segment(plan.frames, workers, o.chunk)
    plan.segments = plan_segments(plan.frames, plan.cuts, o.chunk, o.overlap, o.fade, target)
    result.frames = plan.frames
    result.scene_cuts = list(plan.cuts)
    result.segments = len(plan.segments)

    state = out_root / STATE_DIR / vid
    manifest = {
        "version": VERSION,
        "input": input_identity(path),
        # as asked: each worker resolves the device and precision for itself
        "settings": engine.identity(level, o.start, o.end, device=o.device, precision=o.precision),
        "segments": [[s.core_start, s.core_stop] for s in plan.segments],
    }
    remaining = {s.index for s in plan.segments}
    old = _read_manifest(state)
    if o.resume and old == manifest:
        for seg in plan.segments:
            done = read_done(state, seg.index)
            if done and done.get("core") == [seg.core_start, seg.core_stop]:
                remaining.discard(seg.index)
                result.resumed_segments += 1
                result.done_frames += seg.frames
    else:
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        tmp = state / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, state / MANIFEST)
    return _Video(result, plan, source, state, time.monotonic(), remaining, sigma=level)


def _read_manifest(state: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _drain(
    ex: Any,
    owner: dict[int, tuple[str, int]],
    videos: dict[str, _Video],
    counters: dict[str, Any],
    fail: Callable[..., None],
    emit: Callable[[VideoResult], None],
    options: RestoreOptions,
    scale: int,
    running: dict[tuple[str, int], int],
) -> None:
    """Wait for finished segments and join the videos that are now complete."""
    for handle, outcome in ex.wait():
        vid, index = owner.pop(handle)
        running.pop((vid, index), None)  # counted in full below (or not at all when it failed)
        v = videos.get(vid)
        if v is None:  # the video already failed
            continue
        if isinstance(outcome, BaseException):
            fail(v.result, f"segment {index}: {outcome}", vid)
            continue
        if not outcome.ok:
            fail(v.result, outcome.error, vid)
            continue
        v.remaining.discard(index)
        frames = v.plan.segments[index].frames
        v.result.done_frames += frames
        counters["done"] += frames
        counters["computed"] += frames
        emit(v.result)
        if not v.remaining:
            _finish(v, videos, options, scale, fail, emit)


def _finish(
    v: _Video,
    videos: dict[str, _Video],
    options: RestoreOptions,
    scale: int,
    fail: Callable[..., None],
    emit: Callable[[VideoResult], None],
) -> None:
    """Encode the video from its segments, check the frame accounting, then drop the segment files."""
    result = v.result
    result.status = "joining"
    emit(result)
    try:
        warnings = join_segments(v.plan, v.source, v.state, result.output, options, scale)
    except VsrError as exc:
        fail(result, str(exc), v.plan.video_id)
        return
    except OSError as exc:
        fail(result, f"{result.output}: {exc}", v.plan.video_id)
        return
    result.warnings += [w for w in warnings if w not in result.warnings]
    shutil.rmtree(v.state, ignore_errors=True)
    _remove_empty(v.state.parent)
    videos.pop(v.plan.video_id, None)
    result.status = "done"
    result.wall_s = time.monotonic() - v.began
    emit(result)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
