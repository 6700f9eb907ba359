"""Video files through PyAV: probe, streaming decode to RGB, encode that keeps everything but the pixels.

What the output keeps from its source: timestamps (so variable frame rate stays in sync), frame rate, colour
matrix/range/primaries/transfer tags, rotation, sample aspect ratio, bit depth where the codec allows, and the
audio, subtitle and attachment streams (packets copied, not re-encoded; an audio stream the container cannot
hold is converted to the container's default audio codec; a subtitle stream it cannot hold is skipped, with a
note in :attr:`VideoWriter.warnings`).

Colour conversion always uses the source's own matrix and range (an untagged matrix is guessed from the size
as players do: BT.709 from 1280 wide or 577 high, BT.601 below). The writer always tags its output explicitly,
so a player never has to guess differently at the new size.

Pixels in this module are ``(T, H, W, 3)`` RGB: ``uint8`` for 8-bit sources, ``uint16`` full scale (0-65535)
for deeper ones. Alpha is dropped on read (vsrcli's networks are RGB); grey is replicated to three channels.

av is imported lazily so that ``vsrcli --help`` stays light.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from vsrcli.errors import InputError, OutputError, UsageError
from vsrcli.io import colour, encoders

if TYPE_CHECKING:
    import av
    import av.container
    import av.video

VIDEO_SUFFIXES = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".flv",
    ".wmv",
    ".asf",
    ".ts",
    ".m2ts",
    ".mts",
    ".mpg",
    ".mpeg",
    ".vob",
    ".ogv",
    ".3gp",
    ".y4m",
    ".nut",
    ".gif",
)

# Container metadata keys that describe the old muxer rather than the content.
_MUXER_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands", "creation_time", "duration"}
# How many packets probe() reads to judge whether the frame rate is variable.
_VFR_PACKETS = 120


# --------------------------------------------------------------------------------------------------- probe


@dataclass(frozen=True)
class VideoInfo:
    """What vsrcli needs to know about a video file; from :func:`probe`.

    ``num_frames`` is exact when ``num_frames_exact`` (the container stores the count, e.g. MP4, or the header
    has no duration and the packets were counted) and an estimate from duration x frame rate otherwise;
    :func:`count_frames` gives the exact figure by demuxing. Colour fields are FFmpeg's names (``bt709``,
    ``smpte170m``, ``tv``, ``pc``, ``unknown``); ``matrix`` and ``color_range`` are what decoding actually
    uses (the tag, or the documented guess when untagged), while ``color_space`` and ``color_range_tag`` are
    what the file says.
    """

    path: Path
    container: str
    width: int
    height: int
    num_frames: int
    num_frames_exact: bool
    fps: Fraction
    time_base: Fraction
    start_pts: int
    duration: float  # seconds; the video stream's own when known (see duration_is_video), else the file's
    duration_is_video: bool
    is_vfr: bool
    codec: str
    pix_fmt: str
    bit_depth: int
    chroma_subsampling: str  # "420", "422", "444", "440", "411", "410", or "" for RGB/grey
    has_alpha: bool
    is_gray: bool
    is_rgb: bool
    color_range: str  # effective: "tv" or "pc"
    color_range_tag: str  # as tagged: "tv", "pc" or "unknown"
    color_space: str  # matrix as tagged
    matrix: str  # effective matrix used for conversion
    color_primaries: str
    color_trc: str
    rotation: int  # counter-clockwise degrees a player turns the picture for display: 0, 90, 180 or -90
    sample_aspect_ratio: Fraction | None
    audio_streams: int
    subtitle_streams: int
    other_streams: int

    @property
    def dtype(self) -> type[np.uint8] | type[np.uint16]:
        """The sample type of decoded frames: uint8 for 8-bit sources, uint16 for deeper ones."""
        return np.uint8 if self.bit_depth <= 8 else np.uint16


def _av() -> Any:
    import av

    return av


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    if not path.is_file():  # a FIFO or a device: opening it could block forever, and it cannot be re-read
        raise InputError(f"{path}: is not a regular file (a pipe or device); save the video to a file first")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def _open_input(path: Path) -> av.container.InputContainer:
    av = _av()
    _check_file(path)
    try:
        return av.open(str(path), mode="r")
    except av.EOFError as exc:
        raise InputError(f"{path}: no video data (empty or truncated container)") from exc
    except av.FFmpegError as exc:
        reason = ffmpeg_reason(exc)
        raise InputError(
            f"{path}: cannot be opened as a video: not a media file, or truncated/corrupt ({reason})"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc


def ffmpeg_reason(exc: BaseException) -> str:
    """A short reason from an FFmpeg error, without the Errno clutter."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def _pick_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first real video stream (cover art in MP4/MKV is a one-picture 'attached_pic' stream)."""
    av = _av()
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        kinds = sorted({s.type for s in container.streams})
        what = "audio only" if kinds == ["audio"] else ("no streams" if not kinds else ", ".join(kinds))
        raise InputError(f"{path}: no video stream ({what})")
    return streams[0]


def _format_facts(pix_fmt: str) -> tuple[int, bool, bool, bool, str]:
    """(bit depth, has alpha, is grey, is RGB, chroma subsampling) of a pixel format."""
    av = _av()
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    comps = fmt.components
    colour_comps = [c for c in comps if not c.is_alpha]
    bits = max((c.bits for c in colour_comps), default=8)
    has_alpha = any(c.is_alpha for c in comps)
    is_rgb = bool(fmt.is_rgb or fmt.has_palette)
    is_gray = not is_rgb and len(colour_comps) == 1
    sub = ""
    if not is_rgb and not is_gray and len(colour_comps) >= 3:
        sx, sy = 64 // colour_comps[1].width, 64 // colour_comps[1].height
        sub = {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411", (4, 4): "410"}.get(
            (sx, sy), "420"
        )
    return bits, has_alpha, is_gray, is_rgb, sub


def _guess_vfr(container: av.container.InputContainer, stream: Any) -> bool:
    """Best effort: do the first packets' presentation times step unevenly (beyond timestamp rounding)?"""
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size:
                pts.append(packet.pts)
            if len(pts) >= _VFR_PACKETS:
                break
    except _av().FFmpegError:
        pass
    pts.sort()
    if len(pts) >= _VFR_PACKETS:
        pts = pts[:-16]  # with B-frames the last packets read leave holes in presentation order
    steps = np.diff(np.asarray(pts, dtype=np.int64))
    if len(steps) < 2:
        return False
    return int(steps.max() - steps.min()) > 1


