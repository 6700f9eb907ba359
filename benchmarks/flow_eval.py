"""Does a SPyNet see motion? Warping error on held-out real frame pairs, against no motion and OpenCV's DIS.

Why: the x4 runs that trained SPyNet from zero flow learnt almost none (0.1-0.2 px mean flow on a parkour
pair), so their propagation aligned nothing. This measures what a flow network is for: frame i+g warped onto
frame i by the flow should match frame i. The error is the mean absolute RGB difference over pixels whose
source stays inside the frame (the same mask for every method), on the DAVIS validation clips that never
train (blackswan, car-roundabout, parkour), at the sizes the networks see: 1/8 of 854x480 is what the light
x4 network's SPyNet gets (half of a 1/4 low-resolution frame).

Usage:
  PYTHONPATH=src python benchmarks/flow_eval.py [WEIGHTS ...] [--scale 8] [--gaps 1,2] [--pairs 8]
WEIGHTS are files holding ``spynet.*`` tensors (a model's safetensors or a training checkpoint.pt).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from vsrcli.io.frames import read_folder
from vsrcli.models.basicvsr import warp
from vsrcli.models.spynet import SPyNet

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DAVIS = DATA / "DAVIS2016_val_480p" / "JPEGImages"
CLIPS = ("blackswan", "car-roundabout", "parkour")


def load_spynet(path: str) -> SPyNet:
    if path.endswith(".pt"):
        from vsrcli.train.loop import load_checkpoint

        state = load_checkpoint(Path(path))["model"]
    else:
        from safetensors.torch import load_file

        state = load_file(path)
    net = SPyNet()
    flow = {k.removeprefix("spynet."): v.float() for k, v in state.items() if k.startswith("spynet.")}
    net.load_state_dict(flow)
    return net.eval()


def dis_flow(ref: np.ndarray, supp: np.ndarray) -> np.ndarray:
    """DIS (medium preset) flow from ref to supp on grey frames: supp(p + f(p)) ~ ref(p)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (ref, supp)]
    return dis.calc(grey[0], grey[1], None)


def warp_error(ref: torch.Tensor, supp: torch.Tensor, flow: torch.Tensor, valid: torch.Tensor) -> float:
    warped = warp(supp, flow)
    return float(((warped - ref).abs().mean(1, keepdim=True) * valid).sum() / valid.sum().clamp(min=1))


def inside(flows: list[torch.Tensor]) -> torch.Tensor:
    """Pixels whose source stays inside the frame under every flow (one mask for all methods)."""
    _, _, h, w = flows[0].shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    mask = torch.ones(1, 1, h, w)
    for f in flows:
        x, y = xs + f[0, 0], ys + f[0, 1]
        mask *= ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).float()
    return mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="*")
    ap.add_argument("--scale", type=int, default=8, help="downscale of the 854x480 frames (area)")
    ap.add_argument("--gaps", default="1,2", help="frame gaps of the pairs")
    ap.add_argument("--pairs", type=int, default=8, help="pairs per clip and gap, spread over the clip")
    args = ap.parse_args()
    names = [Path(w).name for w in args.weights]
    # two rounds' spynet.safetensors would share a row: name colliding files by their folder too
    labels = [
        f"{Path(w).parent.name}/{n}" if names.count(n) > 1 else n
        for w, n in zip(args.weights, names, strict=True)
    ]
    nets = {label: load_spynet(w) for label, w in zip(labels, args.weights, strict=True)}
    gaps = [int(g) for g in args.gaps.split(",")]
    sums: dict[str, list[float]] = {"zero flow": [], "DIS": [], **{k: [] for k in nets}}
    mags: dict[str, list[float]] = {k: [] for k in sums}
    for clip in CLIPS:
        frames = read_folder(DAVIS / clip)
        h, w = frames.shape[1] // args.scale, frames.shape[2] // args.scale
        small = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
        for gap in gaps:
            starts = np.linspace(0, len(small) - gap - 1, args.pairs).astype(int)
            for i in starts:
                ref_np, supp_np = small[i], small[i + gap]
                ref = torch.from_numpy(ref_np).permute(2, 0, 1).float().div(255).unsqueeze(0)
                supp = torch.from_numpy(supp_np).permute(2, 0, 1).float().div(255).unsqueeze(0)
                flows = {"zero flow": torch.zeros(1, 2, h, w)}
                flows["DIS"] = torch.from_numpy(dis_flow(ref_np, supp_np)).permute(2, 0, 1).unsqueeze(0)
                with torch.no_grad():
                    for name, net in nets.items():
                        flows[name] = net(ref, supp)
                valid = inside(list(flows.values()))
                for name, flow in flows.items():
                    sums[name].append(warp_error(ref, supp, flow, valid))
                    mags[name].append(float(flow.norm(dim=1).mean()))
    print(f"held-out DAVIS {', '.join(CLIPS)}; 1/{args.scale} size; gaps {gaps}; {len(sums['DIS'])} pairs")
    print("| flow | warp error (mean abs RGB) | mean flow (px) |\n| --- | ---: | ---: |")
    for name in sums:
        print(f"| {name} | {np.mean(sums[name]):.5f} | {np.mean(mags[name]):.2f} |")


if __name__ == "__main__":
    main()
