"""Colour tags and YUV <-> RGB maths that never assume BT.709.

FFmpeg reports colour tags as small integers (``AVColorSpace``, ``AVColorRange``, ...). Here they become the
names FFmpeg prints (``bt709``, ``smpte170m``, ``tv``, ``pc``) so that :class:`~vsrcli.io.video.VideoInfo`
is readable, and they go back to integers when a writer tags its output.

Why our own maths: in the FFmpeg 8 swscale shipped with PyAV 18, 8-bit YUV <-> RGB is exact to rounding,
but the high-bit-depth paths are not (10-bit limited-range white, Y=940, comes out as 65283 of 65535 in
``rgb48le``, and RGB 65535 goes in as Y=943). So 8-bit conversions go through swscale (fast, exact) and
anything deeper goes through the float32 maths below, which follows ITU-R BT.601/709/2020 to the letter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange, by FFmpeg's names.
COLORSPACE_NAMES: dict[int, str] = {
    0: "gbr",
    1: "bt709",
    2: "unknown",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}
PRIMARIES_NAMES: dict[int, str] = {
    1: "bt709",
    2: "unknown",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRC_NAMES: dict[int, str] = {
    1: "bt709",
    2: "unknown",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
RANGE_NAMES: dict[int, str] = {0: "unknown", 1: "tv", 2: "pc"}


def to_8_bit(codes: np.ndarray) -> np.ndarray:
    """16-bit codes to the nearest 8-bit ones (x * 255 / 65535, rounded half up), the one rule every reader
    and writer uses."""
    return ((codes.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _inverse(table: dict[int, str]) -> dict[str, int]:
    return {name: code for code, name in table.items()}


COLORSPACE_CODES = _inverse(COLORSPACE_NAMES)
PRIMARIES_CODES = _inverse(PRIMARIES_NAMES)
TRC_CODES = _inverse(TRC_NAMES)
RANGE_CODES = _inverse(RANGE_NAMES)

# Luma coefficients (Kr, Kb) of each matrix we can convert with.
_KR_KB: dict[str, tuple[float, float]] = {
    "bt709": (0.2126, 0.0722),
    "bt470bg": (0.299, 0.114),
    "smpte170m": (0.299, 0.114),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
    "bt2020nc": (0.2627, 0.0593),
    "bt2020c": (0.2627, 0.0593),  # constant luminance approximated by the non-constant matrix
}

# The names reformat() understands (swscale's SWS_CS_* families).
_SWS_COLORSPACE: dict[str, str] = {
    "bt709": "ITU709",
    "bt470bg": "ITU601",
    "smpte170m": "ITU601",
    "smpte240m": "SMPTE240M",
    "fcc": "FCC",
    "bt2020nc": "BT2020",
    "bt2020c": "BT2020",
}


def name_of(table: dict[int, str], code: int | None) -> str:
    """FFmpeg's name for a tag code; ``unknown`` for unspecified or codes we do not list."""
    if code is None:
        return "unknown"
    return table.get(int(code), "unknown")


def effective_matrix(tagged: str, width: int, height: int) -> str:
    """The matrix to convert with: the tag when we support it, else what players guess from the size.

    An untagged (or unsupported) matrix is BT.709 for HD sizes and BT.601 (``smpte170m``) for SD, the rule
    mpv and most players use, so that our RGB matches what the user saw.
    """
    if tagged in _KR_KB:
        return tagged
    return "bt709" if (width >= 1280 or height > 576) else "smpte170m"


def effective_range(tagged: str, *, is_rgb: bool, is_gray: bool, pix_fmt: str) -> str:
    """``tv`` or ``pc``: the tag, else full range for RGB/grey/``yuvj`` formats and limited for YUV."""
    if tagged in ("tv", "pc"):
        return tagged
    if is_rgb or is_gray or pix_fmt.startswith("yuvj"):
        return "pc"
    return "tv"


def sws_colorspace(matrix: str) -> str:
    """The reformat() name of a matrix we support (see :func:`effective_matrix`)."""
    return _SWS_COLORSPACE[matrix]


