"""``RestoreOptions``: every setting of one restoration, checked once, shared by ``restore_video`` and batch.

Why one frozen object: the single-file commands and the batch workers used to take the same two dozen settings
as loose keyword arguments and each checked (or forgot) a different subset. Here the checks that need no model
and no input run at construction, so a bad combination is a UsageError before anything is decoded, whatever
the caller. Importing this module pulls no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vsrcli.errors import UsageError

TASKS = ("upscale", "denoise", "deblur", "decompress")
DEFAULT_CHUNK = 40
DEFAULT_OVERLAP = 10
DEFAULT_TILE_OVERLAP = 16
#: The zoo's ``default_for`` key of the real-world x4 model (`vsrcli upscale --real`).
REAL_WORLD = "upscale --real"


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore: the model and task, where to compute, how to cut the video, how to encode.

    ``model`` is a zoo name, a checkpoint path, an nn.Module following the network contract, or None for
    the task's shipped default (``real`` picks the real-world x4 model instead). ``tile`` is the tile side in
    input pixels: None picks one from free memory, 0 never tiles. ``start``/``end`` select frames
    [start, end).
    ``fade`` cross-fades that many frames at each chunk seam (0: overlaps are only context). ``sigma`` is the
    noise level of a noise-conditioned denoiser on the 0-255 scale, or ``"auto"`` to estimate it. ``resume``
    keeps finished work so an interrupted run continues. Official zoo weights are downloaded on first use
    unless ``offline`` (or ``VSRCLI_OFFLINE=1``).
    """

    model: Any = None
    weights: str | Path | None = None
    task: str = "upscale"
    real: bool = False
    device: str = "auto"
    precision: str = "auto"
    chunk: int = DEFAULT_CHUNK
    overlap: int = DEFAULT_OVERLAP
    fade: int = 0
    tile: int | None = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    start: int | None = None
    end: int | None = None
    sigma: float | str | None = None
    scene_detect: bool = True
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    overwrite: bool = False
    resume: bool = False
    offline: bool = False

    def __post_init__(self) -> None:
        from vsrcli.device import precision_choice

        precision_choice(self.precision)
        if self.task not in TASKS:
            raise UsageError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.chunk < 1 or self.overlap < 0 or self.fade < 0 or self.fade > self.overlap:
            raise UsageError(
                f"--chunk {self.chunk} --overlap {self.overlap} --fade {self.fade}: "
                "need chunk >= 1 and 0 <= fade <= overlap"
            )
        if (self.tile is not None and self.tile < 0) or self.tile_overlap < 0:
            raise UsageError("--tile and --tile-overlap must not be negative")
        if self.start is not None and self.start < 0:
            raise UsageError(f"--start {self.start}: must not be negative")
        if self.end is not None and (self.end < 1 or (self.start is not None and self.end <= self.start)):
            raise UsageError(f"--end {self.end}: must be after --start ({self.start or 0})")
        if self.real and self.task != "upscale":
            raise UsageError(f"--real picks a real-world x4 model; it does not apply to {self.task}")
        if self.real and self.model is not None:
            raise UsageError("--real picks the shipped real-world model; give either --real or --model")
        if self.sigma is not None:
            if self.task != "denoise":
                raise UsageError(f"--sigma sets a denoiser's noise level; it does not apply to {self.task}")
            from vsrcli.pipeline.noise import parse_sigma

            object.__setattr__(self, "sigma", parse_sigma(self.sigma))
        if self.weights is not None and not isinstance(self.model, (str, Path)) and self.model is not None:
            raise UsageError("--weights goes with a zoo model name")

    @property
    def download(self) -> bool:
        """Whether missing official weights may be fetched (not with ``offline`` or ``VSRCLI_OFFLINE``)."""
        from vsrcli.models.hub import offline_from_env

        return not (self.offline or offline_from_env())

    def with_changes(self, **changes: Any) -> RestoreOptions:
        """A copy with some fields changed, checked again."""
        return replace(self, **changes)

    def model_spec(self) -> Any:
        """The model to load: as given, or the zoo's default for this task (None if none is shipped)."""
        if self.model is not None:
            return self.model
        from vsrcli.models.zoo import default_for

        entry = default_for(REAL_WORLD if self.real else self.task)
        return None if entry is None else entry.name
