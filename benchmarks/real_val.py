"""PSNR-Y of real-world x4 models on the DAVIS validation clips under the training degradation, several draws.

Why: `--real` models are judged on their runs' validation (DAVIS blackswan, car-roundabout, parkour under
the random-walk real-world degradation), but that set is drawn through x264, whose output differs slightly
between processes even at a fixed seed (about 0.05 dB on the mean). Comparing one run's log with another's
therefore compares draws as much as models. This script draws the set several times (one seed each) in one
process and scores every model, and MATLAB bicubic, on the very same inputs.

``NAME:THRES`` runs a model with another ``dynamic_refine_thres`` (0-255; 255 cleans once).

Usage:
  PYTHONPATH=src python benchmarks/real_val.py vsrcli-realx4-c32 vsrcli-realx4 [vsrcli-realx4:255]
      [--config configs/realx4-lite-c16n2f4.toml] [--seeds 1234 1235 1236]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from vsrcli.models.api import load_model
from vsrcli.train.config import load_config
from vsrcli.train.loop import prepare_validation, validate_model, validation_baseline


def load(spec: str) -> torch.nn.Module:
    name, _, thres = spec.partition(":")
    model = load_model(name, device="cpu", download=False)
    if thres:
        if not hasattr(model, "dynamic_refine_thres"):
            raise SystemExit(f"{name} has no cleaning threshold")
        model.dynamic_refine_thres = float(thres) / 255.0
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--config", default="configs/realx4-lite-c16n2f4.toml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1235, 1236])
    args = parser.parse_args()
    cfg = load_config(args.config)
    models = {spec: load(spec) for spec in args.models}
    rows: dict[str, list[float]] = {"MATLAB bicubic": [], **{spec: [] for spec in args.models}}
    seconds = dict.fromkeys(args.models, 0.0)
    for seed in args.seeds:
        draw = dataclasses.replace(cfg, val=dataclasses.replace(cfg.val, seed=seed))
        val_set = prepare_validation(draw, cfg.data.root or ".")
        baseline = validation_baseline(val_set, cfg.degradation.scale)
        assert baseline is not None, "the config has no validation clips"
        rows["MATLAB bicubic"].append(baseline)
        for spec, model in models.items():
            start = time.perf_counter()
            scores = validate_model(model, val_set, torch.device("cpu"))
            seconds[spec] += time.perf_counter() - start
            rows[spec].append(sum(scores.values()) / len(scores))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in rows.items()), flush=True)
    print(f"\n| model | {' | '.join(f'seed {s}' for s in args.seeds)} | mean | s (all draws) |")
    print(f"| --- | {' | '.join('---:' for _ in args.seeds)} | ---: | ---: |")
    for name, values in rows.items():
        sec = f"{seconds[name]:.1f}" if name in seconds else ""
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {name} | {cells} | {sum(values) / len(values):.3f} | {sec} |")


if __name__ == "__main__":
    main()
