"""Typed registry of model checkpoints: the official BasicVSR-family releases and models shipped with vsrcli.

This module is data plus lookups only. It imports neither torch nor numpy, so ``vsrcli models`` can list the
zoo instantly. Downloading lives in :mod:`vsrcli.models.hub`, building and loading in
:mod:`vsrcli.models.api`.

Facts (URLs, file names, architecture arguments, published metrics) come from the official MMEditing 0.x
READMEs/configs, repeated unchanged by MMagic 1.x; the deblur/denoise files are the ones HolyWu/vs-basicvsrpp
mirrors as release assets. Metrics name the channel they were measured on: REDS4 on RGB, all others on Y
(BT.601), crop border 0.
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from vsrcli.errors import ModelNotFoundError, UsageError

Task = Literal["sr-x4", "sr-x4-real", "deblur", "denoise", "decompress"]
TASKS: tuple[str, ...] = get_args(Task)
ARCHS: tuple[str, ...] = (
    "basicvsr",
    "iconvsr",
    "basicvsrpp",
    "basicvsrpp_lite",
    "basicvsrpp_lite_restore",
    "realbasicvsr",
    "realbasicvsr_lite",
)
#: Networks with RealBasicVSR's cleaning module: task ``sr-x4-real``, trained on real-world degradations with
#: the cleaned frames supervised too.
CLEANING_ARCHS: tuple[str, ...] = ("realbasicvsr", "realbasicvsr_lite")

#: The package of the shipped models and their cards: the repository's ``weights/`` folder, which setuptools
#: installs as ``vsrcli/weights`` (package-dir mapping) in a wheel, from an sdist and in an editable install.
WEIGHTS_PACKAGE = "vsrcli.weights"
#: A source checkout run without installing (``PYTHONPATH=src``): ``src/vsrcli/models`` is three down.
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint: where it comes from, how to build its network, what it was trained for, how it scored.

    Frozen so that entries can be shared freely; mappings are copied on construction so that an entry never
    aliases a caller's dict.
    """

    name: str
    """Zoo name, lower case with dashes, e.g. ``basicvsrpp-reds4``."""
    arch: str
    """Key of ``vsrcli.models.arch.ARCHITECTURES``."""
    arch_args: Mapping[str, Any]
    """Keyword arguments of the architecture constructor that reproduce the checkpoint's layout."""
    task: Task
    scale: int
    """4 for x4 super-resolution, 1 for restoration (same size in and out)."""
    url: str | None
    """Download address; None for models that only exist as a file shipped in the repository."""
    filename: str
    """File name in the cache (the official one, whose trailing 8 hex digits are a SHA-256 prefix)."""
    sha256_prefix: str | None
    """Leading hex digits of the file's SHA-256, checked after every download."""
    degradation: str
    """How the training inputs were degraded, in words."""
    training_data: str
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Published results, ``"Vid4 (BIx4, Y)" -> {"psnr": 27.7674, "ssim": 0.8444}``; empty if none."""
    num_params: int | None = None
    """Trainable parameters (buffers such as SPyNet's mean/std not counted)."""
    source: str = ""
    """Upstream config / repository the checkpoint comes from."""
    notes: str = ""
    default_for: tuple[str, ...] = ()
    """Commands this model is the default of (e.g. ``("upscale",)``); empty for the official checkpoints."""
    local_path: str | None = None
    """For shipped models: path of the weights file, absolute or relative to the repository / package root."""
    mirrors: tuple[str, ...] = ()
    """Other addresses of the same file, tried in order when ``url`` fails (the checksum guards them all)."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.arch not in ARCHS:
            raise ValueError(
                f"{self.name}: unknown architecture {self.arch!r}; expected one of {', '.join(ARCHS)}"
            )
        if self.url is None and self.local_path is None:
            raise ValueError(f"{self.name}: an entry needs a url or a local_path")
        object.__setattr__(self, "arch_args", dict(self.arch_args))
        object.__setattr__(self, "metrics", {k: dict(v) for k, v in self.metrics.items()})
        object.__setattr__(self, "default_for", tuple(self.default_for))
        object.__setattr__(self, "mirrors", tuple(self.mirrors))

    @property
    def official(self) -> bool:
        """True for checkpoints published by the authors (downloaded), False for models shipped by vsrcli."""
        return self.local_path is None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (used by ``vsrcli models info --json`` and model cards)."""
        data = asdict(self)
        data["default_for"] = list(self.default_for)
        data["mirrors"] = list(self.mirrors)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelEntry:
        """Inverse of :meth:`to_dict`; unknown keys are an error so that typos in model cards surface."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model entry fields: {', '.join(unknown)}")
        return cls(**copy.deepcopy(dict(data)))


def shipped_dir() -> Path | None:
    """The folder of the shipped weights: the installed ``vsrcli.weights`` package, else the checkout's."""
    try:
        root = Path(str(importlib.resources.files(WEIGHTS_PACKAGE)))
    except ModuleNotFoundError:  # a checkout on PYTHONPATH: src/vsrcli has no weights subpackage
        root = REPO_ROOT / "weights"
    return root if root.is_dir() else None


def resolve_local_path(entry: ModelEntry) -> Path | None:
    """The shipped weights file of ``entry`` if it exists (None for official entries or a missing file).

    Relative paths are looked up under ``$VSRCLI_WEIGHTS_DIR`` (if set), then ``weights/...`` in the package
    data (:func:`shipped_dir`), then the source checkout's root, so the same entry works from a clone and from
    an installed wheel.
    """
    if entry.local_path is None:
        return None
    path = Path(entry.local_path).expanduser()
    candidates = [path] if path.is_absolute() else []
    if not path.is_absolute():
        extra = os.environ.get("VSRCLI_WEIGHTS_DIR")
        if extra:
            candidates += [Path(extra) / path, Path(extra) / path.name]
        shipped = shipped_dir() if path.parts[0] == "weights" else None
        if shipped is not None:
            candidates.append(shipped.joinpath(*path.parts[1:]))
        candidates.append(REPO_ROOT / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


# --- the official checkpoints -------------------------------------------------------------------------------

_MMEDIT = "https://download.openmmlab.com/mmediting/restorers"
_CFG = "open-mmlab/mmagic 0.x configs/restorers"
_HOLYWU = "https://github.com/HolyWu/vs-basicvsrpp/releases/download/model"

_STRIDED = "Strided restoration variant: H and W must be multiples of 4 and at least 256."
_BI = "BIx4: MATLAB-style bicubic x4 downsampling"
_BD = "BDx4: Gaussian blur (sigma 1.6) then x4 subsampling"
_REDS = "REDS (training set minus the REDS4 clips 000, 011, 015, 020)"
_VIMEO = "Vimeo-90K septuplets (training list)"

_BASICVSR = {"mid_channels": 64, "num_blocks": 30}
_ICONVSR_REDS = {"mid_channels": 64, "num_blocks": 30, "keyframe_stride": 5, "padding": 2}
_ICONVSR_VIMEO = {"mid_channels": 64, "num_blocks": 30, "keyframe_stride": 5, "padding": 3}
_PP_C64N7 = {
    "mid_channels": 64,
    "num_blocks": 7,
    "max_residue_magnitude": 10,
    "is_low_res_input": True,
    "cpu_cache_length": 100,
}
_PP_C128N25_SR = {**_PP_C64N7, "mid_channels": 128, "num_blocks": 25}
_PP_C128N25_RESTORE = {**_PP_C128N25_SR, "is_low_res_input": False}
_PP_C64N15_RESTORE = {**_PP_C64N7, "num_blocks": 15, "is_low_res_input": False}
_REALBASICVSR = {
    "mid_channels": 64,
    "num_propagation_blocks": 20,
    "num_cleaning_blocks": 20,
    "dynamic_refine_thres": 255,
    "is_sequential_cleaning": True,
}

# Parameter counts of the official layouts (from the official key tables; SPyNet included, buffers not).
_P_BASICVSR = 6_291_311
_P_ICONVSR_PAD2 = 8_694_991
_P_ICONVSR_PAD3 = 8_711_375
_P_PP_C64N7 = 7_322_927
_P_PP_C128N25_SR = 43_780_463
_P_PP_C128N25_RESTORE = 44_075_631
_P_PP_C64N15_RESTORE = 9_760_175
_P_REALBASICVSR = 6_294_834

_COLUMNS = (
    "REDS4 (BIx4, RGB)",
    "Vimeo-90K-T (BIx4, Y)",
    "Vid4 (BIx4, Y)",
    "UDM10 (BDx4, Y)",
    "Vimeo-90K-T (BDx4, Y)",
    "Vid4 (BDx4, Y)",
)


def _table(cells: str) -> dict[str, dict[str, float]]:
    """One row of the official results tables: ``"psnr/ssim"`` per column, in the order of ``_COLUMNS``."""
    row: dict[str, dict[str, float]] = {}
    for column, cell in zip(_COLUMNS, cells.split(), strict=True):
        psnr, ssim = cell.split("/")
        row[column] = {"psnr": float(psnr), "ssim": float(ssim)}
    return row


def _sr(
    name: str,
    arch: str,
    arch_args: Mapping[str, Any],
    url: str,
    *,
    degradation: str,
    training_data: str,
    metrics: Mapping[str, Mapping[str, float]],
    num_params: int,
    source: str,
    notes: str = "",
    task: Task = "sr-x4",
    scale: int = 4,
) -> ModelEntry:
    filename = url.rsplit("/", 1)[1]
    # HolyWu/vs-basicvsrpp mirrors all ten BasicVSR++ files as release assets under their official names
    mirrors = (f"{_HOLYWU}/{filename}",) if arch == "basicvsrpp" and not url.startswith(_HOLYWU) else ()
    return ModelEntry(
        name=name,
        arch=arch,
        arch_args=arch_args,
        task=task,
        scale=scale,
        url=url,
        filename=filename,
        sha256_prefix=filename.rsplit("-", 1)[1].split(".")[0],
        degradation=degradation,
        training_data=training_data,
        metrics=metrics,
        num_params=num_params,
        source=source,
        notes=notes,
        mirrors=mirrors,
    )


_OFFICIAL: tuple[ModelEntry, ...] = (
    # BasicVSR++ x4 super-resolution, c64n7
    _sr(
        "basicvsrpp-reds4",
        "basicvsrpp",
        _PP_C64N7,
        f"{_MMEDIT}/basicvsr_plusplus/basicvsr_plusplus_c64n7_8x1_600k_reds4_20210217-db622b2f.pth",
        degradation=_BI,
        training_data=_REDS,
        metrics=_table(
            "32.3855/0.9069 36.4445/0.9411 27.7674/0.8444 34.6868/0.9417 34.0372/0.9244 24.6209/0.7540"
        ),
        num_params=_P_PP_C64N7,
        source=f"{_CFG}/basicvsr_plusplus/basicvsr_plusplus_c64n7_8x1_600k_reds4.py",
    ),
    _sr(
        "basicvsrpp-vimeo90k-bi",
        "basicvsrpp",
        _PP_C64N7,
        f"{_MMEDIT}/basicvsr_plusplus/basicvsr_plusplus_c64n7_8x1_300k_vimeo90k_bi_20210305-4ef437e2.pth",
        degradation=_BI,
        training_data=_VIMEO,
        metrics=_table(
            "31.0126/0.8804 37.7864/0.9500 27.7882/0.8401 33.1211/0.9270 33.8972/0.9195 23.6086/0.7033"
        ),
        num_params=_P_PP_C64N7,
        source=f"{_CFG}/basicvsr_plusplus/basicvsr_plusplus_c64n7_4x2_300k_vimeo90k_bi.py",
        notes="The file name says 8x1 while the config says 4x2; same model.",
    ),
    _sr(
        "basicvsrpp-vimeo90k-bd",
        "basicvsrpp",
        _PP_C64N7,
        f"{_MMEDIT}/basicvsr_plusplus/basicvsr_plusplus_c64n7_8x1_300k_vimeo90k_bd_20210305-ab315ab1.pth",
        degradation=_BD,
        training_data=_VIMEO,
        metrics=_table(
            "29.2041/0.8528 34.7248/0.9351 26.4377/0.8074 40.7216/0.9722 38.2054/0.9550 29.0400/0.8753"
        ),
        num_params=_P_PP_C64N7,
        source=f"{_CFG}/basicvsr_plusplus/basicvsr_plusplus_c64n7_4x2_300k_vimeo90k_bd.py",
    ),
    # BasicVSR++ NTIRE 2021, c128n25
    _sr(
        "basicvsrpp-ntire-vsr",
        "basicvsrpp",
        _PP_C128N25_SR,
        f"{_MMEDIT}/basicvsr_plusplus/basicvsr_plusplus_c128n25_ntire_vsr_20210311-1ff35292.pth",
        degradation=_BI + " (NTIRE 2021 video super-resolution challenge)",
        training_data="REDS (NTIRE 2021 VSR track; validation clips 240-269 held out)",
        metrics={},
        num_params=_P_PP_C128N25_SR,
        source=f"{_CFG}/basicvsr_plusplus/basicvsr_plusplus_c128n25_600k_ntire_vsr.py",
        notes="Fine-tuned from smaller models. The official test uses an x8 spatial ensemble and "
        "mirror-extends the clip. No metrics published.",
    ),
    *(
        _sr(
            f"basicvsrpp-ntire-decompress-track{track}",
            "basicvsrpp",
            _PP_C128N25_RESTORE,
            f"{_MMEDIT}/basicvsr_plusplus/basicvsr_plusplus_c128n25_ntire_decompress_track{track}_{stamp}.pth",
            degradation=f"HEVC compression (NTIRE 2021 compressed video enhancement, LDV data, "
            f"track {track}: {what})",
            training_data="LDV (NTIRE 2021 compressed video enhancement challenge)",
            metrics={},
            num_params=_P_PP_C128N25_RESTORE,
            source=f"{_CFG}/basicvsr_plusplus/"
            f"basicvsr_plusplus_c128n25_600k_ntire_decompress_track{track}.py",
            notes=_STRIDED + " The official test uses an x8 spatial ensemble. Track semantics unverified. "
            "No metrics published.",
            task="decompress",
            scale=1,
        )
        for track, stamp, what in (
            (1, "20210223-7b2eba02", "fixed QP, fidelity"),
            (2, "20210314-eeae05e6", "fixed QP, perceptual"),
            (3, "20210304-6daf4a40", "fixed bit rate, fidelity"),
        )
    ),
    # BasicVSR++ restoration variant, c64n15 (ckkelvinchan/BasicVSR_PlusPlus)
    _sr(
        "basicvsrpp-deblur-dvd",
        "basicvsrpp",
        _PP_C64N15_RESTORE,
        f"{_HOLYWU}/basicvsr_plusplus_deblur_dvd-ecd08b7f.pth",
        degradation="Camera-shake motion blur (real blurred videos)",
        training_data="DVD (DeepVideoDeblurring quantitative_datasets, 30-frame clips, 600k iterations)",
        metrics={},
        num_params=_P_PP_C64N15_RESTORE,
        source="ckkelvinchan/BasicVSR_PlusPlus configs/basicvsr_plusplus_deblur_dvd.py "
        "(file mirrored by HolyWu/vs-basicvsrpp)",
        notes=_STRIDED + " Evaluated on RGB by its config; no metrics published.",
        task="deblur",
        scale=1,
    ),
    _sr(
        "basicvsrpp-deblur-gopro",
        "basicvsrpp",
        _PP_C64N15_RESTORE,
        f"{_HOLYWU}/basicvsr_plusplus_deblur_gopro-3c5bb9b5.pth",
        degradation="Motion blur synthesised by averaging high-frame-rate frames",
        training_data="GoPro (200k iterations)",
        metrics={},
        num_params=_P_PP_C64N15_RESTORE,
        source="ckkelvinchan/BasicVSR_PlusPlus configs/basicvsr_plusplus_deblur_gopro.py "
        "(file mirrored by HolyWu/vs-basicvsrpp)",
        notes=_STRIDED + " No metrics published.",
        task="deblur",
        scale=1,
    ),
    _sr(
        "basicvsrpp-denoise",
        "basicvsrpp",
        _PP_C64N15_RESTORE,
        f"{_HOLYWU}/basicvsr_plusplus_denoise-28f6920c.pth",
        degradation="Additive white Gaussian noise, sigma ~ U[0, 50] on the 0-255 scale, added in float "
        "without clipping or quantisation (blind: no noise-level input)",
        training_data="DAVIS 480p (25-frame clips); validated on Set8 at sigma 50",
        metrics={},
        num_params=_P_PP_C64N15_RESTORE,
        source="ckkelvinchan/BasicVSR_PlusPlus configs/basicvsr_plusplus_denoise.py "
        "(file mirrored by HolyWu/vs-basicvsrpp)",
        notes=_STRIDED + " No metrics published.",
        task="denoise",
        scale=1,
    ),
    # BasicVSR, c64n30
    _sr(
        "basicvsr-reds4",
        "basicvsr",
        _BASICVSR,
        f"{_MMEDIT}/basicvsr/basicvsr_reds4_20120409-0e599677.pth",
        degradation=_BI,
        training_data=_REDS,
        metrics=_table(
            "31.4170/0.8909 36.2848/0.9395 27.2694/0.8318 33.4478/0.9306 34.4700/0.9286 24.4541/0.7455"
        ),
        num_params=_P_BASICVSR,
        source=f"{_CFG}/basicvsr/basicvsr_reds4.py",
        notes='The date in the official file name really reads "2012".',
    ),
    _sr(
        "basicvsr-vimeo90k-bi",
        "basicvsr",
        _BASICVSR,
        f"{_MMEDIT}/basicvsr/basicvsr_vimeo90k_bi_20210409-d2d8f760.pth",
        degradation=_BI,
        training_data=_VIMEO,
        metrics=_table(
            "30.3128/0.8660 37.2026/0.9451 27.2755/0.8248 34.5554/0.9434 34.8097/0.9316 25.0517/0.7636"
        ),
        num_params=_P_BASICVSR,
        source=f"{_CFG}/basicvsr/basicvsr_vimeo90k_bi.py",
        notes="MMagic 1.x lists the Vimeo-90K-T and UDM10 SSIMs swapped; these are the original 0.x values.",
    ),
    _sr(
        "basicvsr-vimeo90k-bd",
        "basicvsr",
        _BASICVSR,
        f"{_MMEDIT}/basicvsr/basicvsr_vimeo90k_bd_20210409-0154dd64.pth",
        degradation=_BD,
        training_data=_VIMEO,
        metrics=_table(
            "29.0376/0.8481 34.6427/0.9335 26.2708/0.8022 39.9953/0.9695 37.5501/0.9499 27.9791/0.8556"
        ),
        num_params=_P_BASICVSR,
        source=f"{_CFG}/basicvsr/basicvsr_vimeo90k_bd.py",
    ),
    # IconVSR, c64n30
    _sr(
        "iconvsr-reds4",
        "iconvsr",
        _ICONVSR_REDS,
        f"{_MMEDIT}/iconvsr/iconvsr_reds4_20210413-9e09d621.pth",
        degradation=_BI,
        training_data=_REDS,
        metrics=_table(
            "31.6926/0.8951 36.4983/0.9416 27.4809/0.8354 35.3377/0.9471 34.4299/0.9287 25.2110/0.7732"
        ),
        num_params=_P_ICONVSR_PAD2,
        source=f"{_CFG}/iconvsr/iconvsr_reds4.py",
        notes="5-frame EDVR-M keyframe branch (padding 2): clips need at least 5 frames.",
    ),
    _sr(
        "iconvsr-vimeo90k-bi",
        "iconvsr",
        _ICONVSR_VIMEO,
        f"{_MMEDIT}/iconvsr/iconvsr_vimeo90k_bi_20210413-7c7418dc.pth",
        degradation=_BI,
        training_data=_VIMEO,
        metrics=_table(
            "30.3452/0.8659 37.3729/0.9467 27.4238/0.8297 34.2595/0.9398 34.5548/0.9295 24.6666/0.7491"
        ),
        num_params=_P_ICONVSR_PAD3,
        source=f"{_CFG}/iconvsr/iconvsr_vimeo90k_bi.py",
        notes="7-frame EDVR-M keyframe branch (padding 3): clips need at least 7 frames.",
    ),
    _sr(
        "iconvsr-vimeo90k-bd",
        "iconvsr",
        _ICONVSR_VIMEO,
        f"{_MMEDIT}/iconvsr/iconvsr_vimeo90k_bd_20210414-5f38cb34.pth",
        degradation=_BD,
        training_data=_VIMEO,
        metrics=_table(
            "29.0150/0.8465 34.6780/0.9339 26.3109/0.8028 40.0640/0.9697 37.7573/0.9517 28.2464/0.8612"
        ),
        num_params=_P_ICONVSR_PAD3,
        source=f"{_CFG}/iconvsr/iconvsr_vimeo90k_bd.py",
        notes="7-frame EDVR-M keyframe branch (padding 3): clips need at least 7 frames.",
    ),
    # RealBasicVSR
    _sr(
        "realbasicvsr",
        "realbasicvsr",
        _REALBASICVSR,
        f"{_MMEDIT}/real_basicvsr/realbasicvsr_c64b20_1x30x8_lr5e-5_150k_reds_20211104-52f77c2c.pth",
        degradation="RealBasicVSR stochastic real-world degradations (blur, noise, resize, JPEG and video "
        "compression, varying within a clip)",
        training_data="REDS; stage 2: L1 + perceptual + GAN loss, EMA 0.999 (generator_ema weights)",
        metrics={
            "VideoLQ (no-reference, Y)": {"nrqm": 6.0477, "niqe": 3.7662, "pi": 3.8593, "brisque": 29.030},
        },
        num_params=_P_REALBASICVSR,
        source=f"{_CFG}/real_basicvsr/realbasicvsr_c64b20_1x30x8_lr5e-5_150k_reds.py",
        notes="dynamic_refine_thres 255 (as every official config) gives one cleaning pass; the training "
        "config suggests 5 for testing.",
        task="sr-x4-real",
    ),
    _sr(
        "realbasicvsr-wogan",
        "realbasicvsr",
        _REALBASICVSR,
        f"{_MMEDIT}/real_basicvsr/realbasicvsr_wogan_c64b20_2x30x8_lr1e-4_300k_reds_20211027-0e2ff207.pth",
        degradation="RealBasicVSR stochastic real-world degradations (blur, noise, resize, JPEG and video "
        "compression, varying within a clip)",
        training_data="REDS; stage 1: L1 + cleaning loss only (no GAN)",
        metrics={},
        num_params=_P_REALBASICVSR,
        source=f"{_CFG}/real_basicvsr/realbasicvsr_wogan_c64b20_2x30x8_lr1e-4_300k_reds.py",
        notes="Smoother, less hallucinated output than the GAN model; the training config suggests a refine "
        "threshold of 1.5 for testing. No metrics published.",
        task="sr-x4-real",
    ),
)

# --- models shipped with vsrcli -----------------------------------------------------------------------------
# Trained by `vsrcli train`, committed under the repository's weights/ folder, loaded without any download.
# One ModelEntry per file: url=None, sha256_prefix of the committed file, local_path="weights/<file>",
# default_for=("<command>",). Relative paths resolve as described in resolve_local_path.
_SHIPPED_DATA = (
    "DAVIS-2016 (7 sequences), Vimeo-90K septuplet sample (13 training clips), Set5, Set14 and T91 stills "
    "animated with smooth synthetic camera motion; Vid4, Vimeo-90K-T and the DAVIS validation clips held out"
)
# `vsrcli benchmark scratch/heldout --degrade noise:S --max-frames 10 --model M --nlm` on 6 held-out clips
# (DAVIS blackswan, car-roundabout, parkour; Vimeo-90K-T 00002/0004, 0007, 0008), RGB.
_DENOISE_METRICS: dict[str, dict[str, float]] = {
    "held-out DAVIS + Vimeo-90K-T, 6 clips (noise sigma 25, RGB)": {
        "psnr": 29.8366,
        "ssim": 0.8347,
        "input_psnr": 20.4565,
        "nlm_psnr": 27.0832,
    },
    "held-out DAVIS + Vimeo-90K-T, 6 clips (noise sigma 50, RGB)": {
        "psnr": 27.5231,
        "ssim": 0.7350,
        "input_psnr": 15.1037,
        "nlm_psnr": 23.7355,
    },
}
# `vsrcli benchmark FOOT/n8 --lq noisy25 --sigma 25 --nlm --precision fp32` after
# `python benchmarks/make_footage.py FOOT --frames 8`: 3 clips at 960x540 unlike the training clips, RGB.
_DENOISE_LITE_METRICS: dict[str, dict[str, float]] = {
    "held-out 960x540 footage, 3 clips x 8 frames (noise sigma 25, 8-bit, RGB)": {
        "psnr": 34.1170,
        "ssim": 0.8939,
        "input_psnr": 20.7138,
        "nlm_psnr": 29.2581,
    },
    "held-out 960x540 footage, 3 clips x 8 frames (noise sigma 50, 8-bit, RGB)": {
        "psnr": 30.3558,
        "ssim": 0.8269,
        "input_psnr": 15.1987,
        "nlm_psnr": 25.7341,
    },
    "held-out 960x540 footage, 2 clips x 40 frames (noise sigma 25, 8-bit, RGB)": {
        "psnr": 34.2460,
        "ssim": 0.9239,
        "input_psnr": 20.4609,
        "nlm_psnr": 29.5675,
    },
    "held-out 960x540 footage, 2 clips x 40 frames (noise sigma 50, 8-bit, RGB)": {
        "psnr": 30.4573,
        "ssim": 0.8553,
        "input_psnr": 14.9260,
        "nlm_psnr": 25.9424,
    },
}
_DENOISE_1PASS_METRICS: dict[str, dict[str, float]] = {
    "held-out DAVIS + Vimeo-90K-T, 6 clips (noise sigma 25, RGB)": {
        "psnr": 29.2129,
        "ssim": 0.7958,
        "input_psnr": 20.4565,
        "nlm_psnr": 27.0832,
    },
    "held-out DAVIS + Vimeo-90K-T, 6 clips (noise sigma 50, RGB)": {
        "psnr": 26.0480,
        "ssim": 0.6127,
        "input_psnr": 15.1037,
        "nlm_psnr": 23.7355,
    },
}
# `DEBLUR_MODEL=weights/<file> benchmarks/restore_heldout.sh deblur`: the same 6 held-out clips, RGB.
_DEBLUR_METRICS: dict[str, dict[str, float]] = {
    "held-out DAVIS + Vimeo-90K-T, 6 clips (Gaussian blur sigma 1.5, RGB)": {
        "psnr": 29.6218,
        "ssim": 0.8526,
        "input_psnr": 28.7926,
    },
    "held-out DAVIS + Vimeo-90K-T, 6 clips (9-px motion blur, RGB)": {
        "psnr": 27.8402,
        "ssim": 0.8110,
        "input_psnr": 27.5249,
    },
    "held-out DAVIS + Vimeo-90K-T, 6 clips (average of 5 frames, RGB)": {
        "psnr": 26.5511,
        "ssim": 0.8102,
        "input_psnr": 26.6996,
    },
}
# `vsrcli benchmark FOOT/n8 --degrade blur:gauss:1.5 --precision fp32 -m vsrcli-deblur-lite -m <file>` (and
# blur:motion:9; FOOT/n40 likewise) after `python benchmarks/make_footage.py FOOT --frames 8 40`: clips at
# 960x540 unlike the training clips, RGB, fp32, 2 cores. The previous-round columns are the first round's file
# (efd0594d), measured in the same runs.
_DEBLUR_LITE_METRICS: dict[str, dict[str, float]] = {
    "held-out 960x540 footage, 3 clips x 8 frames (Gaussian blur sigma 1.5, RGB)": {
        "psnr": 35.9583,
        "ssim": 0.9449,
        "input_psnr": 33.8798,
        "previous_round_psnr": 35.3669,
    },
    "held-out 960x540 footage, 3 clips x 8 frames (9-px camera shake, RGB)": {
        "psnr": 33.5648,
        "ssim": 0.9084,
        "input_psnr": 32.3889,
        "previous_round_psnr": 33.4449,
    },
    "held-out 960x540 footage, 2 clips x 40 frames (Gaussian blur sigma 1.5, RGB)": {
        "psnr": 36.8069,
        "ssim": 0.9427,
        "input_psnr": 34.6406,
        "previous_round_psnr": 36.3154,
    },
    "held-out 960x540 footage, 2 clips x 40 frames (9-px camera shake, RGB)": {
        "psnr": 34.6312,
        "ssim": 0.9071,
        "input_psnr": 33.5209,
        "previous_round_psnr": 34.5940,
    },
}
# `vsrcli benchmark FOOT/n8 --degrade h264:35 --precision fp32 -m vsrcli-decompress-lite -m <file>` (and
# FOOT/n40) after `python benchmarks/make_footage.py FOOT --frames 8 40`: 960x540 clips unlike the training
# clips, RGB, fp32, 2 cores. The previous-round columns are the first round's file (b4272bda), measured in
# the same runs; the old default vsrcli-decompress scored 32.1469 on the 8-frame clips.
_DECOMPRESS_LITE_METRICS: dict[str, dict[str, float]] = {
    "held-out 960x540 footage, 3 clips x 8 frames (x264 CRF 35, RGB)": {
        "psnr": 32.2921,
        "ssim": 0.8842,
        "input_psnr": 31.8861,
        "previous_round_psnr": 32.2616,
        "vsrcli_decompress_psnr": 32.1469,
    },
    "held-out 960x540 footage, 2 clips x 40 frames (x264 CRF 35, RGB)": {
        "psnr": 33.3120,
        "ssim": 0.9101,
        "input_psnr": 32.8079,
        "previous_round_psnr": 33.2647,
    },
}
# `DECOMPRESS_MODEL=weights/<file> benchmarks/restore_heldout.sh decompress`: the same 6 clips, x264 CRF 35.
_DECOMPRESS_METRICS: dict[str, dict[str, float]] = {
    "held-out DAVIS + Vimeo-90K-T, 6 clips (x264 CRF 35, RGB)": {
        "psnr": 28.9871,
        "ssim": 0.8200,
        "input_psnr": 28.7043,
        "input_ssim": 0.8155,
    },
}
# `vsrcli benchmark ../shared/data/VideoLQ_sample --no-reference --max-frames 10 -m vsrcli-x4
# -m vsrcli-realx4-c32` (no ground truth: output noise averaged back to the input size, 0-255) and the run's
# own validation (DAVIS blackswan, car-roundabout, parkour under the training degradation, PSNR-Y).
_REAL_METRICS: dict[str, dict[str, float]] = {
    "VideoLQ demo_000, first 10 frames (no reference; noise at input size)": {
        "noise": 0.8081,
        "bicubic_noise": 1.0100,
        "vsrcli_x4_noise": 1.0593,
        "input_noise": 1.1101,
    },
    "DAVIS val, 3 clips (random-walk real-world degradation, Y)": {
        "psnr": 23.1688,
        "bicubic_psnr": 22.5606,
    },
}
# The light BasicVSR++ c16n2 with flows at quarter size: vsrcli-x4, and vsrcli-realx4 after its cleaning.
_X4_LITE: dict[str, Any] = {
    "mid_channels": 16,
    "num_blocks": 2,
    "extract_blocks": 2,
    "reconstruction_blocks": 2,
    "deform_groups": 2,
    "offset_hidden": 1,
    "flow_downscale": 4,
    "max_residue_magnitude": 10,
}
_REAL_DEGRADATION = (
    "RealBasicVSR-style random walk across the frames of a clip: Gaussian blur (sigma 0.2-3), resize through "
    "0.5-1.5x the output size (bilinear, bicubic or area), Gaussian noise (sigma 1-25 of 255, 40% grey), "
    "then x264 at CRF 23-38 (90% of clips)"
)
# The same VideoLQ measure, and `benchmarks/real_val.py vsrcli-realx4-c32 vsrcli-realx4`: the DAVIS
# validation clips under three draws of the training degradation (seeds 1234-1236), every model on the same
# inputs in one process (x264 makes a draw differ between processes by ~0.05 dB).
_REAL_LITE_METRICS: dict[str, dict[str, float]] = {
    "VideoLQ demo_000, first 10 frames (no reference; noise at input size)": {
        "noise": 0.803,
        "edges": 7.73,
        "bicubic_noise": 1.0100,
        "bicubic_edges": 8.56,
        "vsrcli_realx4_c32_noise": 0.8081,
        "vsrcli_realx4_c32_edges": 7.42,
        "input_noise": 1.1101,
    },
    "DAVIS val, 3 clips x 3 draws (random-walk real-world degradation, Y)": {
        "psnr": 23.068,
        "bicubic_psnr": 22.345,
        "vsrcli_realx4_c32_psnr": 23.003,
    },
}
# The c32n4 restoration variant with vsrcli's guided head, as every shipped restorer builds it.
_PP_RESTORE: dict[str, Any] = {
    "mid_channels": 32,
    "num_blocks": 4,
    "max_residue_magnitude": 10,
    "is_low_res_input": False,
    "cpu_cache_length": 100,
    "guided_head": True,
}


def _committed(filename: str) -> dict[str, Any]:
    """Where a shipped file lives: no URL, weights/<filename>, its name's trailing SHA-256 prefix."""
    return {
        "url": None,
        "filename": filename,
        "sha256_prefix": filename.rsplit("-", 1)[1].split(".")[0],
        "local_path": f"weights/{filename}",
    }


# the light restorers' layout (c32n2, propagation at half size over a 2x2 fold, flows at quarter size)
_LITE_RESTORE: dict[str, Any] = {
    "mid_channels": 32,
    "num_blocks": 2,
    "extract_blocks": 2,
    "reconstruction_blocks": 2,
    "deform_groups": 4,
    "offset_hidden": 1,
    "flow_downscale": 2,
    "max_residue_magnitude": 10,
}
_SHIPPED: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="vsrcli-x4",
        arch="basicvsrpp_lite",
        arch_args=_X4_LITE,
        task="sr-x4",
        scale=4,
        **_committed("basicvsrpp-lite-c16n2f4-bix4-flow10-2a4b72e9.safetensors"),
        degradation="BI: MATLAB bicubic x4 (antialiased), 8-bit",
        training_data=_SHIPPED_DATA,
        metrics={
            "Vid4 calendar (BIx4, Y)": {"psnr": 21.4487, "ssim": 0.6664, "bicubic_psnr": 20.3945},
            "Vimeo-90K-T sample, 3 clips (BIx4, Y)": {
                "psnr": 32.9291,
                "ssim": 0.8601,
                "bicubic_psnr": 30.6436,
            },
        },
        num_params=1636356,
        source="vsrcli train -c configs/bix4-lite-c16n2.toml (5500 iterations on 2 CPU cores; "
        "training/basicvsrpp-lite-c16n2-bix4), then -c configs/bix4-lite-c16n2f4.toml (1800 iterations "
        "with flows on quarter-size frames; training/basicvsrpp-lite-c16n2f4-bix4), then "
        "-c configs/bix4-lite-c16n2f4-flow4.toml (1200 iterations onto vsrcli's fourth-round SPyNet, "
        "training/spynet-vsrcli-r4; training/basicvsrpp-lite-c16n2f4-bix4-flow4), then "
        "-c configs/bix4-lite-c16n2f4-flow5.toml (1200 iterations onto the fifth-round SPyNet, "
        "training/spynet-vsrcli-r5; training/basicvsrpp-lite-c16n2f4-bix4-flow5), then "
        "-c configs/bix4-lite-c16n2f4-flow7.toml (1200 iterations onto the seventh-round SPyNet, "
        "training/spynet-vsrcli-r7; training/basicvsrpp-lite-c16n2f4-bix4-flow7), then "
        "-c configs/bix4-lite-c16n2f4-flow10.toml (800 iterations onto the tenth-round SPyNet, "
        "training/spynet-vsrcli-r10; training/basicvsrpp-lite-c16n2f4-bix4-flow10)",
        notes="vsrcli's light BasicVSR++ (c16n2: reconstruction at low resolution, pixel shuffle to RGB "
        "over a bicubic skip, flows at quarter size from vsrcli's own SPyNet; float16 weights), the offline "
        "default of `vsrcli upscale`: 5.5x faster end to end than the c24n3 of the first release on an AVX2 "
        "CPU (3.9x on AVX-512), better on "
        "held-out clips. Metrics measured with `vsrcli benchmark` (not published figures). For the best "
        "quality download an official model, e.g. basicvsrpp-vimeo90k-bi.",
        default_for=("upscale",),
    ),
    ModelEntry(
        name="vsrcli-x4-c24n3",
        arch="basicvsrpp",
        arch_args={
            "mid_channels": 24,
            "num_blocks": 3,
            "max_residue_magnitude": 10,
            "is_low_res_input": True,
            "cpu_cache_length": 100,
        },
        task="sr-x4",
        scale=4,
        **_committed("basicvsrpp-c24n3-bix4-e2e9f494.safetensors"),
        degradation="BI: MATLAB bicubic x4 (antialiased), 8-bit",
        training_data=_SHIPPED_DATA,
        metrics={
            "Vid4 calendar (BIx4, Y)": {"psnr": 21.0787, "ssim": 0.6427, "bicubic_psnr": 20.3945},
            "Vimeo-90K-T sample, 3 clips (BIx4, Y)": {
                "psnr": 32.4031,
                "ssim": 0.8523,
                "bicubic_psnr": 30.6436,
            },
        },
        num_params=2407751,
        source="vsrcli train --preset bix4 (2251 iterations on 2 CPU cores; training/basicvsrpp-c24n3-bix4)",
        notes="vsrcli's first own x4 model (c24n3, float16 weights), the default of `vsrcli upscale` until "
        "vsrcli-x4 replaced it; kept as the speed baseline of benchmarks/x4_speed.py. Metrics measured with "
        "`vsrcli benchmark` (not published figures).",
    ),
    ModelEntry(
        name="vsrcli-denoise",
        arch="basicvsrpp",
        arch_args={
            **_PP_RESTORE,
            "extra_in_channels": 1,
            "prefilter_radius": 3,
            "prefilter_strictness": 0.35,
        },
        task="denoise",
        scale=1,
        **_committed("basicvsrpp-c32n4mc-denoise-ad38af76.safetensors"),
        degradation="additive Gaussian noise, sigma uniform in [0, 50] (0-255 scale), given as a noise-level "
        "map (the fourth input channel)",
        training_data=_SHIPPED_DATA,
        metrics=_DENOISE_METRICS,
        num_params=3030639,
        source="vsrcli-denoise-1pass (vsrcli train --preset denoise, 1900 iterations in 1.3 h on 2 CPU "
        "cores) with the decompress-hb run's SPyNet, fine-tuned 400 steps without labels on real clips: "
        "python training/graft_denoise_mc.py",
        notes="vsrcli's own strided BasicVSR++ denoiser (c32n4, guided head, float16 weights), the offline "
        "default of `vsrcli denoise`; `--sigma N` sets the noise level, `--sigma auto` estimates it. It runs "
        "twice: the second pass sees each frame averaged with up to 3 aligned neighbours on each side. "
        "Briefly trained: see the metrics (measured with `vsrcli benchmark`) before relying on it.",
    ),
    ModelEntry(
        name="vsrcli-denoise-lite",
        arch="basicvsrpp_lite_restore",
        arch_args={**_LITE_RESTORE, "extra_in_channels": 1},
        task="denoise",
        scale=1,
        **_committed("basicvsrpp-lite-c32n2-denoise-5524507d.safetensors"),
        degradation="additive Gaussian noise, sigma uniform in [0, 50] (0-255 scale), clipped and rounded to "
        "8 bits, given as a noise-level map (the fourth input channel)",
        training_data=_SHIPPED_DATA,
        metrics=_DENOISE_LITE_METRICS,
        num_params=2196648,
        source="vsrcli train --preset denoise-lite: 4800 iterations in 2.75 h on 2 CPU cores (bf16), "
        "val PSNR-Y flat over the last 800; training/basicvsrpp-lite-c32n2-denoise",
        notes="vsrcli's light BasicVSR++ denoiser (c32n2, propagation at half size over a lossless 2x2 fold, "
        "flows at quarter size, float16 weights), the offline default of `vsrcli denoise`: on held-out "
        "960x540 footage 2.7 dB above vsrcli-denoise in 70% of its time. `--sigma N` sets the noise level, "
        "`--sigma auto` estimates it.",
        default_for=("denoise",),
    ),
    ModelEntry(
        name="vsrcli-denoise-1pass",
        arch="basicvsrpp",
        arch_args={**_PP_RESTORE, "extra_in_channels": 1},
        task="denoise",
        scale=1,
        **_committed("basicvsrpp-c32n4-denoise-a3d0ca3a.safetensors"),
        degradation="additive Gaussian noise, sigma uniform in [0, 50] (0-255 scale), given as a noise-level "
        "map (the fourth input channel)",
        training_data=_SHIPPED_DATA,
        metrics=_DENOISE_1PASS_METRICS,
        num_params=3030639,
        source="vsrcli train --preset denoise with guided_head = true: 1900 iterations (526 on 8-frame "
        "clips, then 4) in 1.3 h on 2 CPU cores; training/basicvsrpp-c32n4-denoise",
        notes="vsrcli-denoise without its second, motion-compensated pass: 40% of the time, and "
        "0.6 dB (sigma 25) to 1.5 dB (sigma 50) less. `--sigma N` sets the noise level, `--sigma auto` "
        "estimates it.",
    ),
    ModelEntry(
        name="vsrcli-deblur-lite",
        arch="basicvsrpp_lite_restore",
        arch_args={**_LITE_RESTORE, "extra_in_channels": 0},
        task="deblur",
        scale=1,
        **_committed("basicvsrpp-lite-c32n2-deblur-r2-6cd9ca56.safetensors"),
        degradation="one blur per clip: Gaussian (sigma 0.2-3) or a random camera-shake kernel (3-15 px)",
        training_data=_SHIPPED_DATA,
        metrics=_DEBLUR_LITE_METRICS,
        num_params=2195496,
        source="vsrcli train --preset deblur-lite: warm-started from vsrcli-denoise-lite told sigma = 0, "
        "1000 iterations (MSE) in 1.6 h on 1 CPU core (bf16; training/basicvsrpp-lite-c32n2-deblur), then "
        "1625 more from that run's export on a long cosine from 1e-4 in 1.5 h on 1-2 cores "
        "(training/basicvsrpp-lite-c32n2-deblur-r2)",
        notes="vsrcli's light BasicVSR++ deblurrer (c32n2, propagation at half size over a lossless 2x2 "
        "fold, flows at quarter size, float16 weights), the offline default of `vsrcli deblur`: on held-out "
        "960x540 footage +2.1 dB on soft (Gaussian-blurred) footage and +1.2 on camera shake; it was not "
        "trained on frame-averaged motion blur (its first round lost 0.3 dB there). "
        "For real motion blur download the official basicvsrpp-deblur-gopro.",
        default_for=("deblur",),
    ),
    ModelEntry(
        name="vsrcli-deblur",
        arch="basicvsrpp",
        arch_args={**_PP_RESTORE, "guide_neighbours": True, "head_blocks": 2},
        task="deblur",
        scale=1,
        **_committed("basicvsrpp-c32n4nb-deblur-2579d4de.safetensors"),
        degradation="one blur per clip: Gaussian (sigma 0.2-3), a random camera-shake kernel (3-15 px) or "
        "the average of 3, 5 or 7 consecutive frames",
        training_data=_SHIPPED_DATA,
        metrics=_DEBLUR_METRICS,
        num_params=3180943,
        source="vsrcli train --preset deblur-nb: warm-started from the denoise-nb run told sigma = 0, 1167 "
        "iterations (712 under L1, then MSE) in 1.3 h on 2 CPU cores; training/basicvsrpp-c32n4nb-deblur",
        notes="vsrcli's own strided BasicVSR++ deblurrer (c32n4, guided head with warped neighbours, two "
        "full-resolution blocks, float16 weights), the default of `vsrcli deblur` before vsrcli-deblur-lite. "
        "Briefly trained: "
        "+0.8 dB on soft (Gaussian-blurred) footage, +0.3 on camera shake, -0.15 on frame-averaged motion "
        "blur; for strong motion blur download the official basicvsrpp-deblur-gopro.",
    ),
    ModelEntry(
        name="vsrcli-decompress",
        arch="basicvsrpp",
        arch_args={**_PP_RESTORE, "head_blocks": 2},
        task="decompress",
        scale=1,
        **_committed("basicvsrpp-c32n4hb-decompress-b4d0e977.safetensors"),
        degradation="real H.264: x264 through PyAV at CRF 28-40 (one CRF per 4-frame clip, encoder defaults)",
        training_data=_SHIPPED_DATA,
        metrics=_DECOMPRESS_METRICS,
        num_params=3177487,
        source="vsrcli train --preset decompress-hb: warm-started from vsrcli-denoise told sigma = 0, "
        "SPyNet from deblur-nb, 1700 iterations (MSE) in 1.9 h on 2 CPU cores; "
        "training/basicvsrpp-c32n4hb-decompress",
        notes="vsrcli's own strided BasicVSR++ for compression artefacts (c32n4, guided head, two "
        "full-resolution blocks, float16 weights), the default of `vsrcli decompress` before "
        "vsrcli-decompress-lite. Briefly trained: +0.28 dB at CRF 35; for more download the official "
        "basicvsrpp-ntire-decompress-track1.",
    ),
    ModelEntry(
        name="vsrcli-decompress-lite",
        arch="basicvsrpp_lite_restore",
        arch_args={**_LITE_RESTORE, "extra_in_channels": 0},
        task="decompress",
        scale=1,
        **_committed("basicvsrpp-lite-c32n2-decompress-clean-1d1c5a20.safetensors"),
        degradation="real H.264: x264 through PyAV at CRF 28-40 (one CRF per 8-frame clip, encoder defaults)",
        training_data=_SHIPPED_DATA,
        metrics=_DECOMPRESS_LITE_METRICS,
        num_params=2195496,
        source="vsrcli train --preset decompress-lite: warm-started from vsrcli-denoise-lite told sigma = 10 "
        "(folded into the first conv's bias), 663 iterations (MSE) in 1.0 h on 1 CPU core (bf16; "
        "training/basicvsrpp-lite-c32n2-decompress), then 1000 from that export on cleaner targets (each "
        "sample shrunk by 0.4-0.8 first) with vsrcli's round-4 SPyNet, 1.6 h on 1 core "
        "(configs/decompress-lite-c32n2-clean.toml; training/basicvsrpp-lite-c32n2-decompress-clean)",
        notes="vsrcli's light BasicVSR++ for compression artefacts (the light deblurrer's network), the "
        "offline default of `vsrcli decompress`: on held-out 960x540 footage at CRF 35 +0.41 dB (8 frames) "
        "and +0.50 (40 frames), 0.15 dB above vsrcli-decompress in 82% of its time. Its validation curve "
        "stays nearly flat across rounds: for more download the official basicvsrpp-ntire-decompress-track1.",
        default_for=("decompress",),
    ),
    ModelEntry(
        name="vsrcli-realx4",
        arch="realbasicvsr_lite",
        arch_args={
            **_X4_LITE,  # vsrcli-x4's network, under sr.
            "cleaning_channels": 24,
            "num_cleaning_blocks": 3,
            # cleans again while a pass still changes the frame by 3/255 or more (on average): once on
            # mildly degraded footage, twice on VideoLQ's grain, where one pass leaves the noise of the c32
            "dynamic_refine_thres": 3,
            "is_sequential_cleaning": True,
        },
        task="sr-x4-real",
        scale=4,
        **_committed("realbasicvsr-lite-c16n2f4-bx4-flow4-2de954a6.safetensors"),
        degradation=_REAL_DEGRADATION,
        training_data=_SHIPPED_DATA,
        metrics=_REAL_LITE_METRICS,
        num_params=1668927,
        source="vsrcli train --config configs/realx4-lite-c16n2f4.toml: vsrcli-x4's weights, 6000 iterations "
        "(1.1 h, training/realbasicvsr-lite-c16n2-bx4) with half-size flow, then 3000 with quarter-size flow "
        "(0.4 h, training/realbasicvsr-lite-c16n2f4-bx4), then -c configs/realx4-lite-c16n2f4-flow4.toml: "
        "1200 onto vsrcli's fourth-round SPyNet (0.2 h, training/realbasicvsr-lite-c16n2f4-bx4-flow4), bf16 "
        "on 2 CPU cores",
        notes="vsrcli's light RealBasicVSR, the offline default of `vsrcli upscale --real`: RealBasicVSR's "
        "cleaning (24 channels, 3 blocks) in front of vsrcli-x4's light BasicVSR++ (float16 weights, no GAN "
        "stage), for footage with noise, blur and compression, which BI models sharpen into the output. "
        "Against vsrcli-realx4-c32: as clean, as close on DAVIS, sharper, 3.5x faster end to end. Metrics "
        "measured by vsrcli, not published.",
        default_for=("upscale --real",),
    ),
    ModelEntry(
        name="vsrcli-realx4-c32",
        arch="realbasicvsr",
        # one cleaning pass, frame by frame (the official inference setting: same result, less memory)
        arch_args={
            **_REALBASICVSR,
            "mid_channels": 32,
            "num_propagation_blocks": 6,
            "num_cleaning_blocks": 4,
        },
        task="sr-x4-real",
        scale=4,
        **_committed("realbasicvsr-c32-bx4-58c7cf70.safetensors"),
        degradation=_REAL_DEGRADATION,
        training_data=_SHIPPED_DATA,
        metrics=_REAL_METRICS,
        num_params=1909938,
        source="vsrcli train --preset realbasicvsr: 600 SPyNet pre-training steps on synthetic flows, then "
        "4400 iterations in 1.8 h on 2 CPU cores; training/realbasicvsr-c32-bx4",
        notes="vsrcli's first small RealBasicVSR (cleaning module + BasicVSR c32, float16 weights, no GAN "
        "stage), the `--real` default until vsrcli-realx4 replaced it: kept as its speed and quality "
        "baseline. Metrics measured by vsrcli, not published.",
    ),
)