def sws_range(color_range: str) -> str:
    """The reformat() name of a range."""
    return "JPEG" if color_range == "pc" else "MPEG"


def _scales(bits: int, color_range: str) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in ``bits``-bit code values."""
    if color_range == "pc":
        peak = float(2**bits - 1)
        return 0.0, peak, float(2 ** (bits - 1)), peak
    unit = float(2 ** (bits - 8))
    return 16.0 * unit, 219.0 * unit, 128.0 * unit, 224.0 * unit


def _yuv_to_rgb_affine(bits: int, matrix: str, color_range: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with ``rgb01 = yuv_codes @ A + b`` for ``bits``-bit Y, Cb, Cr code values."""
    y_off, y_span, c_mid, c_span = _scales(bits, color_range)
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    # rows: contribution of (Y', Cb, Cr) (normalised) to (R, G, B)
    m = np.array(
        [
            [1.0, 1.0, 1.0],
            [0.0, -2.0 * (1.0 - kb) * kb / kg, 2.0 * (1.0 - kb)],
            [2.0 * (1.0 - kr), -2.0 * (1.0 - kr) * kr / kg, 0.0],
        ],
        dtype=np.float64,
    )
    scale = np.array([1.0 / y_span, 1.0 / c_span, 1.0 / c_span])
    a = m * scale[:, None]
    b = -np.array([y_off, c_mid, c_mid]) @ a
    return a.astype(np.float32), b.astype(np.float32)


def _affine(a: np.ndarray, b: np.ndarray, planes: list[np.ndarray], col: int, top: float) -> np.ndarray:
    """``sum_k planes[k] * a[k, col] + b[col]``, clipped to [0, top] and rounded, in float32."""
    acc = planes[0] * a[0, col]
    for k in (1, 2):
        if a[k, col] != 0.0:
            acc += planes[k] * a[k, col]
    acc += b[col]
    np.clip(acc, 0.0, top, out=acc)
    return np.rint(acc, out=acc)


def yuv444_to_rgb16(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, *, bits: int, matrix: str, color_range: str, shift: int = 0
) -> np.ndarray:
    """Full-size Y, Cb, Cr planes (``bits``-bit codes stored ``shift`` bits left) -> (H, W, 3) uint16 RGB.

    Works plane by plane in float32 (about 50-90 ms for a 1080p frame on one core). Out-of-range values clip.
    """
    a, b = _yuv_to_rgb_affine(bits, matrix, color_range)
    a = a * np.float32(65535.0 / 2**shift)
    b = b * np.float32(65535.0)
    planes = [p.astype(np.float32) for p in (y, u, v)]
    out = np.empty((*y.shape, 3), dtype=np.uint16)
    for col in range(3):
        out[..., col] = _affine(a, b, planes, col, 65535.0)
    return out


def yuv_to_rgb16(
    y: np.ndarray, u: np.ndarray | None, v: np.ndarray | None, *, bits: int, matrix: str, color_range: str
) -> np.ndarray:
    """Planes in ``bits``-bit code values (same shape) -> (H, W, 3) uint16 full-scale RGB.

    ``u``/``v`` of ``None`` means grey (no chroma). Values outside the nominal range are clipped.
    """
    if u is None or v is None:
        y_off, y_span, _, _ = _scales(bits, color_range)
        luma = (y.astype(np.float32) - y_off) * np.float32(65535.0 / y_span)
        np.clip(luma, 0.0, 65535.0, out=luma)
        return np.repeat(np.rint(luma).astype(np.uint16)[..., None], 3, axis=2)
    return yuv444_to_rgb16(y, u, v, bits=bits, matrix=matrix, color_range=color_range)


