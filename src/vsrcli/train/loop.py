"""The training loop: Charbonnier loss, Adam with cosine decay, SPyNet at a smaller rate, exact resume
(the checkpoint and RNG state it resumes from: vsrcli.train.state).

A run lives in one folder: ``config.toml`` (the resolved config), ``checkpoint.pt`` (everything needed to
continue bit for bit: weights, optimizer, step, every RNG state, the sampler's state, wall time, validation
history) and ``log.jsonl`` (loss and validation PSNR). Checkpoints are written every few minutes, at the end,
and on Ctrl-C, always atomically (temporary file, then rename), so a killed run loses minutes, never the run.
"""

from __future__ import annotations

import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsrcli.device import resolve_device, resolve_precision
from vsrcli.errors import CheckpointError, InputError, Interrupted, UsageError
from vsrcli.train import ops
from vsrcli.train.config import CLEANING_ARCHS, TrainConfig, to_toml, with_defaults
from vsrcli.train.data import ClipSampler, discover, load_val_clips
from vsrcli.train.degradations import degrade
from vsrcli.train.state import (
    CHECKPOINT,
    FORMAT,
    config_differences,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

LOG = "log.jsonl"
CONFIG = "config.toml"


@dataclass
class Progress:
    """What the loop reports after each step, validation and checkpoint (``event`` says which)."""

    event: str  # "start" | "step" | "val" | "checkpoint" | "done"
    step: int
    total: int
    loss: float | None = None
    lr: float = 0.0
    it_per_s: float = 0.0
    eta_s: float = 0.0
    elapsed_s: float = 0.0
    val_psnr: float | None = None
    message: str = ""


@dataclass
class TrainResult:
    out_dir: Path
    step: int
    elapsed_s: float
    checkpoint: Path
    val_history: list[dict[str, Any]] = field(default_factory=list)


def lr_at(step: int, total: int, base: float, eta_min: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay from ``base`` to ``eta_min`` at ``total`` (a pure function of step,
    so the schedule needs no state of its own to resume)."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return eta_min + (base - eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def is_spynet(name: str) -> bool:
    """SPyNet parameters: ``spynet.*`` (and ``basicvsr.spynet.*`` inside RealBasicVSR)."""
    return name.startswith("spynet.") or ".spynet." in name


def spynet_tail(name: str) -> str:
    """A SPyNet parameter's name from ``spynet.`` on, whatever holds it (``sr.spynet.x`` -> ``spynet.x``)."""
    return name if name.startswith("spynet.") else name[name.index(".spynet.") + 1 :]


HEAD_PREFIXES = ("upsample1.", "upsample2.", "conv_hr.", "head_body.", "conv_last.")


def is_head(name: str) -> bool:
    """The per-pixel output head of the BasicVSR family (after the propagation)."""
    return name.removeprefix("basicvsr.").startswith(HEAD_PREFIXES)


def zero_flow_init(model: torch.nn.Module) -> int:
    """Zero the last convolution of every SPyNet level (the only convs with 2 outputs), so an untrained SPyNet
    predicts no motion instead of random flows; returns how many were zeroed."""
    count = 0
    for name, module in model.named_modules():
        if is_spynet(name + ".") and isinstance(module, torch.nn.Conv2d) and module.out_channels == 2:
            torch.nn.init.zeros_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
            count += 1
    return count


def flow_is_zero(model: torch.nn.Module) -> bool:
    """True when every SPyNet level's last conv is all zeros, i.e. SPyNet outputs exactly zero flow."""
    found = False
    for name, module in model.named_modules():
        if is_spynet(name + ".") and isinstance(module, torch.nn.Conv2d) and module.out_channels == 2:
            found = True
            if module.weight.count_nonzero() or (module.bias is not None and module.bias.count_nonzero()):
                return False
    return found


class _ZeroFlow:
    """While SPyNet is frozen at its zero-flow init its output is exactly zero, so skip computing it: the same
    numbers for ~15% less work per step (2(T-1) SPyNet passes over the clip)."""

    def __init__(self, model: torch.nn.Module) -> None:
        try:
            self.spynet: torch.nn.Module | None = find_spynet(model)
        except UsageError:
            self.spynet = None
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        if self.spynet is None or value == self._active:
            return
        if value:
            self.spynet.forward = _zero_flow
        else:
            del self.spynet.forward
        self._active = value


def _zero_flow(ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
    return ref.new_zeros(ref.shape[0], 2, *ref.shape[-2:])


def _widened(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor | None:
    """A conv weight that gained input channels: the old ones first, zeros for the new (same function)."""
    if old.ndim != 4 or new.ndim != 4 or old.shape[1] >= new.shape[1]:
        return None
    if old.shape[0] != new.shape[0] or old.shape[2:] != new.shape[2:]:
        return None
    out = torch.zeros_like(new)
    out[:, : old.shape[1]] = old
    return out


def warm_start(
    model: torch.nn.Module, path: str | Path, *, flow_only: bool = False, sigma: float = 0.0
) -> list[str]:
    """Load the tensors of ``path`` whose names and shapes match; returns the names that were loaded.

    A conv whose input grew (e.g. a guide that gained channels) keeps its old weights for the leading input
    channels and starts with zeros for the new ones, so the warm-started network begins where the old left.
    A network may first adapt the weights to itself (``adapt_state_dict``: e.g. a denoiser's noise-map
    channels dropped for a deblurrer, which is then that denoiser told ``sigma``). ``flow_only`` loads only
    the flow network (SPyNet), so a run can take its motion estimation from one checkpoint and everything
    else from another; its names match from ``spynet.`` on, so a bare SPyNet file serves RealBasicVSR too.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: init weights not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = load_checkpoint(path)["model"]
    own = model.state_dict()
    if flow_only:  # a bare SPyNet file, or the SPyNet inside another network, under this network's prefix
        own_names = {spynet_tail(k): k for k in own if is_spynet(k)}
        state = {own_names.get(spynet_tail(k), k): v for k, v in state.items() if is_spynet(k)}
    elif callable(adapt := getattr(model, "adapt_state_dict", None)):
        state = adapt(state, sigma=sigma)
    # Integer buffers are settings the weights record (the light x4's ``flow_downscale``), not learnt values:
    # the run's ``arch_args`` decide them, so a run can warm-start a variant of the network it starts from.
    tensors = {
        k: v for k, v in state.items() if k in own and own[k].shape == v.shape and own[k].is_floating_point()
    }
    for k, v in state.items():
        if k in own and k not in tensors and (grown := _widened(v, own[k])) is not None:
            tensors[k] = grown
    if not tensors:
        raise CheckpointError(f"{path}: no tensor matches the network (wrong architecture?)")
    model.load_state_dict(tensors, strict=False)
    return list(tensors)


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """mean(sqrt((pred - target)^2 + eps)), a smooth L1."""
    return torch.sqrt((pred - target) ** 2 + eps).mean()


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
    pred = pred.float()
    if kind == "charbonnier":
        return charbonnier(pred, target, eps)
    if kind == "l1":
        return (pred - target).abs().mean()
    return ((pred - target) ** 2).mean()


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """Turn Ctrl-C into a flag the loop checks after each step, so it can save before stopping."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        if flag.is_set():  # a second Ctrl-C stops at once
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast to under the one precision rule (vsrcli.device), or None for float32."""
    dtype = resolve_precision(precision, device)
    return None if dtype == torch.float32 else dtype


def _forward(
    model: torch.nn.Module, lq: torch.Tensor, want_clean: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    if want_clean:
        out = model(lq, return_lqs=True)
        return out[0], out[1]
    out = model(lq)
    return (out[0] if isinstance(out, tuple) else out), None


class _Log:
    """Append-only JSONL log; on resume the lines past the checkpoint's step are dropped."""

    def __init__(self, path: Path, keep_until: int | None) -> None:
        self.path = path
        if keep_until is not None and path.exists():
            kept = [
                ln
                for ln in path.read_text().splitlines()
                if ln and json.loads(ln).get("step", 0) <= keep_until
            ]
            path.write_text("".join(ln + "\n" for ln in kept))
        elif keep_until is None:
            path.write_text("")

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def validate_model(
    model: torch.nn.Module, val_set: list[tuple[str, torch.Tensor, torch.Tensor]], device: torch.device
) -> dict[str, float]:
    """PSNR (Y, crop 0) per held-out clip."""
    model.eval()
    scores = {}
    with torch.no_grad():
        for name, lq, gt in val_set:
            out, _ = _forward(model, lq.unsqueeze(0).to(device), False)
            scores[name] = ops.psnr_y(out[0].float().clamp(0, 1).cpu(), gt)
    model.train()
    return scores


def validation_baseline(val_set: list[tuple[str, torch.Tensor, torch.Tensor]], scale: int) -> float | None:
    """Mean PSNR (Y) of the obvious answer on the validation clips: MATLAB bicubic for x4, the input itself
    for restoration; what a trained model has to beat."""
    if not val_set:
        return None
    scores = []
    for _, lq, gt in val_set:
        guess = ops.imresize(lq[:, :3], float(scale)) if scale != 1 else lq[:, :3]
        scores.append(ops.psnr_y(guess.clamp(0, 1), gt))
    return sum(scores) / len(scores)


def prepare_validation(cfg: TrainConfig, root: str) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, input, ground truth) for each validation clip, degraded once with the validation seed."""
    if not cfg.val.clips or cfg.run.val_every == 0:
        return []
    multiple = 4 if cfg.degradation.scale == 1 else 1
    v = cfg.val
    clips = load_val_clips(v.clips, root, v.frames, v.max_size, cfg.degradation.scale, multiple, v.downscale)
    rng = np.random.default_rng(cfg.val.seed)
    return [(name, degrade(gt.unsqueeze(0), cfg.degradation, rng).lq[0], gt) for name, gt in clips]


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    callback: Callable[[Progress], None] | None = None,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Train (or continue) the run in ``out_dir`` until ``run.iters`` (or ``stop_at_step``) is reached.

    On Ctrl-C the state is saved and :class:`Interrupted` raised; ``resume=True`` then continues exactly.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    payload: dict[str, Any] | None = None
    if resume:
        payload = load_checkpoint(ckpt_path)
        diffs = config_differences(with_defaults(payload["config"]), cfg.to_dict())
        if diffs:
            raise UsageError(
                f"the config differs from the checkpoint's in: {', '.join(diffs)}",
                hint="resume with the same preset/config (or only change iters, device, threads)",
            )
    elif ckpt_path.exists():
        raise UsageError(
            f"{out} already holds a run", hint="add --resume to continue it or pick another --out"
        )
    emit = callback or (lambda p: None)
    device = resolve_device(cfg.run.device)
    amp_dtype = _autocast_dtype(cfg.run.precision, device)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    root = cfg.data.root or "."

    torch.manual_seed(cfg.run.seed)
    np.random.seed(cfg.run.seed % 2**32)
    random.seed(cfg.run.seed)
    model = ops.build_network(cfg.arch, **cfg.arch_args)
    if cfg.optim.zero_flow_init:
        zero_flow_init(model)
    if cfg.init:
        warm_start(model, cfg.init, sigma=cfg.init_sigma)
    if cfg.init_flow:
        warm_start(model, cfg.init_flow, flow_only=True)
    # channels_last: oneDNN's convolutions (forward and backward) run ~1.5x faster on this CPU in that
    # layout (benchmarks/conv_throughput.py); values are unchanged up to summation order.
    model = model.to(device).to(memory_format=torch.channels_last)
    spy = [p for n, p in model.named_parameters() if is_spynet(n)]
    split_head = cfg.optim.head_lr_mult != 1.0  # no extra group otherwise: older runs resume unchanged
    head = [p for n, p in model.named_parameters() if split_head and is_head(n)]
    main = [p for n, p in model.named_parameters() if not is_spynet(n) and not (split_head and is_head(n))]
    groups = [{"params": main, "lr_mult": 1.0}]
    if spy:
        groups.append({"params": spy, "lr_mult": cfg.optim.spynet_lr_mult})
    if head:
        groups.append({"params": head, "lr_mult": cfg.optim.head_lr_mult})
    opt = torch.optim.Adam(
        groups,
        lr=cfg.optim.lr,
        betas=(cfg.optim.betas[0], cfg.optim.betas[1]),
        weight_decay=cfg.optim.weight_decay,
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)

    clips, _ = discover(cfg.data.paths, root, cfg.data.held_out)
    if not clips:
        raise InputError("no training clips left after removing the held-out ones", hint="check --data")
    sampler = ClipSampler(clips, cfg.data, cfg.degradation.scale, seed=cfg.run.seed)
    val_set = prepare_validation(cfg, root)

    step, elapsed, val_history, window = 0, 0.0, [], [0.0, 0]
    if payload is not None:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        scaler.load_state_dict(payload["scaler"])
        sampler.load_state_dict(payload["sampler"])
        set_rng_state(payload["rng"])
        step, elapsed = int(payload["step"]), float(payload["elapsed_s"])
        val_history, window = list(payload["val_history"]), list(payload["loss_window"])
    else:
        (out / CONFIG).write_text(to_toml(cfg.to_dict()))
    log = _Log(out / LOG, step if payload is not None else None)
    baseline = validation_baseline(val_set, cfg.degradation.scale)
    if baseline is not None and payload is None:
        log.write({"step": 0, "baseline_psnr_y": baseline})
    total = cfg.run.iters
    want_clean = cfg.arch in CLEANING_ARCHS

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            {
                "format": FORMAT,
                "step": step,
                "config": cfg.to_dict(),
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scaler": scaler.state_dict(),
                "sampler": sampler.state_dict(),
                "rng": rng_state(),
                "elapsed_s": elapsed,
                "val_history": val_history,
                "val_baseline": baseline,
                "loss_window": window,
                "torch_version": str(torch.__version__),
            },
        )
        emit(Progress("checkpoint", step, total, elapsed_s=elapsed, message=str(ckpt_path)))

    skip_flow = _ZeroFlow(model)
    emit(Progress("start", step, total, elapsed_s=elapsed, message=f"{len(clips)} training clips"))
    rate = 0.0
    with _sigint_flag() as stop:
        if payload is None and cfg.optim.flow_pretrain_iters > 0:
            elapsed += _pretrain_flow(model, clips, cfg, stop, emit, log)
            checkpoint()  # a resume from here skips the pre-training
        last_save = time.monotonic()
        model.train()
        while step < total and (stop_at_step is None or step < stop_at_step):
            t0 = time.monotonic()
            lr = lr_at(step, total, cfg.optim.lr, cfg.optim.eta_min, cfg.optim.warmup)
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_mult"]
            frozen = step < cfg.optim.fix_iter
            for p in spy:
                p.requires_grad_(not frozen)
            skip_flow.active = frozen and flow_is_zero(model)

            gt = sampler.sample()
            deg = degrade(gt, cfg.degradation, sampler.rng)
            gt, lq = gt.to(device), deg.lq.to(device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                pred, cleaned = _forward(model, lq, want_clean)
            loss = pixel_loss(pred, gt, cfg.optim.loss, cfg.optim.charbonnier_eps)
            if want_clean and cleaned is not None and deg.lq_clean is not None:
                clean_loss = pixel_loss(
                    cleaned, deg.lq_clean.to(device), cfg.optim.loss, cfg.optim.charbonnier_eps
                )
                loss = loss + cfg.optim.cleaning_weight * clean_loss
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            step += 1

            dt = time.monotonic() - t0
            elapsed += dt
            rate = 1.0 / dt if rate == 0.0 else 0.9 * rate + 0.1 / dt
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                checkpoint()
                raise UsageError(f"the loss became {loss_value} at step {step}", hint="lower optim.lr")
            window[0] += loss_value
            window[1] += 1
            if step % cfg.run.log_every == 0 or step == total:
                log.write(
                    {
                        "step": step,
                        "loss": window[0] / window[1],
                        "lr": lr,
                        "it_s": rate,
                        "elapsed_s": elapsed,
                    }
                )
                window = [0.0, 0]
            emit(
                Progress("step", step, total, loss_value, lr, rate, (total - step) / max(rate, 1e-9), elapsed)
            )

            if val_set and (step % cfg.run.val_every == 0 or step == total):
                t1 = time.monotonic()
                scores = validate_model(model, val_set, device)
                elapsed += time.monotonic() - t1
                mean = sum(scores.values()) / len(scores)
                record = {"step": step, "val_psnr_y": mean, "val": scores, "elapsed_s": elapsed}
                val_history.append(record)
                log.write(record)
                emit(Progress("val", step, total, elapsed_s=elapsed, val_psnr=mean))
            if stop.is_set():
                checkpoint()
                raise Interrupted(
                    f"training interrupted at step {step}; checkpoint saved", hint="--resume continues"
                )
            if time.monotonic() - last_save >= cfg.run.checkpoint_minutes * 60:
                checkpoint()
                last_save = time.monotonic()
    skip_flow.active = False
    checkpoint()
    emit(Progress("done", step, total, elapsed_s=elapsed))
    return TrainResult(out, step, elapsed, ckpt_path, val_history)


def find_spynet(model: torch.nn.Module) -> torch.nn.Module:
    """The SPyNet inside a network (``spynet`` or ``basicvsr.spynet``)."""
    for name, module in model.named_modules():
        if name.split(".")[-1] == "spynet":
            return module
    raise UsageError("this network has no SPyNet to pre-train")


def _pretrain_flow(
    model: torch.nn.Module,
    clips: list[Any],
    cfg: TrainConfig,
    stop: threading.Event,
    emit: Callable[[Progress], None],
    log: _Log,
) -> float:
    """Supervised SPyNet pre-training; returns its wall time. Ctrl-C here stops without a checkpoint."""
    from vsrcli.train.flow import pretrain_spynet

    n = cfg.optim.flow_pretrain_iters
    start = time.monotonic()

    def report(step: int, epe: float) -> None:
        emit(Progress("flow", step, n, loss=epe, elapsed_s=time.monotonic() - start))
        if step % 10 == 0 or step == n:
            log.write({"flow_step": step, "epe": epe})
        if stop.is_set():
            raise Interrupted("interrupted during SPyNet pre-training; nothing was saved", hint="start again")

    spynet = find_spynet(model)
    device = next(spynet.parameters()).device
    pretrain_spynet(
        spynet,
        clips,
        steps=n,
        batch=cfg.optim.flow_pretrain_batch,
        lr=cfg.optim.flow_pretrain_lr,
        seed=cfg.run.seed + 1,
        device=device,
        callback=report,
    )
    return time.monotonic() - start
