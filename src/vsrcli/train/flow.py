"""Supervised SPyNet pre-training on synthetic motion with exact ground-truth flow.

The official recipe starts from a SPyNet pretrained on optical-flow datasets; none can be downloaded here.
Warping a still image by two known affine maps gives a frame pair whose flow is known exactly, so SPyNet can
learn small, smooth motions (the kind the super-resolution clips contain) in a few minutes of CPU time before
the network around it starts training. Pixels whose source falls outside the image are masked out.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from vsrcli.train.data import Clip, FrameCache


def _affine(rng: np.random.Generator, zoom: float, angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return zoom * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def flow_pair(
    image: torch.Tensor,
    size: int,
    rng: np.random.Generator,
    *,
    max_flow: float = 6.0,
    max_rotate: float = 2.0,
    max_zoom: float = 0.03,
    shrink: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ref, supp, flow, valid) for one image: ``supp`` warped by ``flow`` gives ``ref`` where ``valid``.

    Both frames sample the image through affine maps p -> c + M p (p: pixel offset from the patch centre,
    ``shrink`` image pixels per patch pixel); supp(p + f(p)) = ref(p) for f(p) = Ms^-1 (cr + Mr p - cs) - p.
    """
    _, h, w = image.shape
    half = (size - 1) / 2.0
    m_ref = _affine(rng, shrink * rng.uniform(0.9, 1.1), rng.uniform(-10, 10))
    m_rel = _affine(rng, 1.0 + rng.uniform(-max_zoom, max_zoom), rng.uniform(-max_rotate, max_rotate))
    m_supp = m_rel @ m_ref
    reach = shrink * size * 0.75
    c_ref = np.array(
        [
            rng.uniform(min(reach, w / 2), max(w - reach, w / 2)),
            rng.uniform(min(reach, h / 2), max(h - reach, h / 2)),
        ]
    )
    c_supp = c_ref + m_ref @ rng.uniform(-max_flow, max_flow, size=2)
    offs = torch.arange(size, dtype=torch.float64) - half
    gy, gx = torch.meshgrid(offs, offs, indexing="ij")
    p = torch.stack([gx, gy], dim=-1)  # (S, S, 2) as (x, y)

    def coords(c: np.ndarray, m: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(c) + p @ torch.from_numpy(m).T

    src_ref, src_supp = coords(c_ref, m_ref), coords(c_supp, m_supp)
    flow = (src_ref - torch.from_numpy(c_supp)) @ torch.from_numpy(np.linalg.inv(m_supp)).T - p
    size_xy = torch.tensor([w, h], dtype=torch.float64)

    def sample(src: torch.Tensor) -> torch.Tensor:
        grid = ((2 * src + 1) / size_xy - 1).float().unsqueeze(0)
        img = image.float().div(255).unsqueeze(0)
        return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]

    def inside(src: torch.Tensor) -> torch.Tensor:
        return ((src >= 0) & (src <= size_xy - 1)).all(dim=-1)

    valid = (inside(src_ref) & inside(src_supp)).float().unsqueeze(0)
    return sample(src_ref), sample(src_supp), flow.permute(2, 0, 1).float(), valid


def pretrain_spynet(
    spynet: torch.nn.Module,
    clips: list[Clip],
    *,
    steps: int,
    batch: int = 8,
    size: int = 64,
    lr: float = 1e-4,
    seed: int = 0,
    downscale: int = 4,
    max_flow: float = 6.0,
    device: torch.device | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``spynet`` (``forward(ref, supp) -> flow``) for ``steps`` on synthetic pairs; returns the EPE
    (mean end-point error, pixels) of each step. Images are viewed ``shrink`` times smaller, like the
    quarter-resolution frames SPyNet sees inside the x4 and the strided restoration networks alike."""
    rng = np.random.default_rng(seed)
    cache = FrameCache(512)
    usable = [c for c in clips if min(c.height, c.width) >= size * downscale * 1.2]
    if not usable:
        usable = clips
    opt = torch.optim.Adam(spynet.parameters(), lr=lr, betas=(0.9, 0.99))
    spynet.train()
    errors = []
    for step in range(steps):
        items = []
        for _ in range(batch):
            clip = usable[int(rng.integers(len(usable)))]
            frame = clip.frames[int(rng.integers(len(clip.frames)))]
            image = cache.get(frame).float().unsqueeze(0)
            if downscale > 1:  # antialiased, like the low-resolution frames the network will see
                image = F.interpolate(image, scale_factor=1 / downscale, mode="bicubic", antialias=True)
            image = image.clamp(0, 255).round().to(torch.uint8)[0]
            items.append(flow_pair(image, size, rng, max_flow=max_flow))
        ref, supp, flow, valid = (torch.stack(x).to(device) for x in zip(*items, strict=True))
        pred = spynet(ref, supp)
        epe = (((pred - flow) ** 2).sum(1, keepdim=True) + 1e-9).sqrt()
        loss = (epe * valid).sum() / valid.sum().clamp(min=1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(spynet.parameters(), 1.0)
        opt.step()
        errors.append(float(loss.detach()))
        if callback is not None:
            callback(step + 1, errors[-1])
    return errors
