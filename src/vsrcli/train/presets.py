"""Named training presets: the exact recipes of the models vsrcli ships.

Each preset is plain nested data shaped like a TOML config, so ``vsrcli train --show-config --preset X``
prints a file that ``--config`` reads back, and a TOML config can start from a preset with ``base = "X"``.
Data paths are relative to the data root (``--data-root``, default ``../shared/data``). The held-out clips
(Vid4, the Vimeo-90K-T septuplets, the DAVIS validation sequences) are excluded by the data module whatever
the paths say; the DAVIS validation sequences are the ``[val]`` clips.
"""

from __future__ import annotations

import copy
from typing import Any

from vsrcli.errors import UsageError

# Real video first, then still images (animated with synthetic camera motion).
TRAIN_PATHS = [
    "video:DAVIS2016_val_480p/JPEGImages",
    "video:Vimeo90K_septuplet_sample/sequences",
    "images:Set14",
    "images:Set5",
    "images:T91",
]
VAL_CLIPS = [
    "DAVIS2016_val_480p/JPEGImages/blackswan",
    "DAVIS2016_val_480p/JPEGImages/car-roundabout",
    "DAVIS2016_val_480p/JPEGImages/parkour",
]

# Measured on this CPU (2 shared Zen 3 cores, AVX2, no AMX/AVX512-BF16): bf16 convolutions run ~30x slower
# than fp32, so presets train in fp32. Cost is proportional to frames per step and dominated by parts whose
# size does not shrink with the model (SPyNet on 2(T-1) frame pairs, the 64-channel high-resolution head):
# one 8-frame 64x64 clip took ~80 s per step on the loaded machine. Early on, more updates beat more pixels
# per update, so the x4 presets start with one 4-frame clip (2 loaded and mirrored) per step; a resumed run
# may lengthen the clips later (--clip-len 8), as the official recipe prefers long clips to big batches.
# SPyNet starts from zero flow and stays frozen for the first fix_iter steps (and is then skipped entirely:
# its output is exactly zero), then trains at 0.125x the learning rate.
_OPTIM: dict[str, Any] = {
    "lr": 2e-4,
    "eta_min": 1e-6,
    "spynet_lr_mult": 0.125,
    "fix_iter": 500,
    "warmup": 20,
    "grad_clip": 1.0,
}
_RUN: dict[str, Any] = {
    "iters": 5000,
    "precision": "fp32",
    "threads": 2,
    "checkpoint_minutes": 5.0,
    "log_every": 5,
    "val_every": 50,
}
_SR_X4: dict[str, Any] = {
    "arch": "basicvsrpp",
    "data": {"paths": TRAIN_PATHS, "clip_len": 4, "seq_flip": True, "patch": 64, "batch": 1},
    "degradation": {"kind": "bi", "scale": 4},
    "optim": _OPTIM,
    "run": _RUN,
    "val": {"clips": VAL_CLIPS, "frames": 10, "max_size": 64},
}

# The restoration variant works internally at 1/4 resolution, so a 256 patch costs about what a 64 LR patch
# costs at x4. Inputs must be at least 256 and multiples of 4. Four-frame clips (two loaded and mirrored) run
# ~2 s per step here, eight-frame ones ~4 s.
# Without the guided head the c32 restoration network learned nothing in 200 denoising steps (val 23.077
# dB vs 23.071 for the noisy input): per-pixel detail cannot pass 32 channels at 1/4 resolution. With it the
# same run reached 24.80 dB at step 200 and 28.6 at step 1900. Deblurring and decompression still learned
# almost nothing in short runs (+0.01 dB after 153 steps, +0.02 after 109 at lr 1e-3).
_RESTORE: dict[str, Any] = {
    "arch": "basicvsrpp",
    "data": {"paths": TRAIN_PATHS, "clip_len": 4, "seq_flip": True, "patch": 256, "batch": 1},
    "degradation": {"scale": 1},
    "optim": {**_OPTIM, "fix_iter": 300},
    "run": {**_RUN, "iters": 1900, "val_every": 100, "export_dtype": "float16"},
    "val": {"clips": VAL_CLIPS, "frames": 10, "max_size": 256},
}
_RESTORE_ARCH = {"mid_channels": 32, "num_blocks": 4, "is_low_res_input": False, "guided_head": True}