def _video_duration(stream: Any, time_base: Fraction) -> float | None:
    """The video stream's own duration in seconds: its header field, or Matroska's per-stream DURATION tag."""
    if stream.duration:
        return float(stream.duration * time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            return None
    return None


def probe(path: str | Path) -> VideoInfo:
    """Everything about a video file that vsrcli needs, checked by decoding its first frame.

    Raises InputError (one line) for a missing or empty file, a file FFmpeg cannot open, no video stream
    (audio only), no decodable frame, or a file corrupt at its start.
    """
    av = _av()
    path = Path(path)
    with _open_input(path) as container:
        stream = _pick_video_stream(container, path)
        stream.thread_type = "AUTO"
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.FFmpegError as exc:
            raise InputError(f"{path}: corrupt or truncated video ({ffmpeg_reason(exc)})") from exc
        if first is None:
            raise InputError(f"{path}: no decodable video frames")

        ctx = stream.codec_context
        width, height = first.width, first.height
        pix_fmt = first.format.name
        bits, has_alpha, is_gray, is_rgb, sub = _format_facts(pix_fmt)
        range_tag = colour.name_of(colour.RANGE_NAMES, first.color_range or ctx.color_range)
        space_tag = colour.name_of(colour.COLORSPACE_NAMES, first.colorspace or ctx.colorspace)
        if space_tag == "gbr" and not is_rgb:
            space_tag = "unknown"
        primaries = colour.name_of(colour.PRIMARIES_NAMES, first.color_primaries or ctx.color_primaries)
        trc = colour.name_of(colour.TRC_NAMES, first.color_trc or ctx.color_trc)
        time_base = stream.time_base or Fraction(1, 1000)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        start_pts = stream.start_time if stream.start_time is not None else (first.pts or 0)
        video_duration = _video_duration(stream, time_base)
        if video_duration is not None and not stream.duration:
            # Matroska's DURATION tag is where the stream ends, not how long it lasts: a file whose
            # timestamps start at 10 s (-output_ts_offset 10) says 10.48 s for 12 frames
            video_duration = max(0.0, video_duration - max(0.0, float(start_pts * time_base)))
        if video_duration is not None:
            duration = video_duration
        elif container.duration:
            duration = container.duration / 1_000_000
            if "matroska" in container.format.name:  # Matroska's segment duration is an end time too
                duration = max(0.0, duration - max(0.0, (container.start_time or 0) / 1_000_000))
        else:
            duration = 0.0
        exact = bool(stream.frames and stream.frames > 0)
        num_frames = int(stream.frames) if exact else round(duration * fps)
        container.seek(0)
        is_vfr = _guess_vfr(container, stream)
        sar = stream.sample_aspect_ratio
        counts = {"audio": 0, "subtitle": 0, "other": 0}
        for s in container.streams:
            if s is stream:
                continue
            key = s.type if s.type in ("audio", "subtitle") else "other"
            counts[key] += 1
        if num_frames <= 0:  # neither a count nor a duration in the header: count packets (no decoding)
            container.seek(0)
            num_frames, exact = sum(1 for p in container.demux(stream) if p.size), True
        rotation = int(round(first.rotation)) % 360 if first.rotation else 0
        return VideoInfo(
            path=path,
            container=container.format.name,
            width=width,
            height=height,
            num_frames=num_frames,
            num_frames_exact=exact,
            fps=Fraction(fps),
            time_base=Fraction(time_base),
            start_pts=int(start_pts),
            duration=duration,
            duration_is_video=video_duration is not None,
            is_vfr=is_vfr,
            codec=ctx.name,
            pix_fmt=pix_fmt,
            bit_depth=bits,
            chroma_subsampling=sub,
            has_alpha=has_alpha,
            is_gray=is_gray,
            is_rgb=is_rgb,
            color_range=colour.effective_range(range_tag, is_rgb=is_rgb, is_gray=is_gray, pix_fmt=pix_fmt),
            color_range_tag=range_tag,
            color_space=space_tag,
            matrix="bt709" if (is_rgb or is_gray) else colour.effective_matrix(space_tag, width, height),
            color_primaries=primaries,
            color_trc=trc,
            rotation=rotation - 360 if rotation > 180 else rotation,
            sample_aspect_ratio=Fraction(sar) if sar and sar > 0 and sar != 1 else None,
            audio_streams=counts["audio"],
            subtitle_streams=counts["subtitle"],
            other_streams=counts["other"],
        )


def check_not_truncated(info: VideoInfo) -> None:
    """Refuse, before any decoding, a file whose last packets stop well before the end its header promises.

    Why: the same check after decoding (:class:`VideoReader`) comes only after the whole clip went through the
    network. Reading the packets of the last two seconds (a seek, no decoding) is enough to see it.
    """
    if info.duration <= 0 or not (info.duration_is_video or info.num_frames_exact):
        return
    av = _av()
    tb = info.time_base
    step = 1 / info.fps if info.fps else Fraction(1, 25)
    with _open_input(info.path) as container:
        stream = _pick_video_stream(container, info.path)
        target = info.start_pts + int(max(0.0, info.duration - 2.0) / tb)
        end: int | None = None
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    stop = packet.pts + (packet.duration or round(step / tb))
                    end = stop if end is None else max(end, stop)
        except av.FFmpegError:
            pass  # a damaged tail reads as an early end
    if end is None:
        return  # nothing readable near the end: leave the verdict to the decoder
    reached = float((end - info.start_pts) * tb)
    if reached < info.duration - 1.5 * float(step):
        raise InputError(
            f"{info.path}: truncated or corrupt video: its packets end at {reached:.2f} s of the "
            f"{info.duration:.2f} s its header promises"
        )


def count_frames(path: str | Path) -> int:
    """Exact number of video frames, by demuxing packets without decoding (cheap: no pixels are made).

    One packet is one frame for every modern codec; an InputError if the file cannot be read.
    """
    av = _av()
    path = Path(path)
    with _open_input(path) as container:
        stream = _pick_video_stream(container, path)
        n = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n += 1
        except av.FFmpegError as exc:
            raise InputError(f"{path}: corrupt or truncated video ({ffmpeg_reason(exc)})") from exc
        return n


_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"wide"),
    (4, b"free"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"FLV"),
    (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"\x30\x26\xb2\x75"),  # ASF / WMV
    (0, b"YUV4MPEG2"),
    (0, b"nut/multimedia"),
    (0, b"GIF8"),
)


