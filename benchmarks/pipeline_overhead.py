"""What the whole `restore_video` command adds to the network's own time (decode, colour, encode, stitching).

Why: issue 7 allows the command at most 10% over the model. The network is loaded once outside the timing;
forward hooks on it sum the time spent inside the network, and the rest of the wall time is the pipeline's
overhead. With `--compare` the same run is repeated with encoding in the caller's thread (no BackgroundSink),
to show what the overlap buys.

    PYTHONPATH=src python benchmarks/pipeline_overhead.py
        [--input ../shared/data/REDS_LR_sample/BasicVSRpp_demo_000] [--model NAME|PATH] [--compare]

A folder of frames is first encoded to a temporary H.264 file (CRF 16), so decoding is part of the run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch


def encode_folder(folder: Path, dest: Path) -> Path:
    from vsrcli.io.frames import read_folder
    from vsrcli.io.video import VideoWriter

    frames = read_folder(folder)
    with VideoWriter(dest, source=None, width=frames.shape[2], height=frames.shape[1], fps=Fraction(25),
                     codec="libx264", crf=16, preset="medium") as writer:  # fmt: skip
        writer.write(np.ascontiguousarray(frames), None)
    return dest


def timed_run(
    net: torch.nn.Module, src: Path, out: Path, chunk: int, background: bool
) -> tuple[float, float, int]:
    from vsrcli.pipeline import restore as restore_mod

    spent = [0.0]
    began: list[float] = []
    pre = net.register_forward_pre_hook(lambda m, a: began.append(time.perf_counter()))

    def done(module: torch.nn.Module, args: object, out: object) -> None:
        spent[0] += time.perf_counter() - began.pop()

    post = net.register_forward_hook(done)
    real = restore_mod.BackgroundSink
    if not background:
        restore_mod.BackgroundSink = lambda inner, depth=1: inner  # type: ignore[assignment]
    try:
        t = time.perf_counter()
        options = restore_mod.RestoreOptions(model=net, task="upscale", chunk=chunk, overwrite=True)
        report = restore_mod.restore_video(src, out, options=options)
        wall = time.perf_counter() - t
    finally:
        restore_mod.BackgroundSink = real  # type: ignore[assignment]
        pre.remove()
        post.remove()
    return wall, spent[0], report.frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="../shared/data/REDS_LR_sample/BasicVSRpp_demo_000")
    ap.add_argument("--model", default=None, help="zoo name or checkpoint (default: the upscale default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--compare", action="store_true", help="also run with encoding in the caller's thread")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from vsrcli.models import zoo
    from vsrcli.models.api import load_model
    from vsrcli.pipeline.chunking import DEFAULT_CHUNK

    name = args.model or zoo.default_for("upscale").name
    net = load_model(name).eval()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(args.input)
        if src.is_dir():
            src = encode_folder(src, Path(tmp) / "input.mp4")
        chunk = args.chunk or DEFAULT_CHUNK
        modes = [True, False] if args.compare else [True]
        print(f"model {name}, input {args.input}, chunk {chunk}, {args.threads} threads")
        for background in modes:
            wall, model_s, frames = timed_run(net, src, Path(tmp) / "out.mp4", chunk, background)
            label = "encode in a worker thread" if background else "encode in the caller    "
            overhead = 100 * (wall - model_s) / model_s
            print(
                f"{label}: {frames} frames, wall {wall:.2f} s, network {model_s:.2f} s "
                f"({model_s / frames:.3f} s/frame), overhead {overhead:.1f}%"
            )


if __name__ == "__main__":
    main()
