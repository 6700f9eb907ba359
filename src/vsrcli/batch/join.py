"""Joining a video from its segment files: the seams blended as ``restore_video`` blends chunk seams.

Every planned frame is written exactly once, in order, checked against the planned timestamps, with the sink
``restore_video`` uses (source streams copied, temporary name, atomic rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vsrcli.batch.plan import VideoPlan
from vsrcli.batch.worker import segment_paths
from vsrcli.errors import OutputError
from vsrcli.pipeline.engine import crossfade
from vsrcli.pipeline.options import RestoreOptions
from vsrcli.pipeline.streams import FolderSink, VideoSink

JOIN_FRAMES = 16  # frames read from a segment file at a time while encoding


def join_segments(
    plan: VideoPlan,
    source: Any,
    state: Path,
    output: Path | None,
    options: RestoreOptions,
    scale: int,
) -> list[str]:
    """Write the final output from the segment files in order; every planned frame exactly once."""
    assert output is not None
    width, height = source.width * scale, source.height * scale
    if source.kind == "folder":  # a folder of frames gives a folder of PNG frames, as restore's default
        sink: Any = FolderSink(output, [p.name for p in source.files[source.start : source.end]])
    else:
        o = options
        sink = VideoSink(
            output, source, width, height, codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt
        )
    try:
        expect = 0
        prev_tail = np.zeros((0,), dtype=np.uint8)  # no seam before the first segment
        for seg in plan.segments:
            files = segment_paths(state, seg.index)
            try:
                frames = np.load(files["frames"], mmap_mode="r", allow_pickle=False)
                pts = np.load(files["pts"], allow_pickle=False)
                tail = np.load(files["tail"], allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise OutputError(f"{plan.input}: segment {seg.index} is missing or damaged ({exc})") from exc
            if seg.core_start != expect or len(frames) != seg.frames or len(pts) != seg.frames:
                raise OutputError(
                    f"{plan.input}: segment {seg.index} holds {len(frames)} frames for [{seg.core_start}, "
                    f"{seg.core_stop}) (frame accounting)"
                )
            if list(pts) != plan.pts[seg.core_start : seg.core_stop]:
                raise OutputError(f"{plan.input}: segment {seg.index} decoded other frames than planned")
            lo = 0
            while lo < len(frames):
                fade = len(prev_tail) if lo == 0 else 0
                hi = lo + max(JOIN_FRAMES, fade)
                block = np.array(frames[lo:hi])
                if fade:  # the seam between segments: blended exactly as restore_video blends chunk seams
                    block = crossfade(prev_tail, block)
                sink.write(block, [int(p) for p in pts[lo:hi]])
                lo = hi
            del frames
            prev_tail = tail
            expect = seg.core_stop
        if expect != plan.frames or sink.count != plan.frames:
            raise OutputError(f"{plan.input}: wrote {sink.count} of {plan.frames} frames (frame accounting)")
        warnings = list(sink.warnings)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    return warnings