_REGISTRY: dict[str, ModelEntry] = {entry.name: entry for entry in (*_OFFICIAL, *_SHIPPED)}

#: Models built from code alone, with no weights file (so not ``ModelEntry``s): name -> one-line description.
BUILTIN: dict[str, str] = {
    "bicubic": "bicubic x4 (Keys a=-0.5, as PIL BICUBIC), no weights: previews, side-by-side "
    "comparisons and the pipeline's cost floor",
}
OFFICIAL_NAMES: tuple[str, ...] = tuple(entry.name for entry in _OFFICIAL)


def register(entry: ModelEntry, *, replace: bool = False) -> ModelEntry:
    """Add a model (typically one shipped under ``weights/``) to the zoo.

    Refuses to shadow an existing name unless ``replace`` is given, so that a shipped model can never silently
    take the place of an official checkpoint.
    """
    if entry.name in _REGISTRY and not replace:
        raise ValueError(f"a model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a registered model (for tests and plugins); official entries stay."""
    if name in OFFICIAL_NAMES:
        raise ValueError(f"{name!r} is an official checkpoint and cannot be removed")
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    """Every registered model name, official first, in registration order."""
    return list(_REGISTRY)


def list_entries(task: str | None = None) -> list[ModelEntry]:
    """Registered entries, optionally only those of one task."""
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown task {task!r}", hint=f"tasks: {', '.join(TASKS)}")
    return [e for e in _REGISTRY.values() if task is None or e.task == task]


def suggest(name: str, n: int = 3) -> list[str]:
    """Registered names closest to ``name`` (for did-you-mean messages)."""
    pool = [*_REGISTRY, *BUILTIN]
    close = difflib.get_close_matches(name.lower(), pool, n=n, cutoff=0.5)
    if not close:
        close = [candidate for candidate in pool if name.lower() in candidate][:n]
    return close


def get_entry(name: str) -> ModelEntry:
    """The entry called ``name``; unknown names raise ModelNotFoundError with the closest names."""
    entry = _REGISTRY.get(name) or _REGISTRY.get(name.strip().lower())
    if entry is not None:
        return entry
    close = suggest(name)
    hint = f"did you mean {', '.join(close)}?" if close else "see `vsrcli models` for the list"
    raise ModelNotFoundError(f"unknown model {name!r}", hint=hint)


def default_for(command: str) -> ModelEntry | None:
    """The model registered as the default of ``command`` (e.g. ``upscale``), if any."""
    for entry in _REGISTRY.values():
        if command in entry.default_for:
            return entry
    return None