def rgb_to_yuv(
    rgb: np.ndarray, *, bits: int, matrix: str, color_range: str, gray: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(H, W, 3) uint8/uint16 full-scale RGB -> full-resolution Y, U, V planes as uint16 ``bits``-bit codes.

    With ``gray`` only Y is computed (U and V are ``None``). Chroma subsampling is :func:`subsample`'s job.
    """
    peak_in = 255.0 if rgb.dtype == np.uint8 else 65535.0
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    y_off, y_span, c_mid, c_span = _scales(bits, color_range)
    # rows: R, G, B; columns: their weight in Y', Cb, Cr
    m = np.array(
        [
            [kr, -kr / (2.0 * (1.0 - kb)), 0.5],
            [kg, -kg / (2.0 * (1.0 - kb)), -kg / (2.0 * (1.0 - kr))],
            [kb, 0.5, -kb / (2.0 * (1.0 - kr))],
        ]
    )
    a = (m * np.array([y_span, c_span, c_span])[None, :] / peak_in).astype(np.float32)
    b = np.array([y_off, c_mid, c_mid], dtype=np.float32)
    top = float(2**bits - 1)
    planes = [rgb[..., c].astype(np.float32) for c in range(3)]
    y = _affine(a, b, planes, 0, top).astype(np.uint16)
    if gray:
        return y, None, None
    u = _affine(a, b, planes, 1, top).astype(np.uint16)
    v = _affine(a, b, planes, 2, top).astype(np.uint16)
    return y, u, v


def subsample(plane: np.ndarray, sx: int, sy: int) -> np.ndarray:
    """Chroma plane at full resolution -> ``ceil(W/sx) x ceil(H/sy)`` with MPEG-2/H.264 "left" siting.

    Horizontally a [1, 2, 1]/4 filter centred on the even columns (chroma sits on the left luma sample);
    vertically the mean of each row pair (chroma sits between the rows). Edges are replicated.
    """
    x = plane.astype(np.float32)
    if sx == 2:
        padded = np.pad(x, ((0, 0), (1, 1)), mode="edge")
        x = (padded[:, 0:-2:2] + 2.0 * padded[:, 1:-1:2] + padded[:, 2::2]) / 4.0
    if sy == 2:
        if x.shape[0] % 2:
            x = np.pad(x, ((0, 1), (0, 0)), mode="edge")
        x = (x[0::2] + x[1::2]) / 2.0
    return np.rint(x).astype(plane.dtype)


#: Rows per band below which a frame is converted in one piece (threads would cost more than they save).
MIN_BAND_ROWS = 64


def _pool(workers: int) -> Any:
    """A shared thread pool per size: NumPy releases the GIL in its array loops, so bands run in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="vsrcli-colour")
    return pool


_POOLS: dict[int, Any] = {}


def rgb_to_planes(
    rgb: np.ndarray,
    *,
    bits: int,
    matrix: str,
    color_range: str,
    sx: int,
    sy: int,
    gray: bool = False,
    workers: int | None = None,
) -> list[np.ndarray]:
    """(H, W, 3) RGB -> [Y] or [Y, U, V] planes of ``bits``-bit codes with U, V subsampled by ``sx``, ``sy``:
    :func:`rgb_to_yuv` then :func:`subsample`, in row bands on ``workers`` threads (default: one per core).

    Why: a 4K frame takes ~0.3 s in one NumPy thread, longer than a GPU's network call; the bands give the
    very same codes (each starts on a multiple of ``sy`` rows, so no chroma row pair is split).
    """
    import os

    h = rgb.shape[0]
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    step = sy * max(1, -(-h // (workers * sy)))  # ceil(h / workers), rounded up to a multiple of sy
    step = max(step, MIN_BAND_ROWS - MIN_BAND_ROWS % sy)

    def band(r0: int) -> list[np.ndarray]:
        y, u, v = rgb_to_yuv(
            rgb[r0 : r0 + step], bits=bits, matrix=matrix, color_range=color_range, gray=gray
        )
        if u is None or v is None:
            return [y]
        return [y, subsample(u, sx, sy), subsample(v, sx, sy)]

    starts = list(range(0, h, step))
    parts = [band(0)] if len(starts) == 1 else list(_pool(workers).map(band, starts))
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
