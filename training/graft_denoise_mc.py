"""Build vsrcli-denoise: vsrcli-denoise-1pass's weights with a SPyNet that reads motion, and the
motion-compensated second pass switched on (prefilter_radius). The denoiser itself is not retrained.

SPyNet: vsrcli-denoise-1pass's own learnt almost no motion (mean |flow| 0.22 px on a parkour pair at 1/4
size), so this takes the one of the decompress-hb run and fine-tunes it without labels for 400 steps (about 3
minutes on 2 cores): photometric Charbonnier loss between a frame and its neighbour 1 or 2 frames away warped
onto it, plus edge-aware smoothness, on 64x64 crops of the training clips area-downsampled x4, which is what
the second pass feeds it (layers/prefilter.py). On the held-out clips (gaps 1 and 2, inside pixels) its mean
absolute warping error went from 0.0490 (worse than assuming no motion: 0.0465) to 0.0409. The single pass
changes by about 0.01 dB with either SPyNet, because that network barely uses its flows.

    python training/graft_denoise_mc.py [DEST]      (default weights/; DATA root: ../shared/data)
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vsrcli.models.basicvsr import warp
from vsrcli.models.layers.prefilter import quarter_size
from vsrcli.models.spynet import SPyNet
from vsrcli.train.config import from_dict
from vsrcli.train.data import DAVIS_VAL, VIMEO_TEST
from vsrcli.train.export import export_state
from vsrcli.train.state import load_checkpoint

RADIUS = 3
STRICTNESS = 0.35
STEPS, LR, SMOOTH, CROP, BATCH = 400, 2e-5, 0.1, 64, 8


def _quarter_frames(folder: Path, count: int) -> torch.Tensor:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".jpg", ".png"))[:count]
    frames = torch.stack(
        [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files]
    )
    return quarter_size(frames.float() / 255)


def _training_clips(root: Path) -> list[torch.Tensor]:
    davis, vimeo = root / "DAVIS2016_val_480p/JPEGImages", root / "Vimeo90K_septuplet_sample/sequences"
    folders = [p for p in sorted(davis.iterdir()) if p.name not in DAVIS_VAL]
    folders += [
        p
        for s in sorted(vimeo.iterdir())
        for p in sorted(s.iterdir())
        if f"{s.name}/{p.name}" not in VIMEO_TEST
    ]
    return [_quarter_frames(p, 40) for p in folders]


def _loss(flow: torch.Tensor, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
    inside = (warp(torch.ones_like(supp[:, :1]), flow) > 0.999).float()
    diff = warp(supp, flow) - ref
    photometric = ((diff.square() + 1e-6).sqrt().mean(1, keepdim=True) * inside).sum() / inside.sum().clamp(
        min=1
    )
    smooth = 0.0
    for dim in (-1, -2):
        grad = flow.diff(dim=dim).abs()
        edge = ref.diff(dim=dim).abs().mean(1, keepdim=True)
        smooth = smooth + (grad * torch.exp(-10 * edge)).mean()
    return photometric + SMOOTH * smooth


def finetune_spynet(spynet: SPyNet, clips: list[torch.Tensor], seed: int = 0) -> None:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    opt = torch.optim.Adam(spynet.parameters(), lr=LR)
    spynet.train()
    for step in range(STEPS):
        refs, supps = [], []
        for _ in range(BATCH):
            clip = rng.choice(clips)
            gap = rng.choice((1, 2))
            i = rng.randrange(len(clip) - gap)
            y = rng.randrange(clip.shape[-2] - CROP + 1)
            x = rng.randrange(clip.shape[-1] - CROP + 1)
            a, b = (clip[j, :, y : y + CROP, x : x + CROP] for j in (i, i + gap))
            if rng.random() < 0.5:
                a, b = b, a
            refs.append(a)
            supps.append(b)
        ref, supp = torch.stack(refs), torch.stack(supps)
        loss = _loss(spynet(ref, supp), ref, supp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(spynet.parameters(), 1.0)
        opt.step()
        if (step + 1) % 50 == 0:
            print(f"spynet step {step + 1}/{STEPS} loss {loss.item():.4f}", flush=True)
    spynet.eval()


if __name__ == "__main__":
    torch.set_num_threads(2)
    denoise = load_checkpoint("training/basicvsrpp-c32n4-denoise/checkpoint.pt")
    flows = load_checkpoint("training/basicvsrpp-c32n4hb-decompress/checkpoint.pt")["model"]
    spynet = SPyNet()
    spynet.load_state_dict(
        {k.removeprefix("spynet."): v for k, v in flows.items() if k.startswith("spynet.")}
    )
    finetune_spynet(spynet, _training_clips(Path(os.environ.get("DATA", "../shared/data"))))
    state = dict(denoise["model"])
    tuned = {f"spynet.{k}": v.detach() for k, v in spynet.state_dict().items()}
    assert tuned.keys() == {k for k in state if k.startswith("spynet.")}
    state.update(tuned)
    cfg = from_dict(denoise["config"])
    cfg.name = "basicvsrpp-c32n4mc-denoise"
    cfg.description = (
        "vsrcli-denoise-1pass with a motion-reading SPyNet (the decompress-hb run's, fine-tuned on real "
        "clips without labels) and a motion-compensated second pass "
        f"(radius {RADIUS}, strictness {STRICTNESS})."
    )
    cfg.arch_args = {**cfg.arch_args, "prefilter_radius": RADIUS, "prefilter_strictness": STRICTNESS}
    result = export_state(
        state,
        cfg,
        sys.argv[1] if len(sys.argv) > 1 else "weights",
        step=int(denoise["step"]),
        elapsed_s=float(denoise["elapsed_s"]),
        val_history=list(denoise["val_history"]),
        val_baseline=denoise.get("val_baseline"),
    )
    print(result.weights)
