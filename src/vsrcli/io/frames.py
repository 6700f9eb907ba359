"""Folders of still frames (PNG/JPEG/BMP): natural ordering, RGB uint8 in; PNG out at 8 or 16 bits."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from vsrcli.errors import InputError, OutputError
from vsrcli.io.colour import to_8_bit
from vsrcli.io.video import ffmpeg_reason

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(name: str) -> list[object]:
    """Sort key so that frame2 < frame10 (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a folder in natural order; an InputError if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of frames")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"{folder}: no image frames (.png, .jpg, .bmp, ...) found")
    return sorted(files, key=lambda p: natural_key(p.name))


_TORCHVISION_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_problem(data: bytes) -> str | None:
    """What is wrong with a PNG file's structure (signature, chunk lengths, chunk CRCs, a complete compressed
    image), or None. The last check matters: FFmpeg's decoder turns image data cut short (with valid chunk
    CRCs) into a partly garbage frame without an error."""
    if data[:8] != _PNG_SIGNATURE:
        return "no PNG signature"
    pos = 8
    image: list[bytes] = []
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        name = kind.decode("latin-1", errors="replace")
        if end > len(data):
            return f"truncated in chunk {name}"
        if zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return f"chunk {name} fails its checksum"
        if kind == b"IDAT":
            image.append(data[pos + 8 : end - 4])
        if kind == b"IEND":
            return _inflate_problem(b"".join(image))
        pos = end
    return "truncated before its end chunk"


def _inflate_problem(stream: bytes) -> str | None:
    """Whether the IDAT chunks hold one complete zlib stream (its Adler-32 checked at the end)."""
    inflater = zlib.decompressobj()
    try:
        inflater.decompress(stream)
    except zlib.error:
        return "corrupt image data"
    return None if inflater.eof else "image data cut short"


def _read_with_av(path: Path) -> np.ndarray:
    """BMP, TIFF and anything else FFmpeg's image demuxer knows."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, StopIteration, OSError) as exc:
        raise InputError(f"{path}: cannot decode image ({ffmpeg_reason(exc)})") from exc


def _decode_png(raw: bytes, path: Path) -> np.ndarray:
    """A PNG file's bytes -> (H, W, 3) uint8 RGB with FFmpeg's decoder: no container, no torchvision (whose
    import alone took 1.9 s of a short run), and palette images come out as their colours."""
    import av

    try:
        codec = av.CodecContext.create("png", "r")
        frames = codec.decode(av.Packet(raw)) or codec.decode(None)
        frame = frames[0]
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode image ({ffmpeg_reason(exc)})") from exc
    if max(c.bits for c in frame.format.components) > 8:
        return to_8_bit(frame.to_ndarray(format="rgb48le"))
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))


def _torch_reason(exc: BaseException) -> str:
    """torchvision's first line, or "corrupt" where that line is a C++ location rather than a reason."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if "Exception raised from" not in text and ".cpp" not in text else "corrupt"


def read_image(path: str | Path) -> np.ndarray:
    """One image as (H, W, 3) uint8 RGB; grey is replicated, alpha dropped, 16-bit scaled to 8-bit."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _TORCHVISION_SUFFIXES:
        return _read_with_av(path)
    if suffix == ".png":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        problem = png_problem(raw)
        if problem is not None:  # a clear reason, rather than the decoder's
            raise InputError(f"{path}: corrupt PNG ({problem})")
        return _decode_png(raw, path)
    # JPEG and WebP through libjpeg-turbo / libwebp, as PIL and OpenCV decode them (FFmpeg's JPEG decoder
    # differs by a level here and there, which would move benchmark figures on JPEG datasets)
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        data = read_file(str(path))
        img = decode_image(data, mode=ImageReadMode.UNCHANGED)
    except (RuntimeError, OSError) as exc:
        raise InputError(f"{path}: cannot decode image ({_torch_reason(exc)})") from exc
    arr = img.permute(1, 2, 0).numpy()
    if arr.dtype == np.uint16:
        arr = to_8_bit(arr)
    elif arr.dtype != np.uint8:
        raise InputError(f"{path}: unsupported image sample type {arr.dtype}")
    channels = arr.shape[2]
    if channels in (1, 2):  # grey, grey+alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif channels == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


# zlib level 1 with Paeth prediction: on 1280x720 frames of an x4 output 36 ms a frame against 369 for
# libpng's default (level 6, torchvision's encode_png), for 13% more bytes; a sequence writer kept pace with
# the network only so. FFmpeg's encoder, through PyAV, already a dependency.
PNG_OPTIONS = {"pred": "paeth", "compression_level": "1"}


def encode_png(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 or uint16 RGB -> the bytes of a lossless PNG file of that bit depth."""
    import av

    if rgb.dtype not in (np.uint8, np.uint16) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 or uint16, got {rgb.shape} {rgb.dtype}")
    pix_fmt = "rgb24" if rgb.dtype == np.uint8 else "rgb48be"  # PNG stores 16-bit samples big-endian
    try:
        codec = av.CodecContext.create("png", "w")
        codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
        codec.options = PNG_OPTIONS
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=pix_fmt)
        return b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    except av.FFmpegError as exc:
        raise OutputError(f"PNG encoding failed ({ffmpeg_reason(exc)})") from exc


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 or uint16 RGB as PNG (lossless, same bit depth), whatever the suffix says."""
    data = encode_png(rgb)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from exc


def read_folder(folder: str | Path, max_frames: int | None = None) -> np.ndarray:
    """A whole (small) folder as (T, H, W, 3) uint8; for benchmarks and training, not for long videos."""
    files = list_frames(folder)[:max_frames]
    frames = [read_image(p) for p in files]
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError(f"{folder}: frames differ in size {sorted(shapes)}")
    return np.stack(frames)
