"""Small test videos generated on the fly (no media is committed), for any vsrcli test.

Everything here writes with PyAV directly and converts colours with its own few lines of textbook maths
(:func:`rgb_to_yuv_planes`), so tests of ``vsrcli.io.video`` check it against an independent oracle.

Typical use::

    frames = moving_pattern(8, 48, 64, seed=1)            # (T, H, W, 3) uint8 with texture and motion
    path = make_video(tmp_path / "clip.mkv", frames, fps=25, codec="ffv1", pix_fmt="bgr0", audio="flac")

Lossless choices: ``codec="ffv1"`` with ``pix_fmt`` ``bgr0`` (8-bit RGB), ``gbrp10le`` (10-bit RGB), or any
YUV format (lossless on the YUV planes); ``codec="libx264rgb"`` (crf 0, ``rgb24``); ``libx264`` with crf 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

KR_KB = {"bt709": (0.2126, 0.0722), "smpte170m": (0.299, 0.114), "bt470bg": (0.299, 0.114)}
_SPACE_CODE = {"bt709": 1, "bt470bg": 5, "smpte170m": 6, "unknown": 2}
_PRIM_CODE = {"bt709": 1, "bt470bg": 5, "smpte170m": 6, "unknown": 2}
_TRC_CODE = {"bt709": 1, "smpte170m": 6, "unknown": 2, "gamma28": 5}
_RANGE_CODE = {"tv": 1, "pc": 2, "unknown": 0}


def moving_pattern(t: int, h: int, w: int, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """(T, H, W, 3) RGB frames with texture (smooth blobs, fine noise, a stripe) moving a little each frame.

    ``dtype`` uint8 gives 0-255, uint16 gives full-scale 0-65535. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    big_h, big_w = h + 4 * t + 8, w + 4 * t + 8
    base = rng.random((big_h // 8 + 2, big_w // 8 + 2, 3))
    smooth = np.kron(base, np.ones((8, 8, 1)))[:big_h, :big_w]
    noise = rng.random((big_h, big_w, 3)) * 0.25
    yy, xx = np.mgrid[0:big_h, 0:big_w]
    stripe = (0.15 * np.sin((xx + 2 * yy) / 3.0))[..., None]
    canvas = np.clip(0.6 * smooth + noise + stripe + 0.05, 0.0, 1.0)
    frames = np.stack([canvas[2 * i : 2 * i + h, 3 * i : 3 * i + w] for i in range(t)])
    peak = 255 if dtype == np.uint8 else 65535
    return np.rint(frames * peak).astype(dtype)


def rgb_to_yuv_planes(
    rgb: np.ndarray, bits: int = 8, matrix: str = "bt709", full_range: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Textbook RGB (uint8 or full-scale uint16) -> 4:4:4 Y, Cb, Cr code values (uint16), the test oracle."""
    x = rgb.astype(np.float64) / (255.0 if rgb.dtype == np.uint8 else 65535.0)
    kr, kb = KR_KB[matrix]
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    top = 2**bits - 1
    if full_range:
        planes = (y * top, 2 ** (bits - 1) + cb * top, 2 ** (bits - 1) + cr * top)
    else:
        u = 2 ** (bits - 8)
        planes = (16 * u + 219 * u * y, 128 * u + 224 * u * cb, 128 * u + 224 * u * cr)
    return tuple(np.clip(np.rint(p), 0, top).astype(np.uint16) for p in planes)  # type: ignore[return-value]


def yuv_planes_to_rgb(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    bits: int = 8,
    matrix: str = "bt709",
    full_range: bool = False,
) -> np.ndarray:
    """Textbook 4:4:4 Y, Cb, Cr code values -> float RGB on the 0-255 scale (unrounded), the test oracle."""
    top = 2**bits - 1
    y, u, v = (np.asarray(p, dtype=np.float64) for p in (y, u, v))
    if full_range:
        yn, cb, cr = y / top, (u - 2 ** (bits - 1)) / top, (v - 2 ** (bits - 1)) / top
    else:
        s = 2 ** (bits - 8)
        yn, cb, cr = (y - 16 * s) / (219 * s), (u - 128 * s) / (224 * s), (v - 128 * s) / (224 * s)
    kr, kb = KR_KB[matrix]
    r = yn + 2 * (1 - kr) * cr
    b = yn + 2 * (1 - kb) * cb
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1), 0, 1) * 255.0


def _fill(frame: av.VideoFrame, planes: Sequence[np.ndarray]) -> None:
    for plane, data in zip(frame.planes, planes, strict=False):
        dtype = np.uint8 if data.dtype == np.uint8 else np.dtype("<u2")
        view = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
        view[: data.shape[0], : data.shape[1]] = data


def yuv_frame(
    planes: Sequence[np.ndarray], pix_fmt: str, matrix: str = "bt709", full_range: bool = False
) -> av.VideoFrame:
    """An av.VideoFrame from planes already at the format's resolution and depth, tagged with matrix/range."""
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, pix_fmt)
    bits = av.VideoFormat(pix_fmt).components[0].bits
    _fill(frame, [p.astype(np.uint8) if bits <= 8 else p.astype(np.uint16) for p in planes])
    frame.colorspace = _SPACE_CODE.get(matrix, 2)
    frame.color_range = _RANGE_CODE["pc" if full_range else "tv"]
    return frame


def _subsample(plane: np.ndarray, sx: int, sy: int) -> np.ndarray:
    h, w = plane.shape
    p = np.pad(plane.astype(np.float64), ((0, h % sy), (0, w % sx)), mode="edge")
    p = p.reshape(p.shape[0] // sy, sy, p.shape[1] // sx, sx).mean(axis=(1, 3))
    return np.rint(p).astype(np.uint16)


def _to_frame(rgb: np.ndarray, pix_fmt: str, matrix: str, full_range: bool) -> av.VideoFrame:
    fmt = av.VideoFormat(pix_fmt, rgb.shape[1], rgb.shape[0])
    comps = fmt.components
    bits = max(c.bits for c in comps)
    if fmt.is_rgb:
        if rgb.dtype == np.uint8:
            src = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        else:
            src = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le")
        return src if pix_fmt == src.format.name else src.reformat(format=pix_fmt)
    y, u, v = rgb_to_yuv_planes(rgb, bits, matrix, full_range)
    colour = [c for c in comps if not c.is_alpha]
    if len(colour) == 1:  # grey (+ alpha)
        planes = [y] + ([np.full_like(y, 2**bits - 1)] if len(comps) == 2 else [])
        if pix_fmt.startswith("ya"):
            frame = av.VideoFrame(rgb.shape[1], rgb.shape[0], pix_fmt)
            packed = np.stack([y, planes[-1]], -1).astype(np.uint8 if bits <= 8 else np.uint16)
            _fill(frame, [packed.reshape(y.shape[0], -1)])
            return frame
        return yuv_frame(planes, pix_fmt, matrix, full_range)
    sx, sy = fmt.width // colour[1].width, fmt.height // colour[1].height
    planes = [y, _subsample(u, sx, sy), _subsample(v, sx, sy)]
    if len(comps) == 4:
        planes.append(np.full_like(y, 2**bits - 1))
    if pix_fmt.startswith(("nv", "p0", "p2")):
        raise ValueError("semi-planar formats are not supported by this helper")
    return yuv_frame(planes, pix_fmt, matrix, full_range)


def make_video(
    path: str | Path,
    frames: np.ndarray,
    *,
    fps: Fraction | int = 25,
    codec: str = "ffv1",
    pix_fmt: str | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    matrix: str = "bt709",
    full_range: bool = False,
    tag_colour: bool = True,
    primaries: str | None = None,
    trc: str | None = None,
    rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
    audio: str | None = None,
    audio_seconds: float | None = None,
    subtitles: bool = False,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB ``frames`` ((T, H, W, 3) uint8 or full-scale uint16) to ``path`` (format from its suffix).

    - ``pix_fmt``: default ``bgr0`` for ffv1, ``rgb24`` for libx264rgb, else ``yuv420p``. RGB -> YUV uses the
      given ``matrix`` (``bt709``/``smpte170m``/``bt470bg``) and range; they are tagged unless
      ``tag_colour`` is False (then the file says ``unknown``).
    - ``pts`` in ``time_base`` (default 1/fps): pass uneven steps for variable frame rate.
    - ``rotation``: counter-clockwise degrees stored as a display matrix; ``sample_aspect_ratio``: anamorphic
      pixels (e.g. ``Fraction(4, 3)``).
    - ``audio``: ``"aac"``, ``"flac"``, ``"pcm_s16le"``, ``"libopus"``... a 440 Hz stereo tone as long as the
      video (or ``audio_seconds``). ``subtitles``: one SubRip cue per frame (MKV only).
    - ``container_options``: muxer options, e.g. ``{"movflags": "+faststart"}``.
    - ``codec`` libx264/libx265 get crf 0 unless ``options`` say otherwise (lossless on the YUV planes).
    """
    path = Path(path)
    fps = Fraction(fps)
    if pix_fmt is None:
        pix_fmt = {"ffv1": "bgr0", "libx264rgb": "rgb24", "png": "rgb24"}.get(codec, "yuv420p")
    if time_base is None:
        time_base = 1 / fps
    if pts is None:
        pts = [round(i / (fps * time_base)) for i in range(len(frames))]
    opts = dict(options or {})
    if codec in ("libx264", "libx264rgb"):
        opts.setdefault("crf", "0")
        opts.setdefault("preset", "ultrafast")
    if codec == "libx265":
        opts.setdefault("x265-params", "lossless=1:log-level=error")
    height, width = frames.shape[1:3]
    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps, options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if tag_colour and not av.VideoFormat(pix_fmt).is_rgb:
            stream.codec_context.colorspace = _SPACE_CODE[matrix]
            stream.codec_context.color_range = _RANGE_CODE["pc" if full_range else "tv"]
            stream.codec_context.color_primaries = _PRIM_CODE[primaries or matrix]
            stream.codec_context.color_trc = _TRC_CODE[trc or ("smpte170m" if matrix != "bt709" else "bt709")]
        if rotation:
            stream.set_display_rotation(rotation)
        if sample_aspect_ratio is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        audio_stream = None
        if audio is not None:
            audio_stream = out.add_stream(audio, rate=48000 if audio == "libopus" else 44100, layout="stereo")
        sub_stream = None
        if subtitles:
            sub_stream = out.add_mux_stream("subrip")
            sub_stream.time_base = Fraction(1, 1000)
        for rgb, p in zip(frames, pts, strict=True):
            frame = _to_frame(rgb, pix_fmt, matrix, full_range)
            if not tag_colour:
                frame.colorspace, frame.color_range = 2, 0
            frame.pts = int(p)
            frame.time_base = time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if audio_stream is not None:
            seconds = audio_seconds if audio_seconds is not None else float((pts[-1] + 1) * time_base)
            _write_tone(out, audio_stream, seconds)
        if sub_stream is not None:
            for i, p in enumerate(pts):
                packet = av.Packet(f"cue {i}".encode())
                packet.stream = sub_stream
                packet.time_base = time_base
                packet.pts = packet.dts = int(p)
                packet.duration = 1
                out.mux(packet)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    total = int(round(seconds * rate))
    block = 1024
    for start in range(0, total, block):
        n = min(block, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        samples = np.stack([tone, tone * 0.5])
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode())


def make_audio_only(path: str | Path, seconds: float = 0.5, codec: str = "aac") -> Path:
    """An audio file with no video stream (e.g. ``.m4a`` or ``.mka``)."""
    path = Path(path)
    with av.open(str(path), mode="w") as out:
        _write_tone(out, out.add_stream(codec, rate=44100, layout="stereo"), seconds)
    return path


def make_zero_frame_video(path: str | Path, codec: str = "ffv1", size: tuple[int, int] = (64, 48)) -> Path:
    """A container with a video stream header but not a single frame."""
    path = Path(path)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        out.start_encoding()
    return path


def truncate(src: str | Path, dst: str | Path, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of ``src``'s bytes to ``dst`` (a cut download)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * keep))])
    return Path(dst)


def corrupt(src: str | Path, dst: str | Path, start: float = 0.3, length: int = 4096, seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with ``length`` random bytes overwritten at ``start`` (fraction of size)."""
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    at = int(len(data) * start)
    end = min(len(data), at + length)
    data[at:end] = rng.integers(0, 256, end - at, dtype=np.uint8).tobytes()
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def make_not_video(path: str | Path) -> Path:
    """A text file with a video suffix."""
    Path(path).write_text("this is not a video\n" * 50)
    return Path(path)


def packet_bytes(path: str | Path, kind: str = "audio") -> list[bytes]:
    """The payload of every packet of the first ``kind`` stream, for bit-exact stream-copy checks."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        if not streams:
            return []
        return [bytes(p) for p in container.demux(streams[0]) if p.size]


def stream_times(path: str | Path, kind: str = "video") -> list[Fraction]:
    """Presentation times in seconds (exact rationals) of the first ``kind`` stream's packets, sorted."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return sorted(
            Fraction(p.pts) * p.time_base for p in container.demux(stream) if p.size and p.pts is not None
        )
