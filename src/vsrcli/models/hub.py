"""The weights cache and verified downloads.

Files live in ``$VSRCLI_HOME/weights`` (default ``$XDG_CACHE_HOME/vsrcli`` or ``~/.cache/vsrcli``). A download
streams to a temporary name in the same folder, hashes while it writes, checks the SHA-256 prefix the official
file name carries, and only then renames into place: the cache never holds a partial or corrupt file, and a
failure removes whatever it wrote. Only the standard library is used, so this imports no torch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vsrcli import __version__
from vsrcli.errors import DownloadError, WeightsNotFoundError
from vsrcli.models.zoo import ModelEntry, resolve_local_path

#: ``progress(done_bytes, total_bytes_or_None)``, called after every chunk.
ProgressCallback = Callable[[int, "int | None"], None]

#: Set to 1 (or true/yes/on) to never download weights, as ``--offline`` does.
OFFLINE_ENV = "VSRCLI_OFFLINE"
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


def offline_from_env() -> bool:
    """True when ``VSRCLI_OFFLINE`` asks for no downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def home_dir() -> Path:
    """vsrcli's cache root: ``$VSRCLI_HOME``, else ``$XDG_CACHE_HOME/vsrcli``, else ``~/.cache/vsrcli``."""
    explicit = os.environ.get("VSRCLI_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vsrcli"


def weights_dir() -> Path:
    """Folder of downloaded checkpoints."""
    return home_dir() / "weights"


def weights_path(entry: ModelEntry) -> Path:
    """Where ``entry``'s file is (shipped models) or would be once downloaded (official ones)."""
    local = resolve_local_path(entry)
    if local is not None:
        return local
    if entry.local_path is not None and entry.url is None:
        return Path(entry.local_path)
    return weights_dir() / entry.filename


def is_present(entry: ModelEntry) -> bool:
    """True when the weights are on disk (a shipped file or a finished download); no hashing, so fast."""
    return weights_path(entry).is_file()


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(entry: ModelEntry, path: Path | None = None) -> bool:
    """True if the file's SHA-256 starts with the entry's prefix (entries without a prefix always pass)."""
    path = weights_path(entry) if path is None else path
    if not path.is_file():
        raise WeightsNotFoundError(f"no weights file for {entry.name} at {path}")
    return entry.sha256_prefix is None or sha256_of(path).startswith(entry.sha256_prefix.lower())


def download(
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None = None,
    force: bool = False,
    timeout: float = _TIMEOUT_S,
) -> Path:
    """Fetch ``entry`` into the cache and return its path; an existing file is kept unless ``force``.

    Raises DownloadError (saying why) on HTTP or network errors, a short transfer or a checksum mismatch, and
    leaves nothing behind in every case, Ctrl-C included.
    """
    target = weights_path(entry)
    if target.is_file() and not force:
        return target
    if entry.url is None:
        raise WeightsNotFoundError(
            f"{entry.name} is shipped with vsrcli but its file {entry.local_path} is missing",
            hint="reinstall vsrcli or pass --weights FILE",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[DownloadError] = []
    for url in (entry.url, *entry.mirrors):
        try:
            return _download_from(entry, url, target, progress=progress, timeout=timeout)
        except DownloadError as exc:  # try the next mirror; the checksum guards every one of them
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    raise DownloadError(
        f"download of {entry.name} failed from all {len(failures)} sources: "
        + " | ".join(exc.message for exc in failures)
    )


def _download_from(
    entry: ModelEntry, url: str, target: Path, *, progress: ProgressCallback | None, timeout: float
) -> Path:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.filename}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(entry.name, url, out, progress=progress, timeout=timeout)
        if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix.lower()):
            raise DownloadError(
                f"checksum mismatch for {entry.name}: expected sha256 {entry.sha256_prefix}…, "
                f"got {digest[: len(entry.sha256_prefix)]}… (the file was discarded)",
                hint=f"source: {url}",
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _fetch(name: str, url: str, out: BinaryIO, *, progress: ProgressCallback | None, timeout: float) -> str:
    """Stream ``url`` into ``out`` and return the hex SHA-256 of what was written."""
    # imported here: urllib pulls in ssl and email, which `vsrcli models` (listing) never needs
    import urllib.error
    import urllib.request
    from http.client import HTTPException

    request = urllib.request.Request(url, headers={"User-Agent": f"vsrcli/{__version__}"})
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress is not None:
                progress(0, total)
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {name} failed: HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {name} failed: cannot reach {url} ({exc.reason})") from None
    except (HTTPException, OSError) as exc:  # timeouts, resets, short reads, a full disk
        what = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
        raise DownloadError(
            f"download of {name} was interrupted after {done} bytes ({what}); nothing was kept"
        ) from None
    if total is not None and done != total:
        raise DownloadError(
            f"download of {name} was interrupted: got {done} of {total} bytes; nothing was kept"
        )
    return digest.hexdigest()
