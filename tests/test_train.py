"""`vsrcli train`: configs and presets, the schedule and loss, exact resume, Ctrl-C, export and the CLI.

The loop runs on a stand-in network (a few convolutions with a ``spynet`` part) so these tests take seconds;
the real networks are exercised by their own tests and by the preset smoke test once they exist.
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vsrcli.errors import CheckpointError, Interrupted, UsageError
from vsrcli.io.frames import write_image
from vsrcli.train import config as cfgmod
from vsrcli.train import loop, ops
from vsrcli.train.export import export_run, export_state, sha256_file
from vsrcli.train.presets import PRESETS, preset_dict, preset_names


class _FlowStandIn(nn.Module):
    """``forward(ref, supp) -> (N, 2, H, W)`` like SPyNet."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([ref, supp], dim=1))


class StandInVSR(nn.Module):
    """A tiny x4 network with the contract of the family: (N,T,3,H,W) -> (N,T,3,4H,4W), a ``spynet`` part."""

    def __init__(self, mid_channels: int = 4, num_blocks: int = 1, **_: object) -> None:
        super().__init__()
        self.spynet = _FlowStandIn()
        self.register_buffer("spynet_mean", torch.zeros(1))
        self.body = nn.Sequential(
            nn.Conv2d(5, mid_channels, 3, padding=1), nn.ReLU(), nn.Conv2d(mid_channels, 48, 3, padding=1)
        )

    def forward(self, lqs: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = lqs.shape
        nxt = torch.cat([lqs[:, 1:], lqs[:, -1:]], dim=1)
        flow = self.spynet(lqs.reshape(-1, c, h, w), nxt.reshape(-1, c, h, w))
        y = self.body(torch.cat([lqs.view(-1, c, h, w), flow], dim=1))
        up = nn.functional.interpolate(
            lqs.view(-1, c, h, w), scale_factor=4, mode="bilinear", align_corners=False
        )
        return (nn.functional.pixel_shuffle(y, 4) + up).view(n, t, 3, 4 * h, 4 * w)


def _bicubic(x: torch.Tensor, scale: float) -> torch.Tensor:
    shape = x.shape
    y = nn.functional.interpolate(
        x.reshape(-1, *shape[-3:]), scale_factor=scale, mode="bicubic", antialias=True, align_corners=False
    )
    return y.reshape(*shape[:-2], *y.shape[-2:])


def _psnr_y(out: torch.Tensor, gt: torch.Tensor) -> float:
    w = torch.tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1) / 255
    mse = ((out - gt) * w).sum(1).pow(2).mean().item()
    return 10 * math.log10(1 / max(mse, 1e-12))


