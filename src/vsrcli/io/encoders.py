"""Hardware video encoders (NVIDIA NVENC, Intel Quick Sync): quality settings, pixel formats, availability.

PyAV's bundled FFmpeg includes ``h264_nvenc``, ``hevc_nvenc``, ``av1_nvenc`` and the ``*_qsv`` encoders on
every machine, but they only open where the GPU and its driver are present. :func:`require` tries to open the
encoder on a tiny frame once per process, so a machine without one fails with a one-line error before any
decoding instead of after the first chunk.

Quality follows ``--crf`` as constant quality, the closest thing these encoders have to x264's CRF:

- NVENC: ``rc=vbr`` with ``cq=N`` and no bitrate cap (``b=0``); H.264/HEVC take ``cq`` on x264's 0-51 scale
  (the same number gives a somewhat larger file than x264), AV1's is 0-63 (scaled by 63/51).
- QSV: ICQ through ``global_quality`` (1-51 for H.264/HEVC; AV1 takes 1-255, scaled by 255/51).

``--preset`` names (x264's) map to NVENC's p1 (fastest) .. p7 (best) and to QSV's own preset names. 10-bit
output is ``p010le`` (HEVC and AV1; H.264 NVENC also offers it, but most players cannot play 10-bit H.264).
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

from vsrcli.errors import DeviceError

NVENC = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
QSV = ("h264_qsv", "hevc_qsv", "av1_qsv")
HARDWARE = NVENC + QSV

#: x264 preset -> NVENC preset (p1 fastest, p7 slowest and best); "medium" -> p5, FFmpeg's own default p4.
_NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p3",
    "fast": "p4",
    "medium": "p5",
    "slow": "p6",
    "slower": "p7",
    "veryslow": "p7",
    "placebo": "p7",
}
#: x264 preset -> QSV preset (QSV has no ultrafast/superfast).
_QSV_PRESETS = {
    "ultrafast": "veryfast",
    "superfast": "veryfast",
    "placebo": "veryslow",
}
#: Encoders whose 10-bit input is ``p010le``; the others stay 8-bit.
_TEN_BIT = ("hevc_nvenc", "av1_nvenc", "hevc_qsv", "av1_qsv")
#: Semi-planar formats the writer fills through their planar twin (swscale repacks them).
PLANAR_TWIN = {"p010le": "yuv420p10le", "nv12": "yuv420p"}


def is_hardware(codec: str) -> bool:
    """True for the NVENC and QSV encoders this module knows."""
    return codec in HARDWARE


def quality_options(codec: str, crf: float | None, preset: str | None) -> dict[str, str]:
    """Encoder options for constant quality ``crf`` (x264 scale) and an x264 ``preset`` name."""
    opts: dict[str, str] = {}
    if codec in NVENC:
        if crf is not None:
            top = 63 if codec == "av1_nvenc" else 51
            opts.update(rc="vbr", cq=str(max(1, min(top, round(crf * top / 51)))), b="0")
        if preset is not None:
            opts["preset"] = _NVENC_PRESETS.get(preset, "p5")
    elif codec in QSV:
        if crf is not None:
            top = 255 if codec == "av1_qsv" else 51
            opts["global_quality"] = str(max(1, min(top, round(crf * top / 51))))
        if preset is not None:
            opts["preset"] = _QSV_PRESETS.get(preset, preset)
    return opts


def pixel_format(codec: str, bit_depth: int) -> str:
    """The encoder's input format: ``p010le`` for 10-bit and deeper sources where it has 10-bit, else 8-bit
    (``yuv420p`` for NVENC, ``nv12`` for QSV)."""
    if bit_depth > 8 and codec in _TEN_BIT:
        return "p010le"
    return "nv12" if codec in QSV else "yuv420p"


def _open_error(codec: str) -> str | None:
    """None when ``codec`` opens on a 64x64 frame and encodes it; else FFmpeg's reason."""
    import av

    ctx: Any = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height = 64, 64
    ctx.pix_fmt = pixel_format(codec, 8)
    ctx.time_base = Fraction(1, 25)
    try:
        ctx.open()
        frame = av.VideoFrame(64, 64, ctx.pix_fmt)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        ctx.encode(frame)
        ctx.encode(None)
    except (av.FFmpegError, OSError, ValueError) as exc:
        return str(getattr(exc, "strerror", None) or exc)
    return None


@functools.cache
def _cached_open_error(codec: str) -> str | None:
    return _open_error(codec)


def require(codec: str) -> None:
    """Raise ``DeviceError`` (exit 6: the hardware is missing, not the output path) when ``codec`` is a
    hardware encoder this machine cannot open. Probed once per process."""
    if not is_hardware(codec):
        return
    reason = _cached_open_error(codec)
    if reason is None:
        return
    kind = "an NVIDIA GPU with NVENC and its driver" if codec in NVENC else "an Intel GPU with Quick Sync"
    raise DeviceError(
        f"encoder {codec} is not available on this machine ({reason}); it needs {kind}",
        hint="use a software encoder, e.g. --codec libx264 or libx265",
    )