def is_video_file(path: str | Path) -> bool:
    """Cheap sniff: an existing file whose first bytes look like a video container, or with a video suffix.

    A True here does not promise the file decodes; :func:`probe` decides that.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    for offset, magic in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return True
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return True
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG-TS
        return True
    return path.suffix.lower() in VIDEO_SUFFIXES


# --------------------------------------------------------------------------------------------------- reader


@dataclass
class FrameChunk:
    """Consecutive decoded frames: ``frames`` (T, H, W, 3) RGB, source ``pts``, first frame ``index``."""

    frames: np.ndarray
    pts: list[int]
    index: int


def _plane(plane: Any, dtype: np.dtype, width: int) -> np.ndarray:
    """A zero-copy (height, width) view of one plane of a frame (rows are ``line_size`` bytes apart)."""
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
    return rows[:, :width]


class _FrameConverter:
    """Decoded frame -> (H, W, 3) RGB with the source's matrix and range (see the module docstring)."""

    def __init__(self, info: VideoInfo) -> None:
        from av.video.reformatter import VideoReformatter

        self.info = info
        self.width, self.height = info.width, info.height
        self._sws = VideoReformatter()  # one swscale context for the whole video, not one per frame

    def _reformat(self, frame: Any, **kwargs: Any) -> Any:
        return self._sws.reformat(frame, **kwargs)

    def __call__(self, frame: Any) -> np.ndarray:
        info = self.info
        w, h = self.width, self.height
        resize = {"width": w, "height": h} if (frame.width, frame.height) != (w, h) else {}
        if info.is_gray:
            return self._gray(frame, resize)
        if info.is_rgb:
            if info.bit_depth <= 8:
                return self._reformat(frame, format="rgb24", **resize).to_ndarray()
            # Planar RGB at its own depth, scaled exactly (swscale's bit replication is off by one at times).
            bits = min(info.bit_depth, 16)
            native = "gbrp16le" if bits == 16 else f"gbrp{bits}le"
            codes = self._reformat(frame, format=native, **resize).to_ndarray(channel_last=True)
            if bits == 16:
                return codes
            return np.rint(codes.astype(np.float32) * (65535.0 / (2**bits - 1))).astype(np.uint16)
        if info.bit_depth <= 8:
            return self._reformat(
                frame,
                format="rgb24",
                src_colorspace=colour.sws_colorspace(info.matrix),
                src_color_range=colour.sws_range(info.color_range),
                **resize,
            ).to_ndarray()
        # 4:4:4 at the source's own depth: swscale only upsamples chroma (no colour or depth change; going
        # to 16 bits instead would scale full-range codes by bit replication, not by a plain shift).
        bits = min(info.bit_depth, 16)
        full = self._reformat(frame, format=f"yuv444p{bits}le", **resize)
        y, u, v = (_plane(p, np.dtype("<u2"), w) for p in full.planes[:3])
        return colour.yuv444_to_rgb16(y, u, v, bits=bits, matrix=info.matrix, color_range=info.color_range)

    def _gray(self, frame: Any, resize: dict[str, int]) -> np.ndarray:
        """Grey (with or without alpha) at its own depth, expanded by its range, replicated to RGB."""
        info = self.info
        bits = min(info.bit_depth, 16)
        native = "gray" if bits <= 8 else f"gray{bits}le"
        plane = self._reformat(frame, format=native, **resize).planes[0]
        codes = _plane(plane, np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2"), self.width)
        if info.color_range == "pc" and bits <= 8:
            return np.repeat(codes[..., None], 3, axis=2)
        rgb16 = colour.yuv_to_rgb16(
            codes, None, None, bits=bits, matrix=info.matrix, color_range=info.color_range
        )
        if bits <= 8:
            return colour.to_8_bit(rgb16)
        return rgb16


class VideoReader:
    """Streaming decode of frames ``[start, end)`` in presentation order, in chunks of bounded size.

    Use as a context manager; :meth:`iter_chunks` yields :class:`FrameChunk`. Memory is one chunk plus the
    decoder's own buffers, whatever the video's length. Frames before ``start`` are decoded and dropped
    (exact for variable frame rate, but slow for a large ``start``). To resume fast, also pass ``start_pts``,
    the source pts of frame ``start`` (known from an earlier run's chunks): the reader then seeks to the
    keyframe before it and drops frames with earlier pts, still exactly; if no frame has that pts it raises
    ValueError. ``pts`` are the source's, in ``info.time_base``, and strictly
    increasing (a broken or missing timestamp is replaced by the previous one plus one frame duration).
    Corrupt data met while decoding raises InputError; so does a file that ends before the frame count its
    container promises (``info.num_frames_exact``), or one that yields no frame at all.
    """

    def __init__(
        self, path: str | Path, start: int = 0, end: int | None = None, *, start_pts: int | None = None
    ) -> None:
        if start < 0 or (end is not None and end <= start):
            raise ValueError(f"bad frame range [{start}, {end})")
        self.path = Path(path)
        self.info = probe(self.path)
        self.start = start
        self.end = end
        self.start_pts = start_pts if start > 0 else None
        self.frames_read = 0  # frames yielded so far
        self._container: av.container.InputContainer | None = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _frames(self) -> Iterator[tuple[int, int, Any]]:
        """(index, pts, av frame) for every decoded frame from the start of the file."""
        av = _av()
        self.close()
        self._container = _open_input(self.path)
        stream = _pick_video_stream(self._container, self.path)
        stream.thread_type = "AUTO"
        step = max(1, round(1 / (self.info.fps * self.info.time_base))) if self.info.fps else 1
        last: int | None = None
        index = 0
        start_pts = self.start_pts
        seeking = start_pts is not None
        if start_pts is not None:
            self._container.seek(start_pts, stream=stream, backward=True, any_frame=False)
        decoded = self._container.decode(stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                raise InputError(
                    f"{self.path}: corrupt or truncated video at frame {index} ({ffmpeg_reason(exc)})"
                ) from exc
            pts = frame.pts
            if seeking and start_pts is not None:
                if pts is None or pts < start_pts:
                    continue
                if pts != start_pts:
                    raise ValueError(f"no frame has pts {start_pts} (next is {pts})")
                seeking, index = False, self.start
            if pts is None or (last is not None and pts <= last):
                pts = (last + step) if last is not None else 0
            last = pts
            yield index, pts, frame
            index += 1
        if index == 0:
            raise InputError(f"{self.path}: no decodable video frames")
        if self.end is None and self.start_pts is None:
            self._check_complete(index, last, step)

    def _check_complete(self, decoded: int, last_pts: int | None, step: int) -> None:
        """A file that stops before the frame count or video duration its header promises is truncated."""
        info = self.info
        if info.num_frames_exact and decoded < info.num_frames:
            raise InputError(
                f"{self.path}: truncated or corrupt video: decoded {decoded} of {info.num_frames} frames"
            )
        if info.duration_is_video and last_pts is not None and info.duration > 0:
            reached = float((last_pts - info.start_pts + step) * info.time_base)
            frame_time = float(1 / info.fps) if info.fps else 0.04
            if reached < info.duration - 1.5 * frame_time:
                raise InputError(
                    f"{self.path}: truncated or corrupt video: frames end at {reached:.2f} s "
                    f"of the {info.duration:.2f} s its header promises"
                )

    def iter_chunks(self, n: int) -> Iterator[FrameChunk]:
        """Chunks of ``n`` frames (the last one shorter), RGB uint8 or uint16 (see the module docstring)."""
        if n < 1:
            raise ValueError("chunk size must be >= 1")
        convert = _FrameConverter(self.info)
        shape = (n, self.info.height, self.info.width, 3)
        buf: np.ndarray | None = None
        pts: list[int] = []
        first_index = self.start
        filled = 0
        try:
            for index, frame_pts, frame in self._frames():
                if index < self.start:
                    continue
                if self.end is not None and index >= self.end:
                    break
                if buf is None:
                    buf = np.empty(shape, dtype=self.info.dtype)
                    first_index = index
                buf[filled] = convert(frame)
                pts.append(frame_pts)
                filled += 1
                self.frames_read += 1
                if filled == n:
                    yield FrameChunk(frames=buf, pts=pts, index=first_index)
                    buf, pts, filled = None, [], 0
            if buf is not None and filled:
                yield FrameChunk(frames=buf[:filled], pts=pts, index=first_index)
        finally:
            self.close()
        if self.frames_read == 0 and self.start > 0:
            raise InputError(f"{self.path}: start frame {self.start} is past the end of the video")

    def __iter__(self) -> Iterator[np.ndarray]:
        """Single frames (H, W, 3), for convenience in tests and small tools."""
        for chunk in self.iter_chunks(16):
            yield from chunk.frames


def read_video(path: str | Path, start: int = 0, end: int | None = None) -> tuple[np.ndarray, list[int]]:
    """A whole (short) clip as (T, H, W, 3) plus its pts: for tests and benchmarks, never for long videos."""
    with VideoReader(path, start, end) as reader:
        chunks = list(reader.iter_chunks(64))
    return np.concatenate([c.frames for c in chunks]), [p for c in chunks for p in c.pts]


# --------------------------------------------------------------------------------------------------- writer


def _yuv_name(sub: str, bits: int) -> str:
    return f"yuv{sub}p" + ("" if bits <= 8 else f"{bits}le")


def choose_pix_fmt(codec: str, source: VideoInfo | None, width: int, height: int) -> tuple[str, list[str]]:
    """The output pixel format for ``codec`` that keeps most of the source, and notes on what it could not.

    Keeps the source's bit depth (10-bit in, 10-bit out) and chroma subsampling when the encoder offers them,
    RGB for RGB sources when the encoder takes RGB, and otherwise steps down (12 -> 10 -> 8 bits; 4:2:0).
    Odd sizes cannot be stored with subsampled chroma, so they get the 4:4:4 format of the same depth (exact
    size kept, no padding or cropping), or an OutputError when the encoder has none.
    """
    av = _av()
    offered = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    notes: list[str] = []
    depth = 8 if source is None else source.bit_depth
    sub = "420" if source is None or source.chroma_subsampling not in ("420", "422", "444") else None
    if sub is None:
        assert source is not None
        sub = source.chroma_subsampling
    wanted: list[str] = []
    depths = [d for d in (16, 14, 12, 10, 8) if d <= max(depth, 8)]
    if source is not None and source.is_rgb:
        for d in depths:
            wanted += ["rgb24", "bgr0", "bgr24", "gbrp"] if d == 8 else [f"gbrp{d}le"]
    if source is not None and source.is_gray:  # grey stays grey (no chroma a colour tint could sit in)
        wanted += ["gray" if d == 8 else f"gray{d}le" for d in depths]
    for d in depths:
        wanted += [_yuv_name(sub, d), _yuv_name("420", d), _yuv_name("444", d)]
    if not offered:
        chosen = wanted[0]
    else:
        chosen = next((f for f in wanted if f in offered), offered[0])
    facts = _format_facts(chosen)
    if source is not None and facts[0] < source.bit_depth:
        notes.append(f"{codec} cannot store {source.bit_depth}-bit video; writing {chosen} ({facts[0]}-bit)")
    sx, sy = _subsampling(chosen)
    if (sx > 1 and width % 2) or (sy > 1 and height % 2):
        full = _yuv_name("444", facts[0])
        if offered and full not in offered:
            raise OutputError(
                f"{codec} cannot encode an odd size {width}x{height} ({chosen} needs even sizes)",
                hint="choose a codec with 4:4:4 support, e.g. --codec libx264 or ffv1",
            )
        notes.append(f"odd size {width}x{height}: writing {full} instead of {chosen} to keep the exact size")
        chosen = full
    return chosen, notes


def _subsampling(pix_fmt: str) -> tuple[int, int]:
    _, _, is_gray, is_rgb, sub = _format_facts(pix_fmt)
    if is_gray or is_rgb:
        return 1, 1
    return {"444": (1, 1), "422": (2, 1), "420": (2, 2), "440": (1, 2), "411": (4, 1), "410": (4, 4)}[sub]


#: Valid --crf of the encoders that take one (x264/x265: 0-51; VP9 and AV1: 0-63).
CRF_RANGES = {
    "libx264": (0, 51),
    "libx264rgb": (0, 51),
    "libx265": (0, 51),
    "libvpx-vp9": (0, 63),
    "libsvtav1": (0, 63),
    "libaom-av1": (0, 63),
}
DEFAULT_CRF = 18  # visually lossless for x264/x265; the encoders' own default (23/28) softens restored detail
DEFAULT_PRESET = "medium"
#: The presets x264 and x265 know.
X26X_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip


def _matroska_codecs() -> set[str]:
    av = _av()
    with av.open(_Named("any.mkv"), mode="w") as container:
        return set(container.supported_codecs)


def default_codec(path: str | Path) -> str:
    """H.264 for every container that takes it; VP9 for .webm (WebM holds only VP8/VP9/AV1)."""
    return "libvpx-vp9" if Path(path).suffix.lower() == ".webm" else "libx264"


class _Named(io.BytesIO):
    """An in-memory file with a name, so FFmpeg guesses the container from the suffix as for a real file."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


def check_encoder(
    path: str | Path,
    codec: str | None = None,
    crf: float | None = None,
    preset: str | None = None,
    format: str | None = None,
) -> tuple[str, list[str]]:
    """The encoder for ``path`` and notes on options it ignores; raises before anything is written.

    Why: these choices used to fail (or be silently ignored) only at the first frame written, after the
    decoding and the network had run. UsageError for a --crf out of the encoder's range or an unknown
    x264/x265 preset; OutputError for an unknown encoder, one that is not a video encoder, a suffix FFmpeg has
    no container for, or a container that cannot hold the encoder's format.
    """
    av = _av()
    path = Path(path)
    codec = codec or default_codec(path)
    try:
        encoder = av.Codec(codec, "w")
    except (av.FFmpegError, ValueError) as exc:
        raise OutputError(f"unknown output codec {codec!r}", hint="e.g. libx264, libx265, ffv1") from exc
    if encoder.type != "video":
        raise OutputError(f"{codec!r} is not a video encoder")
    encoders.require(codec)  # a hardware encoder without its hardware: one line, before any decoding
    notes: list[str] = []
    # hardware encoders take constant quality and presets on x264's scales, mapped in io/encoders.py
    hardware = encoders.is_hardware(codec)
    crf_range = (0, 51) if hardware else CRF_RANGES.get(codec)
    if crf is not None:
        if crf_range is None:
            notes.append(f"{codec} has no constant rate factor; --crf {crf:g} was ignored")
        elif not crf_range[0] <= crf <= crf_range[1]:
            lo, hi = crf_range
            raise UsageError(f"--crf {crf:g} is out of range for {codec}: expected {lo} to {hi}")
    if preset is not None:
        if not hardware and codec not in ("libx264", "libx264rgb", "libx265"):
            notes.append(f"{codec} takes no --preset; --preset {preset} was ignored")
        elif preset not in X26X_PRESETS:
            raise UsageError(
                f"--preset {preset}: unknown to {codec}", hint=f"one of {', '.join(X26X_PRESETS)}"
            )
    try:
        container = av.open(_Named(path.name), mode="w", format=format)
    except (ValueError, av.FFmpegError) as exc:
        raise OutputError(
            f"{path}: unknown container format for suffix {path.suffix!r}",
            hint="use .mp4, .mkv, .mov or .webm",
        ) from exc
    with container:
        supported = container.supported_codecs
        if codec not in supported and encoder.canonical_name not in supported:
            hint = "use .mkv (it holds every codec vsrcli writes)"
            if path.suffix.lower() == ".webm":
                hint = "use --codec libvpx-vp9, or .mkv"
            raise OutputError(f"{path}: {container.format.name} cannot hold {codec} video", hint=hint)
    return codec, notes


@dataclass
class _CopiedStream:
    """One source stream on its way into the output: packets copied, or decoded and re-encoded."""

    source: Any
    target: Any
    transcode: bool
    convert: str | None = None  # text subtitles rewritten packet by packet into this codec


# Per-stream tags that describe the old file (Matroska statistics, muxer names), not the content.
_STREAM_STAT_KEYS = {"BPS", "DURATION", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "ENCODER", "HANDLER_NAME",
                     "VENDOR_ID"}  # fmt: skip
#: Text subtitle codecs whose cues vsrcli can rewrite for a container that does not take them.
TEXT_SUBTITLES = ("mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text")


def carry_stream_tags(source: Any, target: Any) -> None:
    """Language, title and the other per-stream tags, and the dispositions (default, forced, comment...),
    from a source stream to its copy; MP4 calls a track's title ``name``."""
    for key, value in source.metadata.items():
        if key.upper() in _STREAM_STAT_KEYS or key.upper().startswith("_STATISTICS"):
            continue
        if key == "name" and "title" not in source.metadata:
            key = "title"
        target.metadata[key] = value
    try:
        target.disposition = source.disposition
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - PyAV without the setter
        pass


def subtitle_text(codec: str, data: bytes) -> str:
    """The plain text of one text-subtitle packet (styling dropped)."""
    if codec == "mov_text":
        size = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
        text = data[2 : 2 + size].decode("utf-8", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
        if codec in ("ass", "ssa"):  # ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
            text = text.split(",", 8)[-1]
            text = re.sub(r"\{[^}]*\}", "", text).replace("\\N", "\n").replace("\\n", "\n")
    return re.sub(r"<[^>]+>", "", text).strip("\x00")


def subtitle_packet(codec: str, text: str) -> bytes:
    """One packet of ``codec`` (mov_text or subrip) holding ``text``."""
    data = text.encode("utf-8")
    if codec == "mov_text":
        return len(data).to_bytes(2, "big") + data
    return data


def subtitle_target(codec: str, supported: set[str] | frozenset[str]) -> str | None:
    """The text codec a container takes for cues of ``codec`` (SubRip for Matroska, mov_text for MP4/MOV)."""
    if codec not in TEXT_SUBTITLES:
        return None
    for target in ("subrip", "mov_text"):
        if target in supported:
            return target
    return None


@dataclass
class _Copier:
    """Interleaves the source's audio/subtitle packets with the video as the video is written."""

    container: Any
    streams: dict[int, _CopiedStream]
    packets: Iterator[Any]
    pending: Any = None
    done: bool = False
    offset: Fraction = Fraction(0)  # seconds removed from every timestamp (trim)
    end: Fraction | None = None  # packets at or after this source time are dropped (trim)
    trim: bool = False
    muxed: dict[int, int] = field(default_factory=dict)


class VideoWriter:
    """Encode RGB frames to ``path`` with the source's timestamps, colour tags, rotation and other streams.

    The file is written exactly at ``path`` (the container format comes from its suffix, or ``format``);
    making a temporary name and renaming it when complete is the caller's job. Use as a context manager: a
    clean exit flushes the encoder, copies the rest of ``copy_streams_from``'s audio/subtitle/attachment
    streams and writes the trailer; an exit by exception only closes the file (which is then incomplete).

    ``options`` go to the encoder (e.g. ``{"tune": "film"}``), ``container_options`` to the muxer (e.g.
    ``{"movflags": "+faststart"}``).

    ``write(frames, pts)`` takes (T, H, W, 3) uint8 or uint16 RGB and the frames' source timestamps in
    ``time_base`` (``None``: evenly spaced at ``fps``). Timestamps must increase. The output keeps them
    (containers may pick their own time base, e.g. MP4, so they are equal as times, not always as integers).
    With ``trim``, the output starts at the first written frame (every stream shifted by the same amount) and
    copied streams stop at the end of the last written frame: use it for ``--start/--end`` ranges.

    Colour: RGB -> YUV uses the output's matrix and range, which are the source's unless ``matrix`` /
    ``color_range`` say otherwise (BT.709 / limited without a source); all four colour tags are written
    explicitly. ``pix_fmt=None`` chooses with :func:`choose_pix_fmt`. Notes about anything that could not be
    kept (a skipped subtitle stream, a converted audio stream, a lower bit depth) collect in ``warnings``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        source: VideoInfo | None,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction | None = None,
        codec: str | None = None,
        crf: float | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        copy_streams_from: str | Path | None = None,
        trim: bool = False,
        matrix: str | None = None,
        color_range: str | None = None,
        format: str | None = None,
        options: dict[str, str] | None = None,
        container_options: dict[str, str] | None = None,
    ) -> None:
        av = _av()
        self.path = Path(path)
        self.source = source
        self.width, self.height = int(width), int(height)
        self.fps = Fraction(fps)
        self.time_base = Fraction(time_base) if time_base is not None else Fraction(1, 1) / self.fps
        if self.time_base <= 0 or self.fps <= 0:
            raise ValueError("fps and time_base must be positive")
        self.warnings: list[str] = []
        self.frames_written = 0
        self._last_pts: int | None = None
        self._first_pts: int | None = None
        self._closed = False
        self._copier: _Copier | None = None
        self.trim = trim
        from av.video.reformatter import VideoReformatter

        self._sws = VideoReformatter()

        codec, _ = check_encoder(self.path, codec, crf, preset, format)  # ignored options: the caller says
        self.codec = codec
        if pix_fmt is None and encoders.is_hardware(codec):
            pix_fmt = encoders.pixel_format(codec, source.bit_depth if source else 8)
        elif pix_fmt is None:
            pix_fmt, notes = choose_pix_fmt(codec, source, self.width, self.height)
            self.warnings += notes
        else:
            self._check_pix_fmt(codec, pix_fmt)
        self.pix_fmt = pix_fmt
        bits, _, self._out_gray, self._out_rgb, _ = _format_facts(pix_fmt)
        # a grey source written in a YUV format the encoder offers instead of grey: neutral chroma
        self._gray_content = bool(source is not None and source.is_gray and not self._out_gray)
        self.bit_depth = bits

        w, h = self.width, self.height
        self.matrix = matrix or (source.matrix if source else "bt709")
        if (
            self.matrix not in colour.COLORSPACE_CODES
            or colour.effective_matrix(self.matrix, w, h) != self.matrix
        ):
            raise OutputError(f"unsupported colour matrix {self.matrix!r}")
        self.color_range = color_range or (source.color_range if source else "tv")
        if self._out_rgb:
            self.color_range = "pc"
        self.color_primaries = source.color_primaries if source else "bt709"
        self.color_trc = source.color_trc if source else "bt709"

        parent = self.path.parent
        if not parent.is_dir():
            raise OutputError(f"{parent}: output folder does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{parent}: output folder is not writable")
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder")
        try:
            self._container = av.open(
                str(self.path), mode="w", format=format, options=container_options or {}
            )
        except ValueError as exc:
            raise OutputError(
                f"{self.path}: unknown container format for suffix {self.path.suffix!r}",
                hint="use .mp4, .mkv, .mov or .webm",
            ) from exc
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: cannot create ({ffmpeg_reason(exc)})") from exc
        try:
            self._setup_video(codec, crf, preset, options or {})
            if copy_streams_from is not None:
                self._setup_copies(Path(copy_streams_from), trim)
        except BaseException:
            self._container.close()
            raise

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _check_pix_fmt(codec: str, pix_fmt: str) -> None:
        av = _av()
        try:
            av.VideoFormat(pix_fmt)
        except (ValueError, av.FFmpegError) as exc:
            raise OutputError(f"unknown pixel format {pix_fmt!r}") from exc
        offered = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
        if offered and pix_fmt not in offered:
            raise OutputError(f"{codec} cannot encode {pix_fmt}", hint=f"it takes {', '.join(offered)}")

    def _setup_video(
        self, codec: str, crf: float | None, preset: str | None, options: dict[str, str]
    ) -> None:
        av = _av()
        sx, sy = _subsampling(self.pix_fmt)
        if (sx > 1 and self.width % 2) or (sy > 1 and self.height % 2):
            raise OutputError(
                f"{self.pix_fmt} needs an even width and height, got {self.width}x{self.height}",
                hint="leave --pix-fmt unset (odd sizes then use 4:4:4) or use yuv444p",
            )
        quality = DEFAULT_CRF if crf is None else crf
        opts = {**encoders.quality_options(codec, quality, preset), **dict(options)}
        if codec in CRF_RANGES:
            opts.setdefault("crf", f"{quality:g}")
            if codec == "libvpx-vp9":
                opts.setdefault("b", "0")
        if codec in ("libx264", "libx264rgb", "libx265"):
            opts.setdefault("preset", preset or DEFAULT_PRESET)
        if codec == "libx265":
            opts.setdefault("x265-params", "log-level=error")
        rate = self.fps if self.fps.denominator < 1_000_000 else None
        try:
            stream = self._container.add_stream(codec, rate=rate, options=opts)
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"{self.path}: {self._container.format.name} cannot hold {codec} video"
            ) from exc
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        ctx = stream.codec_context
        # frame threads where the encoder has them (x264: PyAV's default, slices only, is much slower)
        ctx.thread_type = "AUTO"
        ctx.color_range = colour.RANGE_CODES[self.color_range]
        ctx.colorspace = 0 if self._out_rgb else colour.COLORSPACE_CODES[self.matrix]
        ctx.color_primaries = colour.PRIMARIES_CODES.get(self.color_primaries, 2)
        ctx.color_trc = colour.TRC_CODES.get(self.color_trc, 2)
        if self.source is not None:
            if self.source.rotation:
                stream.set_display_rotation(self.source.rotation)
            if self.source.sample_aspect_ratio:
                ctx.sample_aspect_ratio = self.source.sample_aspect_ratio
        if codec not in self._container.supported_codecs and ctx.name not in self._container.supported_codecs:
            raise OutputError(f"{self.path}: {self._container.format.name} cannot hold {codec} video")
        try:  # open the encoder now: options it refuses fail here, before any frame is decoded
            ctx.open()
        except (av.FFmpegError, ValueError) as exc:
            reason = ffmpeg_reason(exc)
            raise OutputError(f"{self.path}: {codec} refuses the options {opts} ({reason})") from exc
        self._stream = stream

    def _setup_copies(self, src_path: Path, trim: bool) -> None:
        av = _av()
        src = _open_input(src_path)
        out = self._container
        supported = out.supported_codecs
        streams: dict[int, _CopiedStream] = {}
        meta = {k: v for k, v in src.metadata.items() if k.lower() not in _MUXER_KEYS}
        out.metadata.update(meta)
        try:
            main = _pick_video_stream(src, src_path)
            main_index = main.index
            carry_stream_tags(main, self._stream)  # the video track's language and title
        except InputError:
            main_index = -1
        for s in src.streams:
            name = s.codec_context.name if s.codec_context else "?"
            label = f"{s.type} stream #{s.index} ({name})"
            if s.type == "audio":
                if name in supported or s.codec.name in supported:
                    target = out.add_stream_from_template(s)
                    carry_stream_tags(s, target)
                    streams[s.index] = _CopiedStream(s, target, transcode=False)
                    continue
                target_codec = out.default_audio_codec
                if target_codec in ("none", "", None) or target_codec not in av.codecs_available:
                    self.warnings.append(f"{label} cannot be stored in {out.format.name}; skipped")
                    continue
                audio: Any = s  # an audio stream (PyAV's stubs type the loop variable as a plain Stream)
                rate = audio.codec_context.sample_rate
                rates = av.Codec(target_codec, "w").audio_rates or [rate]
                if rate not in rates:
                    rate = min(rates, key=lambda r: (r < rate, abs(r - rate)))
                target = out.add_stream(target_codec, rate=rate, layout=audio.layout.name)
                carry_stream_tags(s, target)
                streams[s.index] = _CopiedStream(s, target, transcode=True)
                self.warnings.append(
                    f"{label} cannot be stored in {out.format.name}; converted to {target_codec}"
                )
            elif s.type == "subtitle":
                convert = subtitle_target(name, supported)
                if name in supported or s.codec.name in supported:
                    target = out.add_stream_from_template(s)
                    carry_stream_tags(s, target)
                    streams[s.index] = _CopiedStream(s, target, transcode=False)
                elif convert is not None:
                    target = out.add_mux_stream(convert)
                    target.time_base = s.time_base
                    carry_stream_tags(s, target)
                    streams[s.index] = _CopiedStream(s, target, transcode=False, convert=convert)
                    self.warnings.append(
                        f"{label} converted to {convert} for {out.format.name} (text kept, styling dropped)"
                    )
                else:
                    mkv = not out.format.name.startswith("matroska") and name in _matroska_codecs()
                    hint = "use .mkv to keep it" if mkv else "no container vsrcli writes holds it"
                    self.warnings.append(f"{label} cannot be stored in {out.format.name}; skipped ({hint})")
            elif s.type == "attachment":
                if out.format.name.startswith("matroska"):
                    filename = s.metadata.get("filename", f"attachment{s.index}")
                    attachment: Any = s  # an attachment stream (typed as a plain Stream)
                    out.add_attachment(
                        filename, attachment.mimetype or "application/octet-stream", attachment.data
                    )
                else:
                    self.warnings.append(f"{label} ({s.metadata.get('filename', '')}) dropped: not .mkv")
            elif s.type == "video" and s.disposition & av.stream.Disposition.attached_pic:
                self.warnings.append(f"cover art {label} dropped")
            elif s.type == "video" and s.index != main_index:
                self.warnings.append(f"extra {label} dropped (only the first video stream is processed)")
            elif s.type == "data":
                self.warnings.append(f"{label} dropped (data streams are not copied)")
        if not streams:
            src.close()
            return
        packets = src.demux(*[c.source for c in streams.values()])
        self._copier = _Copier(container=src, streams=streams, packets=packets, trim=trim)

    # ------------------------------------------------------------------ writing
    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: np.ndarray, pts: Sequence[int] | None = None) -> None:
        """Encode (T, H, W, 3) uint8/uint16 RGB frames (or one (H, W, 3) frame) with their source pts."""
        if self._closed:
            raise ValueError("writer is closed")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"expected (T, {self.height}, {self.width}, 3) frames, got {frames.shape}")
        if frames.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected uint8 or uint16 frames, got {frames.dtype}")
        if pts is None:
            start = self.frames_written
            step = 1 / (self.fps * self.time_base)
            pts = [round((start + i) * step) for i in range(len(frames))]
        if len(pts) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(pts)} timestamps")
        av = _av()
        for rgb, p in zip(frames, pts, strict=True):
            p = int(p)
            if self._last_pts is not None and p <= self._last_pts:
                raise ValueError(f"timestamps must increase: {p} after {self._last_pts}")
            if self._first_pts is None:
                self._first_pts = p
                self._start_copier()
            frame = self._to_frame(rgb)
            frame.pts = p - self._first_pts if self.trim else p
            frame.time_base = self.time_base
            try:
                self._container.mux(self._stream.encode(frame))
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"{self.path}: encoding failed ({ffmpeg_reason(exc)})") from exc
            self._last_pts = p
            self.frames_written += 1
        self._pump(Fraction(self._last_pts) * self.time_base if self._last_pts is not None else None)

    def _to_frame(self, rgb: np.ndarray) -> Any:
        """RGB -> an av.VideoFrame in the output pixel format and colour tags."""
        av = _av()
        fmt = self.pix_fmt
        if self._gray_content and not self._out_rgb:
            return self._gray_as_yuv(rgb, fmt)
        if self.bit_depth <= 8:
            if rgb.dtype == np.uint16:
                rgb = colour.to_8_bit(rgb)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if self._out_rgb:
                return frame if fmt == "rgb24" else self._sws.reformat(frame, format=fmt)
            if self._out_gray:
                y, _, _ = colour.rgb_to_yuv(
                    rgb, bits=8, matrix=self.matrix, color_range=self.color_range, gray=True
                )
                return self._from_planes([y], fmt)
            return self._sws.reformat(
                frame,
                format=fmt,
                dst_colorspace=colour.sws_colorspace(self.matrix),  # type: ignore[arg-type]  # names work too
                dst_color_range=colour.sws_range(self.color_range),
            )
        if rgb.dtype == np.uint8:
            rgb = rgb.astype(np.uint16) * 257
        if self._out_rgb:
            if not fmt.startswith("gbrp"):
                return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le").reformat(
                    format=fmt
                )
            top = 2**self.bit_depth - 1
            codes = np.rint(rgb.astype(np.float32) * (top / 65535.0)).astype(np.uint16)
            return self._from_planes([codes[..., 1], codes[..., 2], codes[..., 0]], fmt)  # G, B, R planes
        sx, sy = _subsampling(fmt)
        planes = colour.rgb_to_planes(
            rgb, bits=self.bit_depth, matrix=self.matrix, color_range=self.color_range, sx=sx, sy=sy,
            gray=self._out_gray,
        )  # fmt: skip
        if len(planes) == 1:
            return self._from_planes(planes, fmt)
        twin = encoders.PLANAR_TWIN.get(fmt)  # p010le: filled as planar 10-bit, repacked by swscale
        frame = self._from_planes(planes, twin or fmt)
        return frame if twin is None else self._sws.reformat(frame, format=fmt)

    def _gray_as_yuv(self, rgb: np.ndarray, fmt: str) -> Any:
        """Luma from RGB, chroma exactly neutral: grey in, grey out, whatever tint the network added."""
        if self.bit_depth <= 8 and rgb.dtype == np.uint16:
            rgb = colour.to_8_bit(rgb)
        elif self.bit_depth > 8 and rgb.dtype == np.uint8:
            rgb = rgb.astype(np.uint16) * 257
        y, _, _ = colour.rgb_to_yuv(
            rgb, bits=self.bit_depth, matrix=self.matrix, color_range=self.color_range, gray=True
        )
        sx, sy = _subsampling(fmt)
        mid = np.full(((y.shape[0] + sy - 1) // sy, (y.shape[1] + sx - 1) // sx), 1 << (self.bit_depth - 1))
        return self._from_planes([y, mid.astype(y.dtype), mid.astype(y.dtype)], fmt)

    def _from_planes(self, planes: list[np.ndarray], fmt: str) -> Any:
        av = _av()
        frame = av.VideoFrame(self.width, self.height, fmt)
        for plane, data in zip(frame.planes, planes, strict=False):
            dtype = np.uint8 if self.bit_depth <= 8 else np.dtype("<u2")
            view = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
            view[: data.shape[0], : data.shape[1]] = data
        frame.color_range = colour.RANGE_CODES[self.color_range]
        frame.colorspace = 0 if self._out_rgb else colour.COLORSPACE_CODES[self.matrix]
        return frame

    # ------------------------------------------------------------------ copied streams
    def _start_copier(self) -> None:
        c = self._copier
        if c is None or not c.trim:
            return
        assert self._first_pts is not None
        c.offset = Fraction(self._first_pts) * self.time_base

    def _pump(self, until: Fraction | None) -> None:
        """Mux copied packets whose time is at or before ``until`` seconds (None: all that are left)."""
        c = self._copier
        if c is None or c.done:
            return
        av = _av()
        while True:
            packet = c.pending
            if packet is None:
                try:
                    packet = next(c.packets)
                except StopIteration:
                    c.done = True
                    break
                except av.FFmpegError as exc:
                    self.warnings.append(f"copying streams stopped early: {ffmpeg_reason(exc)}")
                    c.done = True
                    break
            when = packet.dts if packet.dts is not None else packet.pts
            t = Fraction(when) * packet.time_base if when is not None else None
            if until is not None and t is not None and t > until:
                c.pending = packet
                return
            c.pending = None
            self._mux_copied(packet, t)
        for copied in c.streams.values():
            if copied.transcode:
                for frame in copied.source.codec_context.decode(None):
                    self._mux_encoded(copied, frame)
                self._mux_encoded(copied, None)

    def _mux_copied(self, packet: Any, t: Fraction | None) -> None:
        c = self._copier
        assert c is not None
        copied = c.streams.get(packet.stream.index)
        if copied is None:
            return
        if packet.size == 0:
            return  # the demuxer's end-of-stream marker (transcoders are flushed once, in _pump)
        if c.trim and t is not None:
            start_t = Fraction(packet.pts) * packet.time_base if packet.pts is not None else t
            if start_t < c.offset or (c.end is not None and start_t >= c.end):
                return
            shift = round(c.offset / packet.time_base)
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        if copied.transcode:
            try:
                frames = copied.source.codec_context.decode(packet)
            except _av().FFmpegError as exc:
                self.warnings.append(f"audio conversion skipped a bad packet ({ffmpeg_reason(exc)})")
                return
            for frame in frames:
                self._mux_encoded(copied, frame)
            return
        if copied.convert is not None:
            text = subtitle_text(copied.source.codec_context.name, bytes(packet))
            if not text.strip():
                return  # mov_text marks the gaps between cues with empty samples
            rewritten = _av().Packet(subtitle_packet(copied.convert, text))
            rewritten.pts, rewritten.dts, rewritten.duration = packet.pts, packet.dts, packet.duration
            rewritten.time_base = packet.time_base
            packet = rewritten
        packet.stream = copied.target
        self._container.mux(packet)
        c.muxed[packet.stream.index] = c.muxed.get(packet.stream.index, 0) + 1

    def _mux_encoded(self, copied: _CopiedStream, frame: Any) -> None:
        if frame is not None:
            frame.pts = None  # the encoder numbers samples itself, starting where the first packet was
        self._container.mux(copied.target.encode(frame))

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Flush the encoder, copy the remaining stream packets, write the trailer. Idempotent."""
        if self._closed:
            return
        av = _av()
        try:
            try:
                self._container.mux(self._stream.encode(None))
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"{self.path}: encoding failed ({ffmpeg_reason(exc)})") from exc
            c = self._copier
            if c is not None and self._last_pts is not None:
                if c.trim:
                    c.end = (Fraction(self._last_pts) + self._frame_step()) * self.time_base
                self._pump(None)
            elif c is not None and self.frames_written == 0:
                pass  # nothing written: copying streams to an empty video makes no sense
        finally:
            self._closed = True
            if self._copier is not None:
                self._copier.container.close()
            try:
                self._container.close()
            except (av.FFmpegError, OSError) as exc:
                raise OutputError(f"{self.path}: cannot finish writing ({ffmpeg_reason(exc)})") from exc

    def _frame_step(self) -> Fraction:
        return Fraction(1) / (self.fps * self.time_base)

    def abort(self) -> None:
        """Close the file without flushing or copying (after an error); the file is incomplete."""
        if self._closed:
            return
        self._closed = True
        if self._copier is not None:
            self._copier.container.close()
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - best effort on an already failing path
            pass