PRESETS: dict[str, dict[str, Any]] = {
    # Size: at 320x180 a frame costs SPyNet ~39 GMAC (two flows) and the 64-channel x4 head ~50 GMAC whatever
    # the width; c32n4 adds ~72 GMAC (164 in all, ~1.8 s at the best conv throughput measured here, 0.19
    # TFLOP/s), c24n3 ~40 (~132 GMAC, ~1.4 s) and trains ~20% faster per step.
    "bix4": {
        **_SR_X4,
        "name": "basicvsrpp-c24n3-bix4",
        "description": "Small BasicVSR++ for BI x4 (MATLAB bicubic), the first default of `vsrcli upscale`.",
        "arch_args": {"mid_channels": 24, "num_blocks": 3},
        "run": {**_RUN, "export_dtype": "float16"},  # 2.3 M parameters (1.4 M of them SPyNet): ~4.7 MB
    },
    "bdx4": {
        **_SR_X4,
        "name": "basicvsrpp-c32n4-bdx4",
        "description": "Small BasicVSR++ for BD x4 (Gaussian blur sigma 1.6, then every 4th pixel).",
        "arch_args": {"mid_channels": 32, "num_blocks": 4},
        "degradation": {"kind": "bd", "scale": 4},
    },
    # vsrcli-denoise: this recipe, except that its first 526 steps used 8-frame clips under a 900-step
    # schedule before it was resumed with --iters 1900 --clip-len 4 (training/basicvsrpp-c32n4-denoise).
    "denoise": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4-denoise",
        "description": "Strided BasicVSR++ denoiser given a noise-level map (sigma in [0, 50] of 255).",
        "arch_args": {**_RESTORE_ARCH, "extra_in_channels": 1},
        "degradation": {"kind": "noise", "scale": 1, "sigma": [0.0, 50.0], "noise_map": True},
    },
    # vsrcli-denoise v2: the shipped c32n4 denoiser, warm-started, gains the warped previous and next frames
    # in its guide and two 64-channel residual blocks at full resolution (both start as a no-op, so step 0
    # computes what v1 does). Its SPyNet had learnt almost no motion from a zero-flow start (mean |flow| 0.22
    # px on a parkour pair at 1/4 size), useless for warping neighbours, so it first learns synthetic flows.
    # Real 4-frame clips (no mirroring): a mirrored clip would hand frame 2 an exact copy of itself,
    # re-noised, as its neighbour. ~4 s per step here.
    # Tried and stopped at step 381 of 1300 (training/basicvsrpp-c32n4nb-denoise): val PSNR-Y 28.55 /
    # 28.47 / 28.35 at steps 100 / 200 / 300 against v1's 28.56. The neighbour weights in conv_hr had only
    # grown to a mean |w| of 0.0008 (0.038 for the frame): flows from 1/4-size frames, scaled x4, misalign
    # full-resolution detail by pixels, so the neighbours carry little the features do not. Not shipped.
    "denoise-nb": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4nb-denoise",
        "description": "Strided BasicVSR++ denoiser with warped neighbours and full-resolution blocks.",
        "init": "training/basicvsrpp-c32n4-denoise/checkpoint.pt",
        "arch_args": {**_RESTORE_ARCH, "extra_in_channels": 1, "guide_neighbours": True, "head_blocks": 2},
        "data": {**_RESTORE["data"], "seq_flip": False},
        "degradation": {"kind": "noise", "scale": 1, "sigma": [0.0, 50.0], "noise_map": True},
        "optim": {**_OPTIM, "fix_iter": 100, "flow_pretrain_iters": 600},
        "run": {**_RESTORE["run"], "iters": 1300},
    },
    # The deblurrer starts from denoise-nb (its step-381 state) told sigma = 0 (its noise-map channels
    # dropped): motion-aware flows and full-resolution blocks, where the plain preset's shallow head had
    # gained +0.07 dB in 600 steps. Blur leaves the flows usable, so SPyNet trains (at 0.125x) from step 0.
    # At one learning rate this start still crept (val PSNR-Y 25.76 / 25.83 at steps 100 / 200, input 25.90:
    # the denoiser's head smooths); the head, which must turn from denoising to sharpening, trains at 5x.
    # That run (runs/, 712 steps) still gained only +0.1 dB: Charbonnier with eps 1e-12 is L1, whose sign
    # gradients from the flat majority of pixels drown the few edges that blur changes. A zero-initialised
    # 3-layer CNN on the same data and Gaussian blur gained -0.00 dB in 150 steps under L1 and +1.0 under MSE,
    # so the run was resumed with optim.loss = "mse" (a resumable change) and --iters 1300, and stopped at
    # step 1167 (training/basicvsrpp-c32n4nb-deblur; --resume continues it). Val PSNR-Y (input 25.90) by
    # step: 700 26.00 (end of L1) · 800 26.05 · 900 26.10 · 1000 26.13 · 1100 26.18. Shipped as vsrcli-deblur
    # so `vsrcli deblur` works offline; held out it gains +0.83 dB (RGB) on Gaussian sigma 1.5, +0.32 on a
    # 9-px motion blur and -0.15 on a 5-frame average, far from the +2 dB bar.
    "deblur-nb": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4nb-deblur",
        "description": "Strided BasicVSR++ deblurrer with warped neighbours and full-resolution blocks.",
        "init": "training/basicvsrpp-c32n4nb-denoise/checkpoint.pt",
        "arch_args": {**_RESTORE_ARCH, "guide_neighbours": True, "head_blocks": 2},
        "data": {**_RESTORE["data"], "seq_flip": False},
        "degradation": {"kind": "blur", "scale": 1, "blur_kinds": ["gaussian", "motion", "average"]},
        "optim": {**_OPTIM, "fix_iter": 0, "head_lr_mult": 5.0},
        "run": {**_RESTORE["run"], "iters": 1000},
    },
    "deblur": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4-deblur",
        "description": "Strided BasicVSR++ deblurrer: Gaussian, motion and frame-averaging blur.",
        "arch_args": dict(_RESTORE_ARCH),
        "degradation": {"kind": "blur", "scale": 1, "blur_kinds": ["gaussian", "motion", "average"]},
    },
    "decompress": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4-decompress",
        "description": "Strided BasicVSR++ for H.264 artefacts: real x264 through PyAV at CRF 28-40.",
        "arch_args": dict(_RESTORE_ARCH),
        "degradation": {"kind": "compress", "scale": 1, "crf": [28, 40], "codec": "libx264"},
    },
    # vsrcli-decompress: the shipped c32n4 denoiser told sigma = 0 (it loses 0.28 dB on the held-out clips
    # at CRF 35: a near-identity start), plus two full-resolution residual blocks (deblocking is local and
    # per-pixel; they start as a no-op). MSE from step 0: L1 starved the deblurrer (see deblur-nb). It
    # takes its SPyNet from the deblur-nb run (600 steps on synthetic flows, then 1548 on real clips): v1's
    # predicted almost no motion, and re-learning flows here would cost ~25 min of 256-pixel pre-training.
    # Real 4-frame clips, no mirroring: a mirrored frame pair is coded as a skip, handing the network two
    # copies of the same artefacts. Shipped as vsrcli-decompress after 1700 steps (the first 689 under a
    # 2000-step schedule, then --resume --iters 1700). Val PSNR-Y (input 26.03): step 100 26.08 · 500 26.11 ·
    # 900 26.12 · 1400 26.13 · 1700 26.13; held out at CRF 35 +0.28 dB RGB, far from the +0.8 bar.
    "decompress-hb": {
        **_RESTORE,
        "name": "basicvsrpp-c32n4hb-decompress",
        "description": "Strided BasicVSR++ for H.264 artefacts (CRF 28-40) with full-resolution blocks.",
        "init": "training/basicvsrpp-c32n4-denoise/checkpoint.pt",
        "init_flow": "training/basicvsrpp-c32n4nb-deblur/checkpoint.pt",
        "arch_args": {**_RESTORE_ARCH, "head_blocks": 2},
        "data": {**_RESTORE["data"], "seq_flip": False},
        "degradation": {"kind": "compress", "scale": 1, "crf": [28, 40], "codec": "libx264"},
        "optim": {**_OPTIM, "fix_iter": 0, "head_lr_mult": 2.0, "loss": "mse"},
        "run": {**_RESTORE["run"], "iters": 2000},
    },
    "realbasicvsr": {
        **_SR_X4,
        "name": "realbasicvsr-c32-bx4",
        "description": "Small RealBasicVSR (cleaning + BasicVSR), random-walk real-world degradations.",
        "arch": "realbasicvsr",
        "arch_args": {"mid_channels": 32, "num_propagation_blocks": 6, "num_cleaning_blocks": 4},
        "degradation": {"kind": "realworld", "scale": 4, "sigma": [1.0, 25.0], "crf": [23, 38]},
        # SPyNet learns motion first from exactly known synthetic flows (600 steps, ~4 min): the zero-flow
        # start of the x4 presets left vsrcli-x4's SPyNet predicting almost no motion after 2251 steps.
        "optim": {**_OPTIM, "cleaning_weight": 1.0, "flow_pretrain_iters": 600},
        "run": {**_RUN, "iters": 4400, "export_dtype": "float16"},
    },
    # vsrcli's light x4 network (models/basicvsr_pp_lite.py): the seed's propagation at c32n2, flows at 1/2
    # input size, reconstruction at input size straight to RGB over a bicubic skip (~95 GFLOP per 320x180
    # frame against ~272 for the c24n3 it replaced). SPyNet starts from vsrcli's own flow network
    # (training/spynet-vsrcli: vsrcli-denoise's, distilled from DIS on whole small frames by
    # training/train_flow.py); the x4 runs that started SPyNet from zero flow learnt almost no motion.
    # 8-frame clips (4 loaded and mirrored) of 64-pixel patches, batch 2; precision auto: bf16 autocast on
    # CPUs with native bf16 (AMX-BF16, AVX512-BF16), float32 elsewhere (emulated bf16 is many times slower).
    "bix4-lite": {
        **_SR_X4,
        "name": "basicvsrpp-lite-c32n2-bix4",
        "description": "Light BasicVSR++ for BI x4 (MATLAB bicubic), the default of `vsrcli upscale`.",
        "arch": "basicvsrpp_lite",
        "arch_args": {"mid_channels": 32, "num_blocks": 2},
        "init_flow": "training/spynet-vsrcli/spynet.safetensors",
        "data": {**_SR_X4["data"], "clip_len": 8, "batch": 2},
        "optim": {**_OPTIM, "lr": 4e-4, "fix_iter": 300, "zero_flow_init": False},
        "run": {**_RUN, "iters": 20000, "precision": "auto", "val_every": 250, "export_dtype": "float16"},
        "val": {**_SR_X4["val"], "max_size": 96},
    },
    # --real on the light design (issue 17, part 4): RealBasicVSR's cleaning in front of the shipped light
    # x4 network, which it starts from (its weights load under sr., flows included), so only the cleaning
    # starts from scratch. Same degradations and validation as "realbasicvsr", so the two curves compare step
    # for step (vsrcli-realx4-c32's val PSNR-Y: 23.17 dB at step 4400; bicubic 22.56).
    # configs/realx4-lite-c16n2f4.toml fine-tunes this run's result to quarter-size flow: vsrcli-realx4.
    "realbasicvsr-lite": {
        **_SR_X4,
        "name": "realbasicvsr-lite-c16n2-bx4",
        "description": "Light RealBasicVSR (cleaning + light BasicVSR++), random real-world degradations.",
        "arch": "realbasicvsr_lite",
        "arch_args": {
            "mid_channels": 16,
            "num_blocks": 2,
            "cleaning_channels": 24,
            "num_cleaning_blocks": 3,
        },
        "init": "training/basicvsrpp-lite-c16n2-bix4/export/basicvsrpp-lite-c16n2-bix4-8ae8db68.safetensors",
        "degradation": {"kind": "realworld", "scale": 4, "sigma": [1.0, 25.0], "crf": [23, 38]},
        "optim": {**_OPTIM, "fix_iter": 0, "zero_flow_init": False, "cleaning_weight": 1.0},
        "run": {**_RUN, "iters": 6000, "precision": "auto", "val_every": 250, "export_dtype": "float16"},
    },
    # vsrcli-denoise on the light design (issue 20): the light x4 network's propagation at half size over a
    # lossless 2x2 fold of the noisy frames and their noise map (models/basicvsr_pp_lite_restore.py), 2.2 M
    # parameters, 2.4 s a 960x540 frame in fp32 here against 3.9 for the two-pass c32n4 it would replace.
    # SPyNet starts from vsrcli's own flow network on quarter-size frames (noise averages away there). Real
    # 8-frame clips (a mirrored clip would hand a frame a re-noised copy of itself), noise clipped and rounded
    # to 8 bits as every real input is. 128-pixel patches: 64 at the propagation size, as the x4 presets.
    "denoise-lite": {
        **_RESTORE,
        "name": "basicvsrpp-lite-c32n2-denoise",
        "description": "Light BasicVSR++ denoiser at half size given a noise-level map (sigma 0-50 of 255).",
        "arch": "basicvsrpp_lite_restore",
        "arch_args": {"mid_channels": 32, "num_blocks": 2, "extra_in_channels": 1},
        "init_flow": "training/spynet-vsrcli/spynet.safetensors",
        "data": {**_RESTORE["data"], "clip_len": 8, "seq_flip": False, "patch": 128, "batch": 2},
        "degradation": {
            "kind": "noise",
            "scale": 1,
            "sigma": [0.0, 50.0],
            "noise_map": True,
            "noise_8bit": True,
        },
        "optim": {**_OPTIM, "lr": 4e-4, "fix_iter": 300, "zero_flow_init": False},
        "run": {**_RUN, "iters": 2400, "precision": "auto", "val_every": 200, "export_dtype": "float16"},
    },
    # vsrcli-deblur and vsrcli-decompress on the light design (issue 20): the shipped light denoiser told
    # sigma = 0 (adapt_state_dict drops its noise-map channels from the first conv), flows included, so
    # both start from a network that aligns and propagates real footage. MSE from step 0 (L1's sign gradients
    # starved the c32n4 deblurrer, see deblur-nb); SPyNet trains at 0.125x from step 0 as the flows are
    # already learnt. Real 8-frame clips without mirroring (a mirrored pair would be coded as a skip).
    # Decompression starts from the denoiser told sigma = 10 rather than 0 (the map folds into the first
    # conv's bias): untrained, that gains +0.25 dB RGB at CRF 35 on the held-out 960x540 clips (4 frames
    # each; sigma 4: +0.14, 18: +0.01), more than 380 steps from the sigma-0 start had (+0.21).
    # Deblur trains on the two kinds its bars measure, a Gaussian and a random camera-shake kernel; the
    # frame average (the c32n4 deblurrer lost 0.15 dB on it) is left to a later run.
    # Results (1 thread each, side by side, bf16 on an AVX512-BF16 EPYC, ~5 s a step): deblur-lite ran its
    # 1000 steps in 1.57 h, val PSNR-Y (input 28.93) 28.99 at 100, 29.26 at 700 (peak), 29.21 at 1000;
    # shipped as vsrcli-deblur-lite (+1.49 / +1.06 dB RGB on held-out 960x540 Gaussian 1.5 / camera shake,
    # 0.5 above vsrcli-deblur). decompress-lite was stopped at step 663 of 900 with val flat since step 400
    # (input 26.03, 26.118 at 100, 26.122-26.127 from 200 on): +0.37 dB RGB held out at CRF 35 against
    # +0.25 for vsrcli-decompress, 1.25x its time in bf16, so not shipped then.
    # Second round (2026-12-07, training/*-r2, from each export, a cosine from 1e-4 over 6000 steps so the
    # rate stays high): deblur rose to 29.40 at step 1000 and held there to 1625 (+2.08 / +1.18 dB RGB held
    # out, fp32), shipped as vsrcli-deblur-lite; decompress stayed flat (26.133-26.134 at 200-400) and was
    # stopped. With the banded DCN decompress-lite is faster than vsrcli-decompress in fp32 (2.19 against
    # 2.66 s a 960x540 frame) and better (+0.38 against +0.26), so it became the default.
    "deblur-lite": {
        **_RESTORE,
        "name": "basicvsrpp-lite-c32n2-deblur",
        "description": "Light BasicVSR++ deblurrer at half size: Gaussian and camera-shake blur.",
        "arch": "basicvsrpp_lite_restore",
        "arch_args": {"mid_channels": 32, "num_blocks": 2},
        "init": "weights/basicvsrpp-lite-c32n2-denoise-5524507d.safetensors",
        "data": {**_RESTORE["data"], "clip_len": 8, "seq_flip": False, "patch": 128, "batch": 2},
        "degradation": {"kind": "blur", "scale": 1, "blur_kinds": ["gaussian", "motion"]},
        "optim": {**_OPTIM, "fix_iter": 0, "zero_flow_init": False, "loss": "mse"},
        "run": {**_RUN, "iters": 1200, "precision": "auto", "val_every": 100, "export_dtype": "float16"},
    },
    "decompress-lite": {
        **_RESTORE,
        "name": "basicvsrpp-lite-c32n2-decompress",
        "description": "Light BasicVSR++ for H.264 artefacts at half size: "
        "real x264 through PyAV, CRF 28-40.",
        "arch": "basicvsrpp_lite_restore",
        "arch_args": {"mid_channels": 32, "num_blocks": 2},
        "init": "weights/basicvsrpp-lite-c32n2-denoise-5524507d.safetensors",
        "init_sigma": 10.0,
        "data": {**_RESTORE["data"], "clip_len": 8, "seq_flip": False, "patch": 128, "batch": 2},
        "degradation": {"kind": "compress", "scale": 1, "crf": [28, 40], "codec": "libx264"},
        "optim": {**_OPTIM, "fix_iter": 0, "zero_flow_init": False, "loss": "mse"},
        "run": {**_RUN, "iters": 1200, "precision": "auto", "val_every": 100, "export_dtype": "float16"},
    },
    "tiny": {
        **_SR_X4,
        "name": "basicvsrpp-c8n1-tiny",
        "description": "A seconds-long smoke test of the whole training path.",
        "arch_args": {"mid_channels": 8, "num_blocks": 1},
        "data": {**_SR_X4["data"], "patch": 64, "batch": 1, "clip_len": 4},
        "run": {**_RUN, "iters": 4, "val_every": 2, "log_every": 1, "checkpoint_minutes": 1.0},
        "val": {"clips": VAL_CLIPS[:1], "frames": 3, "max_size": 64},
    },
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset_dict(name: str) -> dict[str, Any]:
    """A deep copy of the preset's plain data (callers may change it)."""
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise UsageError(f"unknown preset {name!r}", hint=f"one of {', '.join(preset_names())}") from None
