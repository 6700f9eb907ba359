"""The one error hierarchy of vsrcli.

Every failure a user can cause or meet is a :class:`VsrError` subclass. Each class carries the exit code the
CLI returns for it, so the mapping from error to exit code lives here and nowhere else. Messages are one line,
say what went wrong and, where there is one, what to do about it.
"""

from __future__ import annotations


class VsrError(Exception):
    """Base of every error vsrcli raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(VsrError):
    """Options that contradict each other or make no sense together."""

    exit_code = 2


class InputError(VsrError):
    """The input cannot be read: missing, not a video, corrupt, no frames, unsupported layout."""

    exit_code = 3


class OutputError(VsrError):
    """The output cannot be written: exists without --overwrite, unwritable folder, unknown codec."""

    exit_code = 4


class ModelError(VsrError):
    """A model name, checkpoint or architecture problem."""

    exit_code = 5


class ModelNotFoundError(ModelError):
    """An unknown zoo name."""


class WeightsNotFoundError(ModelError):
    """The weights file of a known model is not on disk (and downloading was not allowed or failed)."""


class CheckpointError(ModelError):
    """A checkpoint file that cannot be read safely or does not fit the architecture."""


class IncompatibleWeightsError(CheckpointError):
    """Missing, unexpected or mis-shaped keys when loading a state dict strictly."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that wants to run code or build objects beyond plain tensors and containers."""


class DownloadError(ModelError):
    """A download failed, was interrupted or did not match its checksum; nothing was left behind."""


class DeviceError(VsrError):
    """The requested device is not available (e.g. --device cuda without a GPU)."""

    exit_code = 6


class OutOfMemoryError(VsrError):
    """Even the smallest tile did not fit in memory."""

    exit_code = 7


class Interrupted(VsrError):
    """Ctrl-C: the run stopped cleanly and left no partial output."""

    exit_code = 130