@pytest.fixture
def stand_ins(monkeypatch):
    monkeypatch.setattr(ops, "build_network", lambda arch, **kw: StandInVSR(**kw))
    monkeypatch.setattr(ops, "imresize", _bicubic)
    monkeypatch.setattr(ops, "psnr_y", _psnr_y)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for seq, n in (("JPEGImages/dog", 6), ("JPEGImages/blackswan", 4)):
        folder = tmp_path / seq
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        for i in range(n):
            write_image(folder / f"{i:05d}.png", np.ascontiguousarray(np.roll(base, i, axis=1)))
    (tmp_path / "stills").mkdir()
    write_image(tmp_path / "stills/a.png", rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    return tmp_path


def _tiny(root: Path, iters: int = 6, **run: object) -> cfgmod.TrainConfig:
    values = {
        "name": "tiny",
        "arch": "basicvsrpp",
        "arch_args": {"mid_channels": 4},
        "data": {
            "paths": ["video:JPEGImages", "images:stills"],
            "root": str(root),
            "patch": 8,
            "batch": 2,
            "clip_len": 4,
            "still_prob": 0.3,
            "cache_mb": 8,
        },
        "degradation": {"kind": "bi", "scale": 4},
        "optim": {"lr": 1e-3, "warmup": 2, "fix_iter": 2},
        "run": {"iters": iters, "threads": 1, "log_every": 1, "val_every": 3, **run},
        "val": {"clips": ["JPEGImages/blackswan"], "frames": 3, "max_size": 8},
    }
    return cfgmod.from_dict(values)


# --- config and presets ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_a_valid_config(name):
    cfg = cfgmod.resolve(preset=name)
    assert cfg.name == PRESETS[name]["name"] and cfg.data.root
    assert cfgmod.from_dict(cfg.to_dict()) == cfg


def test_presets_cover_the_shipped_models():
    assert {"bix4", "denoise", "deblur", "decompress", "realbasicvsr"} <= set(preset_names())
    denoise = cfgmod.resolve(preset="denoise")
    assert denoise.degradation.noise_map and denoise.arch_args["extra_in_channels"] == 1
    assert denoise.degradation.sigma == [0.0, 50.0] and denoise.arch_args["is_low_res_input"] is False
    assert cfgmod.resolve(preset="decompress").degradation.crf == [28, 40]
    assert cfgmod.resolve(preset="realbasicvsr").degradation.kind == "realworld"


@pytest.mark.parametrize(
    "name", [n for n in preset_names() if PRESETS[n].get("init") or PRESETS[n].get("init_flow")]
)
def test_a_warm_started_preset_names_weights_the_repository_holds(name):
    repo = Path(__file__).resolve().parents[1]
    for key in ("init", "init_flow"):
        if path := PRESETS[name].get(key):
            assert (repo / path).is_file(), f"{name}.{key}: {path}"


def test_the_light_deblurrer_and_decompressor_start_from_the_light_denoiser_without_its_noise_map():
    for name in ("deblur-lite", "decompress-lite"):
        cfg = cfgmod.resolve(preset=name)
        assert cfg.arch == "basicvsrpp_lite_restore" and cfg.arch_args.get("extra_in_channels", 0) == 0
        assert "basicvsrpp-lite-c32n2-denoise" in cfg.init and cfg.optim.loss == "mse"
        assert not cfg.degradation.noise_map and not cfg.data.seq_flip


def test_toml_config_can_start_from_a_preset_and_override(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('base = "bix4"\nname = "mine"\n[run]\niters = 7\n[data]\npatch = 48\n')
    cfg = cfgmod.resolve(config_file=path, overrides={"run": {"seed": 3}})
    assert (cfg.name, cfg.run.iters, cfg.run.seed, cfg.data.patch) == ("mine", 7, 3, 48)
    assert cfg.arch_args == PRESETS["bix4"]["arch_args"]


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = cfgmod.resolve(preset="denoise")
    path = tmp_path / "c.toml"
    path.write_text(cfgmod.to_toml(cfg.to_dict()))
    assert cfgmod.load_config(path) == cfg


@pytest.mark.parametrize(
    "text, match",
    [
        ('arch = "unet"', "unknown arch"),
        ("[data]\npatchsize = 3", "unknown key"),
        ('[degradation]\nkind = "jpeg"', "unknown degradation"),
        ('[run]\nprecision = "int8"', "precision"),
        ("[degradation]\nsigma = [60, 10]", "sigma"),
        ("[data]\nclip_len = 5", "clip_len"),
        ("[data]\ngt_downscale = [0.0, 1.0]", "gt_downscale"),
        ("[data]\ngt_downscale = [0.5, 2.0]", "gt_downscale"),
        ("[val]\ndownscale = 1.5", "val.downscale"),
        ("[degradation]\nnoise_map = true", "extra_in_channels"),
        ("colour = 1", "top-level"),
        ("[runtime]\nmid_channels = 8", "runtime"),
    ],
)
def test_bad_configs_are_usage_errors_naming_the_field(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(UsageError, match=match):
        cfgmod.load_config(path)


def test_unknown_preset_and_both_sources_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown preset"):
        preset_dict("nope")
    with pytest.raises(UsageError, match="not both"):
        cfgmod.resolve(preset="bix4", config_file=tmp_path / "x.toml")


# --- schedule and loss ----------------------------------------------------------------------------


def test_learning_rate_warms_up_then_follows_a_cosine_to_eta_min():
    lrs = [loop.lr_at(s, 100, 1e-3, 1e-6, 10) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[55] == pytest.approx(1e-6 + (1e-3 - 1e-6) / 2)
    assert lrs[100] == pytest.approx(1e-6)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_charbonnier_is_a_smooth_l1():
    a, b = torch.tensor([0.0, 0.5]), torch.tensor([0.3, 0.5])
    assert loop.charbonnier(a, b, 1e-12).item() == pytest.approx(0.15, rel=1e-5)
    x = torch.zeros(3, requires_grad=True)
    loop.charbonnier(x, torch.zeros(3), 1e-12).backward()
    assert torch.isfinite(x.grad).all()


def test_spynet_parameters_are_recognised_in_both_layouts():
    assert loop.is_spynet("spynet.basic_module.0.basic_module.0.conv.weight")
    assert loop.is_spynet("basicvsr.spynet.basic_module.0.basic_module.0.conv.weight")
    assert not loop.is_spynet("backbone.spynetlike.weight")


# --- the loop -------------------------------------------------------------------------------------


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return loop.load_checkpoint(run / loop.CHECKPOINT)["model"]


def test_training_logs_loss_and_validation_and_reports_progress(stand_ins, root, tmp_path):
    events = []
    result = loop.train(_tiny(root, iters=6), tmp_path / "run", callback=events.append)
    assert result.step == 6
    records = [json.loads(line) for line in (tmp_path / "run" / loop.LOG).read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)
    vals = [r for r in records if "val_psnr_y" in r]
    assert [r["step"] for r in vals] == [3, 6] and set(vals[0]["val"]) == {"blackswan"}
    assert records[0]["step"] == 0 and 5 < records[0]["baseline_psnr_y"] < 60  # bicubic on the same clips
    kinds = [e.event for e in events]
    assert (
        kinds[0] == "start" and kinds[-1] == "done" and kinds.count("step") == 6 and kinds.count("val") == 2
    )
    step_events = [e for e in events if e.event == "step"]
    assert step_events[-1].eta_s == 0 and all(e.it_per_s > 0 for e in step_events)
    assert (tmp_path / "run" / loop.CONFIG).read_text().startswith('name = "tiny"')


def test_spynet_is_frozen_for_fix_iter_steps_then_trains_at_a_lower_rate(stand_ins, root, tmp_path):
    torch.manual_seed(0)  # the loop seeds with run.seed = 0 before building the network
    init = StandInVSR(mid_channels=4).state_dict()
    init["spynet.conv.weight"].zero_()  # zero_flow_init
    loop.train(_tiny(root, iters=2, val_every=0), tmp_path / "a")
    after_fix = _weights(tmp_path / "a")
    assert torch.equal(after_fix["spynet.conv.weight"], init["spynet.conv.weight"])
    assert not torch.equal(after_fix["body.0.weight"], init["body.0.weight"])
    opt = loop.load_checkpoint(tmp_path / "a" / loop.CHECKPOINT)["optimizer"]
    assert [g["lr_mult"] for g in opt["param_groups"]] == [1.0, 0.125]


class _Wrapped(nn.Module):
    """RealBasicVSR's layout: SPyNet under ``basicvsr.spynet``."""

    def __init__(self) -> None:
        super().__init__()
        self.basicvsr = StandInVSR()


def test_zero_flow_init_zeroes_only_the_flow_outputs_of_spynet():
    net = _Wrapped()
    assert loop.zero_flow_init(net) == 1
    assert net.basicvsr.spynet.conv.weight.abs().sum() == 0 and net.basicvsr.spynet.conv.bias.abs().sum() == 0
    assert net.basicvsr.body[0].weight.abs().sum() > 0


def test_warm_start_loads_matching_tensors_only(tmp_path):
    from safetensors.torch import save_file

    src = StandInVSR(mid_channels=4)
    weights = {"spynet.conv.weight": src.spynet.conv.weight.detach().clone(), "other.weight": torch.ones(2)}
    save_file(weights, tmp_path / "w.safetensors")
    dst = StandInVSR(mid_channels=4)
    assert loop.warm_start(dst, tmp_path / "w.safetensors") == ["spynet.conv.weight"]
    assert torch.equal(dst.spynet.conv.weight, src.spynet.conv.weight)
    save_file({"nothing": torch.ones(1)}, tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="no tensor"):
        loop.warm_start(dst, tmp_path / "x.safetensors")


def test_warm_start_keeps_the_runs_own_settings_buffers(tmp_path):
    """A run of the light x4 at flow_downscale 4 may start from weights trained at 2: arch_args decide."""
    from safetensors.torch import save_file

    from vsrcli.models.arch import build_network

    tiny = {"mid_channels": 8, "num_blocks": 1, "extract_blocks": 1, "reconstruction_blocks": 1}
    src = build_network("basicvsrpp_lite", **tiny, flow_downscale=2)
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    dst = build_network("basicvsrpp_lite", **tiny, flow_downscale=4)
    loaded = loop.warm_start(dst, tmp_path / "w.safetensors")
    assert "flow_downscale" not in loaded and int(dst.flow_downscale) == 4
    assert torch.equal(dst.to_rgb.weight, src.to_rgb.weight) and "to_rgb.weight" in loaded


def test_flow_only_warm_start_takes_spynet_from_one_file_and_leaves_the_rest(tmp_path):
    """init_flow: motion estimation from a run that learnt it, everything else from init."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src, dst = StandInVSR(mid_channels=4), StandInVSR(mid_channels=4)
    body_before = dst.body[0].weight.detach().clone()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    loaded = loop.warm_start(dst, tmp_path / "w.safetensors", flow_only=True)
    assert loaded and all(loop.is_spynet(k) for k in loaded)
    assert torch.equal(dst.spynet.conv.weight, src.spynet.conv.weight)
    assert torch.equal(dst.body[0].weight, body_before) and not torch.equal(body_before, src.body[0].weight)


def test_flow_only_warm_start_puts_a_bare_spynet_inside_realbasicvsr(tmp_path):
    """A flow network trained alone (``spynet.*``) warm-starts the SPyNet that RealBasicVSR holds as
    ``sr.spynet.*``, and the other way round; nothing outside SPyNet changes."""
    from safetensors.torch import save_file

    from vsrcli.models.arch import build_network

    tiny = {"mid_channels": 16, "num_blocks": 1, "flow_downscale": 4}
    torch.manual_seed(0)
    plain = build_network("basicvsrpp_lite", **tiny)
    bare = {k: v.contiguous() for k, v in plain.state_dict().items() if k.startswith("spynet.")}
    save_file(bare, tmp_path / "spynet.safetensors")
    real = build_network("realbasicvsr_lite", **tiny)
    before = {k: v.clone() for k, v in real.state_dict().items()}
    loaded = loop.warm_start(real, tmp_path / "spynet.safetensors", flow_only=True)
    assert sorted(loaded) == sorted(k for k in before if loop.is_spynet(k)) and loaded
    after = real.state_dict()
    for k in loaded:
        assert torch.equal(after[k], bare[loop.spynet_tail(k)])
    assert all(torch.equal(after[k], v) for k, v in before.items() if k not in loaded)
    save_file({k: v.contiguous() for k, v in after.items()}, tmp_path / "real.safetensors")
    other = build_network("basicvsrpp_lite", **tiny)
    assert len(loop.warm_start(other, tmp_path / "real.safetensors", flow_only=True)) == len(bare)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in bare.items())


def test_warm_start_into_a_network_with_a_wider_guide_and_new_blocks_begins_where_the_old_one_left(tmp_path):
    """The denoise-nb recipe: v1's weights, conv_hr widened by the neighbour channels (zeros), new full-res
    blocks that start as the identity -- the warm-started network computes exactly v1's output."""
    from safetensors.torch import save_file

    from vsrcli.models.arch import build_network

    args = {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": False, "extra_in_channels": 1}
    torch.manual_seed(0)
    old = build_network("basicvsrpp", guided_head=True, **args).eval()
    save_file({k: v.contiguous() for k, v in old.state_dict().items()}, tmp_path / "v1.safetensors")
    new = build_network("basicvsrpp", guided_head=True, guide_neighbours=True, head_blocks=2, **args).eval()
    loaded = loop.warm_start(new, tmp_path / "v1.safetensors")
    assert "conv_hr.weight" in loaded and not any(k.startswith("head_body.") for k in loaded)
    assert torch.equal(new.conv_hr.weight[:, :68], old.conv_hr.weight)
    assert not new.conv_hr.weight[:, 68:].any()
    x = torch.rand(1, 3, 4, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-6)


def test_warm_start_from_a_denoiser_drops_its_noise_map_so_the_start_is_that_denoiser_at_sigma_0(tmp_path):
    from safetensors.torch import save_file

    from vsrcli.models.arch import build_network

    args = {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": False, "guided_head": True}
    args |= {"guide_neighbours": True, "head_blocks": 1}
    torch.manual_seed(0)
    denoiser = build_network("basicvsrpp", extra_in_channels=1, **args).eval()
    with torch.no_grad():
        denoiser.head_body[0].conv2.weight.normal_(0, 0.05)
    save_file({k: v.contiguous() for k, v in denoiser.state_dict().items()}, tmp_path / "d.safetensors")
    deblurrer = build_network("basicvsrpp", **args).eval()
    loaded = loop.warm_start(deblurrer, tmp_path / "d.safetensors")
    assert {"feat_extract.0.weight", "conv_hr.weight", "head_body.0.conv2.weight"} <= set(loaded)
    x = torch.rand(1, 3, 3, 256, 256)
    with torch.no_grad():
        at_sigma_0 = denoiser(torch.cat([x, torch.zeros_like(x[:, :, :1])], dim=2))
        torch.testing.assert_close(deblurrer(x), at_sigma_0, rtol=0, atol=1e-6)


def test_a_denoiser_told_sigma_s_folds_its_constant_map_into_the_biases_it_drops_it_from():
    from vsrcli.models.arch import build_network

    args = {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": False, "guided_head": True}
    torch.manual_seed(0)
    state = build_network("basicvsrpp", extra_in_channels=1, **args).state_dict()
    for k in ("feat_extract.0.bias", "conv_hr.bias"):
        state[k] = torch.randn_like(state[k])
    adapted = build_network("basicvsrpp", **args).adapt_state_dict(state, sigma=20.0)
    level = 20.0 / 255
    for conv, maps in (("feat_extract.0", slice(3, 4)), ("conv_hr", slice(67, 68))):
        weight, bias = state[f"{conv}.weight"], state[f"{conv}.bias"]
        expected = bias + weight[:, maps].sum(dim=(1, 2, 3)) * level
        torch.testing.assert_close(adapted[f"{conv}.bias"], expected)
        assert adapted[f"{conv}.weight"].shape[1] == weight.shape[1] - 1


def test_the_output_head_is_upsampling_conv_hr_head_body_and_conv_last():
    from vsrcli.models.arch import build_network

    net = build_network(
        "basicvsrpp", mid_channels=8, num_blocks=1, is_low_res_input=False, guided_head=True, head_blocks=1
    )
    head = {n.split(".")[0] for n, _ in net.named_parameters() if loop.is_head(n)}
    assert head == {"upsample1", "upsample2", "conv_hr", "head_body", "conv_last"}
    assert loop.is_head("basicvsr.conv_last.weight") and not loop.is_head("backbone.forward_1.main.0.weight")


def test_resume_continues_bit_for_bit(stand_ins, root, tmp_path):
    straight = loop.train(_tiny(root, iters=6), tmp_path / "straight")
    loop.train(_tiny(root, iters=6), tmp_path / "split", stop_at_step=3)
    assert loop.load_checkpoint(tmp_path / "split" / loop.CHECKPOINT)["step"] == 3
    torch.manual_seed(1234)  # the resumed run must not depend on the RNG state it finds
    np.random.seed(99)
    resumed = loop.train(_tiny(root, iters=6), tmp_path / "split", resume=True)
    assert resumed.step == straight.step == 6
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    opt_a = loop.load_checkpoint(tmp_path / "straight" / loop.CHECKPOINT)["optimizer"]["state"]
    opt_b = loop.load_checkpoint(tmp_path / "split" / loop.CHECKPOINT)["optimizer"]["state"]
    assert all(torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"]) for i in opt_a)
    log_a = (tmp_path / "straight" / loop.LOG).read_text().splitlines()
    log_b = (tmp_path / "split" / loop.LOG).read_text().splitlines()
    assert [json.loads(x)["step"] for x in log_a] == [json.loads(x)["step"] for x in log_b]
    assert straight.val_history[-1]["val_psnr_y"] == resumed.val_history[-1]["val_psnr_y"]


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(stand_ins, root, tmp_path):
    loop.train(_tiny(root, iters=5, val_every=0), tmp_path / "straight")
    found = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN under a background shell

    def interrupt(progress: loop.Progress) -> None:
        if progress.event == "step" and progress.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match="step 2"):
        loop.train(_tiny(root, iters=5, val_every=0), tmp_path / "cut", callback=interrupt)
    assert loop.load_checkpoint(tmp_path / "cut" / loop.CHECKPOINT)["step"] == 2
    assert signal.getsignal(signal.SIGINT) is found  # the handler it found is back
    loop.train(_tiny(root, iters=5, val_every=0), tmp_path / "cut", resume=True)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_flow_pretraining_runs_before_step_0_and_is_checkpointed(stand_ins, root, tmp_path):
    cfg = _tiny(root, iters=2, val_every=0)
    cfg.optim.flow_pretrain_iters = 3
    cfg.optim.flow_pretrain_batch = 2
    events = []
    loop.train(cfg, tmp_path / "run", callback=events.append, stop_at_step=0)
    assert [e.step for e in events if e.event == "flow"] == [1, 2, 3]
    state = loop.load_checkpoint(tmp_path / "run" / loop.CHECKPOINT)
    assert state["step"] == 0 and state["model"]["spynet.conv.weight"].abs().sum() > 0  # trained from zero
    events.clear()
    loop.train(cfg, tmp_path / "run", resume=True, callback=events.append)
    assert not [e for e in events if e.event == "flow"]
    logged = [json.loads(x) for x in (tmp_path / "run" / loop.LOG).read_text().splitlines()]
    assert logged[0] == {"flow_step": 3, "epe": logged[0]["epe"]} and logged[-1]["step"] == 2


def test_skipping_the_zero_flow_spynet_changes_nothing(stand_ins, root, tmp_path, monkeypatch):
    calls = []
    real = _FlowStandIn.forward
    monkeypatch.setattr(_FlowStandIn, "forward", lambda self, a, b: calls.append(1) or real(self, a, b))
    loop.train(_tiny(root, iters=3, val_every=0), tmp_path / "skip")
    assert len(calls) == 1  # steps 1-2 (frozen at zero flow) skipped SPyNet, step 3 ran it
    monkeypatch.setattr(loop, "flow_is_zero", lambda model: False)
    loop.train(_tiny(root, iters=3, val_every=0), tmp_path / "full")
    assert len(calls) == 4
    a, b = _weights(tmp_path / "skip"), _weights(tmp_path / "full")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_config_and_a_missing_checkpoint(stand_ins, root, tmp_path):
    loop.train(_tiny(root, iters=2, val_every=0), tmp_path / "run")
    changed = _tiny(root, iters=4, val_every=0)
    changed.arch_args = {"mid_channels": 8}
    with pytest.raises(UsageError, match="arch_args"):
        loop.train(changed, tmp_path / "run", resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        loop.train(_tiny(root, iters=2), tmp_path / "empty", resume=True)
    with pytest.raises(UsageError, match="already holds a run"):
        loop.train(_tiny(root, iters=2), tmp_path / "run")
    curriculum = _tiny(root, iters=4, val_every=0)  # a longer schedule with longer clips may resume
    curriculum.data.clip_len = 6
    assert loop.train(curriculum, tmp_path / "run", resume=True).step == 4


def test_validation_can_shrink_its_clips_as_training_shrinks_samples(stand_ins, root, tmp_path):
    """val.downscale: each clip is shrunk (antialiased bicubic) before the centre crop, so validation targets
    are as clean as training's under gt_downscale; the card says so, and the field is no reason to refuse a
    checkpoint written before it existed."""
    import torch.nn.functional as F

    from vsrcli.io.frames import read_image
    from vsrcli.train.data import load_val_clips

    folder = root / "JPEGImages/blackswan"  # 40x40 frames
    full = torch.stack([torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in sorted(folder.iterdir())])
    full = full[:3].float().div(255.0)
    [(_, plain)] = load_val_clips(["JPEGImages/blackswan"], root, 3, max_size=8, scale=4)
    [(_, shrunk)] = load_val_clips(["JPEGImages/blackswan"], root, 3, max_size=8, scale=4, downscale=0.5)
    assert plain.shape[-2:] == (32, 32) and torch.equal(plain, full[..., 4:36, 4:36])
    half = F.interpolate(full, size=(20, 20), mode="bicubic", antialias=True).clamp(0, 1)
    assert shrunk.shape[-2:] == (16, 16) and torch.allclose(shrunk, half[..., 2:18, 2:18])

    cfg = _tiny(root, iters=2, val_every=2)
    cfg.val.downscale = 0.5
    loop.train(cfg, tmp_path / "run")
    res = export_run(tmp_path / "run", tmp_path / "rel")
    assert json.loads(res.card_json.read_text())["validation"]["downscale"] == 0.5
    assert "shrunk by 0.5" in res.card_md.read_text()
    longer = _tiny(root, iters=4, val_every=2)
    with pytest.raises(UsageError, match="val.downscale"):  # validation that changes mid-run is refused
        loop.train(longer, tmp_path / "run", resume=True)

    loop.train(_tiny(root, iters=2, val_every=0), tmp_path / "old")
    payload = loop.load_checkpoint(tmp_path / "old" / loop.CHECKPOINT)
    del payload["config"]["val"]["downscale"]  # as written before the field existed
    torch.save(payload, tmp_path / "old" / loop.CHECKPOINT)
    assert loop.train(_tiny(root, iters=3, val_every=0), tmp_path / "old", resume=True).step == 3


def test_checkpoints_are_written_on_a_timer(stand_ins, root, tmp_path):
    events = []
    loop.train(
        _tiny(root, iters=3, val_every=0, checkpoint_minutes=1e-9), tmp_path / "run", callback=events.append
    )
    assert [e.event for e in events].count("checkpoint") == 3 + 1  # after each step, and at the end


def test_fp16_on_the_cpu_is_refused(stand_ins, root, tmp_path):
    with pytest.raises(UsageError, match="fp16"):
        loop.train(_tiny(root, iters=1, precision="fp16"), tmp_path / "run")


def test_bf16_autocast_trains_on_the_cpu(stand_ins, root, tmp_path):
    result = loop.train(_tiny(root, iters=2, precision="bf16", val_every=0), tmp_path / "run")
    assert result.step == 2
    assert all(v.dtype == torch.float32 for v in _weights(tmp_path / "run").values())


# --- export ---------------------------------------------------------------------------------------


def test_export_writes_hash_named_tensors_only_and_a_model_card(stand_ins, root, tmp_path):
    from safetensors.torch import load_file

    loop.train(_tiny(root, iters=3), tmp_path / "run")
    res = export_run(tmp_path / "run", tmp_path / "rel")
    digest = sha256_file(res.weights)
    assert res.weights.name == f"tiny-{digest[:8]}.safetensors" and res.sha256 == digest
    tensors = load_file(str(res.weights))
    state = _weights(tmp_path / "run")
    assert tensors.keys() == state.keys() and all(torch.equal(tensors[k], state[k]) for k in state)
    card = json.loads(res.card_json.read_text())
    assert card["file"] == res.weights.name and card["arch"] == "basicvsrpp"
    assert card["degradation"] == {"kind": "bi", "scale": 4}
    assert card["num_params"] == sum(p.numel() for p in StandInVSR(mid_channels=4).parameters())
    assert card["training"]["iterations"] == 3 and card["validation"]["curve"][-1][0] == 3
    assert "parkour" in card["data"]["held_out"]["davis_val"]
    assert card["validation"]["baseline"] > 0 and card["validation"]["baseline_is"] == "MATLAB bicubic x4"
    assert res.card_md.read_text().startswith("# tiny")
    half = _tiny(root, iters=3, export_dtype="float16")
    res16 = export_state(state, half, tmp_path / "rel16")
    assert all(t.dtype == torch.float16 for t in load_file(str(res16.weights)).values())
    assert res16.weights.stat().st_size < 0.6 * res.weights.stat().st_size


def test_runtime_arguments_reach_the_card_and_run_the_exported_file_by_path(tmp_path):
    """RealBasicVSR's cleaning threshold is in no tensor: [runtime] puts it in the card, which a file given by
    path is run with, and it is no reason to refuse a resume."""
    from vsrcli.models.api import describe_model
    from vsrcli.models.arch import build_network
    from vsrcli.train.state import config_differences

    args = {"mid_channels": 8, "num_blocks": 1, "cleaning_channels": 8, "num_cleaning_blocks": 1}
    values = {"arch": "realbasicvsr_lite", "arch_args": args, "degradation": {"kind": "realworld"}}
    cfg = cfgmod.from_dict({**values, "name": "real", "runtime": {"dynamic_refine_thres": 3}})
    assert "dynamic_refine_thres" not in cfg.arch_args  # training builds the network without it
    net = build_network("realbasicvsr_lite", **args)
    res = export_state(net.state_dict(), cfg, tmp_path)
    assert json.loads(res.card_json.read_text())["arch_args"]["dynamic_refine_thres"] == 3
    assert describe_model(res.weights).arch_args["dynamic_refine_thres"] == 3
    res.card_json.unlink()
    assert describe_model(res.weights).arch_args["dynamic_refine_thres"] == 255  # the official default
    old = cfgmod.from_dict({**values, "name": "real"}).to_dict()
    old.pop("runtime")  # a checkpoint written before [runtime] existed
    assert config_differences(old, cfg.to_dict()) == []
    changed = cfgmod.from_dict({**values, "name": "real", "runtime": {"dynamic_refine_thres": 255}})
    assert config_differences(cfg.to_dict(), changed.to_dict()) == []


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_lists_presets_and_prints_a_config(capsys):
    from vsrcli.cli import run

    assert run(["train", "--list-presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in preset_names())
    assert run(["train", "--preset", "bix4", "--iters", "123", "--show-config"]) == 0
    text = capsys.readouterr().out
    assert "iters = 123" in text and 'arch = "basicvsrpp"' in text


def test_cli_trains_resumes_and_exports(stand_ins, root, tmp_path, capsys):
    from vsrcli.cli import run

    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(cfgmod.to_toml(_tiny(root, iters=2).to_dict()))
    out = tmp_path / "run"
    assert run(["train", "--config", str(cfg_path), "--out", str(out), "--no-export"]) == 0
    assert run(["train", "--out", str(out), "--resume", "--iters", "3", "--val-every", "0"]) == 0
    assert loop.load_checkpoint(out / loop.CHECKPOINT)["step"] == 3
    assert run(["train", "--out", str(out), "--export-only"]) == 0
    assert len(list((out / "export").glob("tiny-*.safetensors"))) == 1
    assert run(["train", "--preset", "bix4", "--config", str(cfg_path)]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_real_network_trains_resumes_exactly_and_exports(root, tmp_path):
    """The real BasicVSR++ (c8n1) in the loop: split + resume equals straight; the export loads strictly."""
    from safetensors.torch import load_file

    from vsrcli.models.arch import build_network

    big = root / "big"
    big.mkdir()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (256, 260, 3), dtype=np.uint8)
    for i in range(3):
        write_image(big / f"{i}.png", np.ascontiguousarray(np.roll(base, i, axis=1)))

    def cfg() -> cfgmod.TrainConfig:
        c = _tiny(root, iters=2, val_every=0)
        c.arch_args = {"mid_channels": 8, "num_blocks": 1}
        c.data.paths, c.data.patch, c.data.batch, c.data.clip_len = ["video:big"], 64, 1, 2
        return c

    loop.train(cfg(), tmp_path / "a")
    loop.train(cfg(), tmp_path / "b", stop_at_step=1)
    loop.train(cfg(), tmp_path / "b", resume=True)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    res = export_run(tmp_path / "a", tmp_path / "rel")
    net = build_network("basicvsrpp", mid_channels=8, num_blocks=1)
    net.load_state_dict(load_file(str(res.weights)), strict=True)
    assert any(k.startswith("spynet.basic_module.") for k in a)


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "configs").glob("*.toml")), ids=lambda p: p.name
)
def test_example_configs_are_valid(path):
    cfg = cfgmod.resolve(config_file=path)
    assert cfg.name and cfg.run.iters > 0
