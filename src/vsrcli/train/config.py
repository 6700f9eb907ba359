"""Training configuration: typed sections read from TOML (or a preset), validated once, saved with each run.

A config is plain data so that it can be stored inside checkpoints and model cards and compared on resume.
No torch or numpy here: the CLI imports this module to list presets without paying for heavy imports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsrcli.errors import InputError, UsageError
from vsrcli.models import zoo
from vsrcli.models.detect import RUNTIME_ARGS

if sys.version_info >= (3, 11):  # pragma: no cover - the branch depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ARCHS = zoo.ARCHS
CLEANING_ARCHS = zoo.CLEANING_ARCHS
DEGRADATIONS = ("bi", "bd", "noise", "blur", "compress", "realworld")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # vsrcli.device's rule, as restore and benchmark


@dataclass
class DataConfig:
    """Where training clips come from and how they are cut.

    ``paths`` are folders: a folder of equally sized frames is a clip, a folder of clips (any depth) a set of
    clips, a folder of differently sized images a set of stills; ``video:`` / ``images:`` prefixes force the
    kind. Relative paths are resolved against ``root`` (``--data-root``, ``$VSRCLI_DATA_ROOT``,
    ``../shared/data``).
    """

    paths: list[str] = field(default_factory=list)
    root: str = ""
    clip_len: int = 8  # frames the network sees per sample
    seq_flip: bool = True  # load clip_len/2 frames and mirror them (RealBasicVSR's trick)
    patch: int = 64  # low-resolution patch side; the ground-truth patch is patch * scale
    batch: int = 2
    still_prob: float = 0.25  # chance that a sample is a still image animated with synthetic motion
    max_interval: int = 1  # temporal stride drawn from 1..max_interval for real clips
    max_shift: float = 3.0  # synthetic motion: largest per-frame translation, in low-resolution pixels
    max_zoom: float = 0.01  # synthetic motion: largest per-frame relative zoom
    max_rotate: float = 0.5  # synthetic motion: largest per-frame rotation, degrees
    cache_mb: int = 1536  # decoded frames kept in memory; beyond this frames are decoded on each use
    # Each sample is first shrunk by a factor drawn from this range (antialiased bicubic): the ground truth
    # then holds more detail per pixel and less camera softness and compression. [1, 1] keeps the source.
    gt_downscale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    held_out: list[str] = field(default_factory=list)  # extra clip names or path tails that must never train


@dataclass
class DegradationConfig:
    """How the low-quality input is made from the ground truth (one of ``DEGRADATIONS``)."""

    kind: str = "bi"
    scale: int = 4  # 4 for x4 super-resolution, 1 for restoration
    sigma: list[float] = field(default_factory=lambda: [0.0, 50.0])  # noise: sigma range on the 0-255 scale
    noise_map: bool = (
        False  # append sigma/255 as an extra input channel (the network needs extra_in_channels=1)
    )
    # noise: clip and round the noisy frames to 8 bits, as every real input arrives (a file, a decoded video)
    noise_8bit: bool = False
    crf: list[int] = field(default_factory=lambda: [28, 40])  # compress: x264 CRF range
    codec: str = "libx264"
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])  # Gaussian blur sigma range
    motion_len: list[int] = field(default_factory=lambda: [3, 15])  # motion blur kernel size range (odd)
    blur_kinds: list[str] = field(default_factory=lambda: ["gaussian", "motion", "average"])
    # realworld: each parameter drifts across the frames of a clip by a bounded random walk
    walk_step: float = 0.05  # per-frame step, as a fraction of each parameter's range


@dataclass
class OptimConfig:
    """Adam with cosine decay; SPyNet at a smaller learning rate and optionally frozen at first."""

    lr: float = 2e-4
    eta_min: float = 1e-7
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    spynet_lr_mult: float = 0.125
    # The output head (upsample1/2, conv_hr, head_body, conv_last) at this multiple: a warm-started restorer
    # whose task changes (denoise -> deblur) must mostly relearn its per-pixel head, not the propagation.
    head_lr_mult: float = 1.0
    fix_iter: int = 0  # SPyNet is frozen for the first fix_iter steps
    warmup: int = 0  # linear warm-up steps before the cosine
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    # An untrained SPyNet starts by predicting no motion (the last conv of each level is zeroed) ...
    zero_flow_init: bool = True
    # ... and may first learn small motions from synthetic pairs with exact flow, before step 0.
    flow_pretrain_iters: int = 0
    flow_pretrain_lr: float = 1e-4
    flow_pretrain_batch: int = 8
    loss: str = "charbonnier"
    charbonnier_eps: float = 1e-12  # inside the square root, as BasicVSR's Charbonnier loss
    cleaning_weight: float = 1.0  # RealBasicVSR: weight of the loss on the cleaned low-resolution frames


@dataclass
class RunConfig:
    """Length, precision, bookkeeping."""

    iters: int = 10000
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 0  # torch threads; 0 keeps torch's default
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    val_every: int = 500  # steps between validations; 0 disables
    export_dtype: str = "float32"  # float16 halves the release file (SPyNet alone is 5.8 MB in float32)


@dataclass
class ValConfig:
    """Held-out clips measured during training (PSNR on Y, crop 0)."""

    clips: list[str] = field(default_factory=list)  # relative to DataConfig.root like the training paths
    frames: int = 10
    max_size: int = 96  # validation inputs are centre crops of at most this low-resolution side
    seed: int = 1234  # validation degradations are drawn once from this seed
    # each clip is first shrunk by this factor (antialiased bicubic), so its targets are as clean as those of
    # a run with data.gt_downscale: DAVIS's JPEG softness would otherwise hide what cleaner targets teach
    downscale: float = 1.0


@dataclass
class TrainConfig:
    """Everything a run needs; ``arch_args`` go unchanged to ``build_network(arch, **arch_args)``."""

    name: str = "model"
    arch: str = "basicvsrpp"
    arch_args: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    init: str = ""  # weights to start from (.safetensors or a run's checkpoint.pt); matching tensors load
    init_flow: str = ""  # then only the flow network (spynet.*) from here: a run that learnt motion
    init_sigma: float = 0.0  # the noise level (0-255) a denoiser init is told when its noise map is dropped
    # arguments that change how the exported network runs but not its tensors (models.detect.RUNTIME_ARGS,
    # e.g. RealBasicVSR's dynamic_refine_thres): training ignores them, export writes them into the card
    runtime: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    val: ValConfig = field(default_factory=ValConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML-able)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def gt_patch(self) -> int:
        return self.data.patch * self.degradation.scale


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "degradation": DegradationConfig,
    "optim": OptimConfig,
    "run": RunConfig,
    "val": ValConfig,
}


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise UsageError(
            f"unknown key(s) in [{where}]: {', '.join(unknown)}", hint=f"known: {', '.join(names)}"
        )
    return cls(**values)


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """A validated config from nested plain data (as TOML gives it); unknown keys are errors, not ignored."""
    values = dict(values)
    sections = {name: values.pop(name, {}) for name in _SECTIONS}
    top = {f.name for f in dataclasses.fields(TrainConfig)} - set(_SECTIONS)
    unknown = sorted(set(values) - top)
    if unknown:
        raise UsageError(f"unknown top-level key(s) in config: {', '.join(unknown)}")
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise UsageError(f"[{name}] must be a table")
    cfg = TrainConfig(
        **values, **{name: _build_section(cls, sections[name], name) for name, cls in _SECTIONS.items()}
    )
    validate(cfg)
    return cfg


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of nested dicts: tables merge key by key, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def with_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config (a checkpoint's) with the fields added since it was written at their defaults: a new
    field's default keeps what runs did before it existed, so an older run resumes unless it changed."""
    return merge(TrainConfig().to_dict(), values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a config may name a preset as ``base = "NAME"`` and override parts of it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    base = values.pop("base", None)
    if base is not None:
        from vsrcli.train.presets import preset_dict

        values = merge(preset_dict(str(base)), values)
    return values


def load_config(path: str | Path) -> TrainConfig:
    return from_dict(load_toml(path))


def _check_range(pair: list[float], what: str, low: float, high: float) -> None:
    if len(pair) != 2 or not (low <= pair[0] <= pair[1] <= high):
        raise UsageError(f"{what} must be [min, max] within [{low}, {high}], got {pair}")


def validate(cfg: TrainConfig) -> None:
    """Reject configs that cannot train, with a message that names the field."""
    if cfg.arch not in ARCHS:
        raise UsageError(f"unknown arch {cfg.arch!r}", hint=f"one of {', '.join(ARCHS)}")
    d, g, o, r = cfg.data, cfg.degradation, cfg.optim, cfg.run
    if g.kind not in DEGRADATIONS:
        raise UsageError(f"unknown degradation {g.kind!r}", hint=f"one of {', '.join(DEGRADATIONS)}")
    if r.export_dtype not in ("float32", "float16"):
        raise UsageError(f"run.export_dtype must be float32 or float16, got {r.export_dtype!r}")
    if r.precision not in PRECISIONS:
        raise UsageError(f"unknown precision {r.precision!r}", hint=f"one of {', '.join(PRECISIONS)}")
    if g.scale not in (1, 2, 4):
        raise UsageError(f"degradation.scale must be 1, 2 or 4, got {g.scale}")
    if cfg.arch in CLEANING_ARCHS and g.kind != "realworld":
        raise UsageError(f"arch {cfg.arch} trains with degradation kind 'realworld'")
    if d.clip_len < 2 or (d.seq_flip and d.clip_len % 2):
        raise UsageError(f"data.clip_len must be >= 2 (and even with seq_flip), got {d.clip_len}")
    if d.patch < 8 or d.batch < 1:
        raise UsageError("data.patch must be >= 8 and data.batch >= 1")
    if not 0.0 <= d.still_prob <= 1.0:
        raise UsageError(f"data.still_prob must be within [0, 1], got {d.still_prob}")
    if d.max_interval < 1:
        raise UsageError("data.max_interval must be >= 1")
    _check_range(d.gt_downscale, "data.gt_downscale", 0.05, 1.0)
    if not 0.05 <= cfg.val.downscale <= 1.0:
        raise UsageError(f"val.downscale must be within [0.05, 1], got {cfg.val.downscale}")
    _check_range(g.sigma, "degradation.sigma", 0.0, 255.0)
    _check_range([float(c) for c in g.crf], "degradation.crf", 0.0, 51.0)
    _check_range(g.blur_sigma, "degradation.blur_sigma", 0.0, 50.0)
    bad = sorted(set(g.blur_kinds) - {"gaussian", "motion", "average"})
    if bad or not g.blur_kinds:
        raise UsageError(
            f"degradation.blur_kinds must be a non-empty subset of gaussian, motion, average: {bad}"
        )
    if r.iters < 1 or o.lr <= 0 or not 0 <= o.spynet_lr_mult or not 0 < o.head_lr_mult:
        raise UsageError(
            "run.iters must be >= 1, optim.lr > 0, optim.spynet_lr_mult >= 0 and optim.head_lr_mult > 0"
        )
    if o.loss not in ("charbonnier", "l1", "mse"):
        raise UsageError(f"unknown loss {o.loss!r}", hint="charbonnier, l1 or mse")
    if r.checkpoint_minutes <= 0 or r.log_every < 1 or r.val_every < 0:
        raise UsageError("run.checkpoint_minutes > 0, run.log_every >= 1 and run.val_every >= 0 are required")
    unknown_runtime = sorted(set(cfg.runtime) - set(RUNTIME_ARGS))
    if unknown_runtime:
        raise UsageError(
            f"unknown key(s) in [runtime]: {', '.join(unknown_runtime)}",
            hint=f"known: {', '.join(RUNTIME_ARGS)}",
        )
    extra = int(cfg.arch_args.get("extra_in_channels", 0))
    if g.noise_map and extra != 1:
        raise UsageError("degradation.noise_map needs arch_args.extra_in_channels = 1")
    if not g.noise_map and extra:
        raise UsageError("arch_args.extra_in_channels > 0 needs degradation.noise_map = true")


def default_data_root() -> str:
    """``$VSRCLI_DATA_ROOT`` or ``../shared/data`` (the team's shared data folder, seen from a checkout)."""
    return os.environ.get("VSRCLI_DATA_ROOT", str(Path("..") / "shared" / "data"))


def to_toml(values: dict[str, Any]) -> str:
    """Write nested plain data as TOML (tables of scalars and lists only), so a resolved config can be saved
    next to a run and edited by hand."""
    lines: list[str] = []
    scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in values.items() if isinstance(v, dict)}
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables.items():
        lines.append("")
        lines.append(f"[{key}]")
        for sub, value in table.items():
            if isinstance(value, dict):
                raise ValueError("nested tables deeper than one level are not supported")
            lines.append(f"{sub} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} as TOML")


def resolve(
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """The run's config: a preset or a TOML file (not both), then command-line overrides on top.

    ``data.root`` defaults to :func:`default_data_root` so presets find the shared data from a checkout.
    """
    if preset and config_file:
        raise UsageError("give either --preset or --config, not both")
    if preset:
        from vsrcli.train.presets import preset_dict

        values = preset_dict(preset)
    elif config_file:
        values = load_toml(config_file)
    else:
        raise UsageError("give --preset NAME or --config FILE (or --resume with --out of an existing run)")
    values = merge(values, overrides or {})
    values.setdefault("data", {})
    if not values["data"].get("root"):
        values["data"]["root"] = default_data_root()
    return from_dict(values)
