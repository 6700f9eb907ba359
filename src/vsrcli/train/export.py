"""Release files from a training run: tensors-only safetensors named by their hash, plus a model card.

The weights file holds exactly the network's ``state_dict`` (the official key layout, SPyNet's mean/std
buffers included) as contiguous float32 (or float16, ``run.export_dtype``, half the size), and is named
``<name>-<first 8 hex of sha256>.safetensors`` so the zoo can verify it. The card (JSON for programs,
Markdown for people) records how the model was made.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsrcli.errors import OutputError
from vsrcli.train.config import TrainConfig, from_dict


@dataclass
class ExportResult:
    weights: Path
    card_json: Path
    card_md: Path
    sha256: str
    card: dict[str, Any]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_run(run_dir: str | Path, dest: str | Path, *, name: str | None = None) -> ExportResult:
    """Export the latest checkpoint of ``run_dir`` into ``dest``."""
    from vsrcli.train import ops
    from vsrcli.train.state import CHECKPOINT, load_checkpoint

    payload = load_checkpoint(Path(run_dir) / CHECKPOINT)
    cfg = from_dict(payload["config"])
    net = ops.build_network(cfg.arch, **cfg.arch_args)
    net.load_state_dict(payload["model"], strict=True)  # the release must load into the network as it is
    return export_state(
        payload["model"],
        cfg,
        dest,
        name=name,
        num_params=ops.count_parameters(net),
        step=int(payload["step"]),
        elapsed_s=float(payload["elapsed_s"]),
        val_history=list(payload["val_history"]),
        val_baseline=payload.get("val_baseline"),
    )


def export_state(
    state: dict[str, Any],
    cfg: TrainConfig,
    dest: str | Path,
    *,
    name: str | None = None,
    num_params: int | None = None,
    step: int = 0,
    elapsed_s: float = 0.0,
    val_history: list[dict[str, Any]] | None = None,
    val_baseline: float | None = None,
) -> ExportResult:
    """Write ``state`` (a network state dict) and its card into ``dest``."""
    import torch
    from safetensors.torch import save_file

    from vsrcli.train.data import DAVIS_VAL, VIMEO_TEST

    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{dest}: cannot create folder ({exc.strerror})") from exc
    name = name or cfg.name
    dtype = torch.float16 if cfg.run.export_dtype == "float16" else torch.float32
    # integer buffers (the light network's flow_downscale) keep their type: they are settings, not weights
    tensors = {
        k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
        for k, v in state.items()
    }
    if num_params is None:  # without the network at hand: every tensor but SPyNet's normalisation buffers
        num_params = sum(
            v.numel() for k, v in tensors.items() if not k.endswith(("spynet.mean", "spynet.std"))
        )
    tmp = dest / f".{name}.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    digest = sha256_file(tmp)
    weights = dest / f"{name}-{digest[:8]}.safetensors"
    os.replace(tmp, weights)
    history = val_history or []
    card: dict[str, Any] = {
        "name": name,
        "file": weights.name,
        "sha256": digest,
        "file_size_bytes": weights.stat().st_size,
        "dtype": cfg.run.export_dtype,
        "arch": cfg.arch,
        "arch_args": {**cfg.arch_args, **cfg.runtime},
        "num_params": num_params,
        "scale": cfg.degradation.scale,
        "description": cfg.description,
        "degradation": degradation_summary(cfg.to_dict()["degradation"]),
        "data": {
            "paths": cfg.data.paths,
            "held_out": {"vid4": "never used", "vimeo90k_t": list(VIMEO_TEST), "davis_val": list(DAVIS_VAL)},
            "clip_len": cfg.data.clip_len,
            "patch_lr": cfg.data.patch,
            "batch": cfg.data.batch,
            "seq_flip": cfg.data.seq_flip,
            "still_prob": cfg.data.still_prob,
        },
        "training": {
            "iterations": step,
            "planned_iterations": cfg.run.iters,
            "wall_time_s": round(elapsed_s, 1),
            "precision": cfg.run.precision,
            "optim": cfg.to_dict()["optim"],
            "seed": cfg.run.seed,
        },
        "validation": {
            "metric": "PSNR (dB), Y channel, crop 0, per-frame mean, clip mean",
            "clips": cfg.val.clips,
            "frames": cfg.val.frames,
            "max_size_lr": cfg.val.max_size,
            "downscale": cfg.val.downscale,
            "baseline": None if val_baseline is None else round(val_baseline, 3),
            "baseline_is": "MATLAB bicubic x4" if cfg.degradation.scale != 1 else "the degraded input",
            "final": history[-1] if history else None,
            "curve": [[r["step"], round(r["val_psnr_y"], 3)] for r in history],
        },
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch_version": str(torch.__version__),
    }
    card_json = dest / f"{name}-{digest[:8]}.json"
    card_json.write_text(json.dumps(card, indent=2) + "\n")
    card_md = dest / f"{name}-{digest[:8]}.md"
    card_md.write_text(render_card(card))
    return ExportResult(weights, card_json, card_md, digest, card)


_RELEVANT = {
    "bi": (),
    "bd": (),
    "noise": ("sigma", "noise_map"),
    "blur": ("blur_kinds", "blur_sigma", "motion_len"),
    "compress": ("codec", "crf"),
    "realworld": ("blur_sigma", "sigma", "codec", "crf", "walk_step"),
}


def degradation_summary(deg: dict[str, Any]) -> dict[str, Any]:
    """Only the degradation fields that the kind uses (a BI model has no noise range)."""
    keys = ("kind", "scale", *_RELEVANT.get(deg["kind"], tuple(deg)))
    return {k: deg[k] for k in keys if k in deg}


def render_card(card: dict[str, Any]) -> str:
    """A short Markdown model card from the JSON card."""
    t, v, d = card["training"], card["validation"], card["data"]
    held = d["held_out"]
    final = v["final"]
    lines = [
        f"# {card['name']}",
        "",
        card["description"],
        "",
        f"- file: `{card['file']}` (sha256 `{card['sha256']}`, {card['file_size_bytes'] / 1e6:.2f} MB)",
        f"- architecture: `{card['arch']}` {json.dumps(card['arch_args'])}, "
        f"{card['num_params']:,} parameters, x{card['scale']}",
        f"- degradation: {json.dumps(card['degradation'])}",
        f"- data: {', '.join(d['paths'])}; held out: Vid4 (never used), Vimeo-90K-T "
        f"{', '.join(held['vimeo90k_t'])}, DAVIS {', '.join(held['davis_val'])}",
        f"- training: {t['iterations']} of {t['planned_iterations']} iterations, "
        f"{t['wall_time_s'] / 3600:.2f} h, {t['precision']}, clips of {d['clip_len']} frames, "
        f"{'LR' if card['scale'] != 1 else 'input'} patch {d['patch_lr']}, batch {d['batch']}",
        f"- validation ({v['metric']}) on {', '.join(Path(c).name for c in v['clips'])}"
        + (f" shrunk by {v['downscale']:g}" if v.get("downscale", 1.0) != 1.0 else "")
        + ": "
        + (f"{final['val_psnr_y']:.2f} dB at step {final['step']}" if final else "not run")
        + (f" ({v['baseline_is']}: {v['baseline']:.2f} dB)" if v.get("baseline") is not None else ""),
    ]
    if v["curve"]:
        lines += ["", "| step | val PSNR-Y (dB) |", "| ---: | ---: |"]
        lines += [f"| {s} | {p:.2f} |" for s, p in v["curve"]]
    return "\n".join(lines) + "\n"
