"""Reading every official checkpoint layout safely, and loading strictly with errors that name the keys."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch

from helpers_checkpoints import (
    layout,
    module_from_layout,
    official_table,
    random_state,
    save_basicsr,
    save_mmedit,
    save_realbasicvsr,
    to_basicsr_key,
)
from vsrcli.errors import (
    CheckpointError,
    DeviceError,
    IncompatibleWeightsError,
    ModelNotFoundError,
    UnsafeCheckpointError,
    UsageError,
    WeightsNotFoundError,
)
from vsrcli.models import api, zoo
from vsrcli.models.arch import build_network, count_parameters
from vsrcli.models.checkpoint import load_into, map_basicsr_key, read_checkpoint, write_checkpoint
from vsrcli.models.detect import detect_architecture

PP_TINY = {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": True}
ICON_TINY = {"mid_channels": 64, "num_blocks": 1, "padding": 2}


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


@pytest.fixture
def pp_state() -> dict[str, torch.Tensor]:
    return random_state(layout("basicvsrpp", **PP_TINY), seed=1)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-format", "zip-format"])
def test_mmediting_release_file(tmp_path, pp_state, legacy):
    path = save_mmedit(pp_state, tmp_path / "basicvsr_plusplus_c8n1-00000000.pth", legacy=legacy)
    state = read_checkpoint(path)
    assert_same(state, pp_state)  # generator. stripped, step_counter and meta dropped


def test_legacy_meta_with_numpy_scalars_is_allowed(tmp_path, pp_state):
    meta = {
        "iter": np.int64(300000),
        "best_psnr": np.float64(31.42),
        "lr": np.float32(1e-4),
        "note": "ok",
    }
    path = save_mmedit(pp_state, tmp_path / "numpy_meta.pth", legacy=True, meta=meta)
    assert_same(read_checkpoint(path), pp_state)


def test_realbasicvsr_file_uses_generator_ema(tmp_path):
    shapes = layout("realbasicvsr", mid_channels=8, num_propagation_blocks=1, num_cleaning_blocks=1)
    ema, plain = random_state(shapes, seed=2), random_state(shapes, seed=3)
    state = read_checkpoint(save_realbasicvsr(ema, plain, tmp_path / "realbasicvsr.pth"))
    assert_same(state, ema)
    assert not any(k.startswith(("discriminator", "perceptual", "step")) for k in state)


def test_mmagic_ema_wrapper_keys(tmp_path, pp_state):
    """MMagic 1.x training files: EMA copy under generator_ema.module.*, a generator_ema.steps counter."""
    sd = {f"generator_ema.module.{k}": v for k, v in pp_state.items()}
    sd["generator_ema.steps"] = torch.tensor([1000])
    sd.update({f"generator.{k}": torch.zeros_like(v) for k, v in pp_state.items()})
    sd["data_preprocessor.mean"] = torch.zeros(1, 3, 1, 1)
    torch.save({"meta": {"epoch": 1}, "state_dict": sd}, tmp_path / "mmagic.pth")
    assert_same(read_checkpoint(tmp_path / "mmagic.pth"), pp_state)


def test_basicsr_key_mapping_spot_checks():
    cases = {
        "spynet.basic_module.0.basic_module.0.weight": "spynet.basic_module.0.basic_module.0.conv.weight",
        "spynet.basic_module.5.basic_module.8.bias": "spynet.basic_module.5.basic_module.4.conv.bias",
        "backward_trunk.main.2.29.conv1.weight": "backward_resblocks.main.2.29.conv1.weight",
        "forward_trunk.main.0.bias": "forward_resblocks.main.0.bias",
        "upconv1.weight": "upsample1.upsample_conv.weight",
        "upconv2.bias": "upsample2.upsample_conv.bias",
        "fusion.weight": "fusion.weight",
        "edvr.conv_l2_1.weight": "edvr.feat_l2_conv1.conv.weight",
        "edvr.conv_l3_2.bias": "edvr.feat_l3_conv2.conv.bias",
        "edvr.pcd_align.offset_conv1.l3.weight": "edvr.pcd_alignment.offset_conv1.l3.conv.weight",
        "edvr.pcd_align.feat_conv.l1.bias": "edvr.pcd_alignment.feat_conv.l1.conv.bias",
        "edvr.pcd_align.dcn_pack.l2.conv_offset.weight": "edvr.pcd_alignment.dcn_pack.l2.conv_offset.weight",
        "edvr.pcd_align.cas_dcnpack.weight": "edvr.pcd_alignment.cas_dcnpack.weight",
        "edvr.pcd_align.cas_offset_conv2.weight": "edvr.pcd_alignment.cas_offset_conv2.conv.weight",
        "edvr.fusion.feat_fusion.weight": "edvr.fusion.feat_fusion.conv.weight",
        "edvr.fusion.spatial_attn_add1.bias": "edvr.fusion.spatial_attn_add1.conv.bias",
        "edvr.fusion.spatial_attn5.weight": "edvr.fusion.spatial_attn5.weight",
        "edvr.fusion.temporal_attn1.weight": "edvr.fusion.temporal_attn1.weight",
        "edvr.fusion.spatial_attn_add2.weight": "edvr.fusion.spatial_attn_add2.weight",
    }
    for basicsr, ours in cases.items():
        assert map_basicsr_key(basicsr) == ours, basicsr


def test_basicsr_mapping_round_trips_every_official_key(official_keys_dir):
    for table in sorted(official_keys_dir.glob("*.json")):
        for key in official_table(table):
            assert map_basicsr_key(key) == key  # MMEditing names are left alone
            assert map_basicsr_key(to_basicsr_key(key)) == key, (table.name, key)


def test_basicsr_file_prefers_params_ema(tmp_path):
    shapes = layout("iconvsr", **ICON_TINY)
    plain, ema = random_state(shapes, seed=4), random_state(shapes, seed=5)
    assert_same(read_checkpoint(save_basicsr(plain, tmp_path / "params.pth")), plain)
    assert_same(read_checkpoint(save_basicsr(plain, tmp_path / "both.pth", ema=ema)), ema)


def test_bare_state_dict_with_and_without_module_prefix(tmp_path, pp_state):
    torch.save(pp_state, tmp_path / "bare.pth")
    torch.save({f"module.{k}": v for k, v in pp_state.items()}, tmp_path / "ddp.pth")
    assert_same(read_checkpoint(tmp_path / "bare.pth"), pp_state)
    assert_same(read_checkpoint(tmp_path / "ddp.pth"), pp_state)


def test_safetensors_round_trip(tmp_path, pp_state):
    path = write_checkpoint(pp_state, tmp_path / "model.safetensors")
    assert_same(read_checkpoint(path), pp_state)
    pth = write_checkpoint(pp_state, tmp_path / "model.pth")
    assert_same(read_checkpoint(pth), pp_state)
    renamed = tmp_path / "safetensors_named.pth"  # recognised by content, not by name
    renamed.write_bytes(path.read_bytes())
    assert_same(read_checkpoint(renamed), pp_state)


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["zip", "legacy", "raw-pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, pp_state, kind):
    marker = tmp_path / "PWNED"
    evil = {
        "meta": _Payload(str(marker)),
        "state_dict": {f"generator.{k}": v for k, v in pp_state.items()},
    }
    path = tmp_path / "evil.pth"
    if kind == "raw-pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    else:
        torch.save(evil, path, _use_new_zipfile_serialization=(kind == "zip"))
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load .*system") as info:
        read_checkpoint(path)
    assert "nothing was executed" in str(info.value)
    assert not marker.exists()


DAMAGED = {
    "empty": b"",
    "text": b"junk",
    "truncated-pickle": b"\x80\x02",
    "binary": bytes(range(256)) * 4,
    "fake-zip": b"PK\x03\x04 not really a zip",
    "truncated-legacy-checkpoint": True,
    "truncated-zip-checkpoint": False,
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_files_are_checkpoint_errors(tmp_path, pp_state, case):
    content = DAMAGED[case]
    if isinstance(content, bool):  # the first half of a real checkpoint, in the legacy or the zip format
        whole = save_mmedit(pp_state, tmp_path / "whole.pth", legacy=content).read_bytes()
        content = whole[: len(whole) // 2]
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "bad.pth")


def test_unreadable_files_give_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "junk.pth")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a valid .safetensors"):
        read_checkpoint(tmp_path / "empty.safetensors")
    torch.save({"optimizer": {"lr": 0.1}}, tmp_path / "no_weights.pth")
    with pytest.raises(CheckpointError, match="no network weights"):
        read_checkpoint(tmp_path / "no_weights.pth")


def test_load_into_is_strict_and_names_the_keys(pp_state):
    net = module_from_layout(layout("basicvsrpp", **PP_TINY))
    load_into(net, pp_state)
    assert torch.equal(net.state_dict()["conv_last.weight"], pp_state["conv_last.weight"])

    broken = dict(pp_state)
    del broken["reconstruction.main.0.weight"]
    broken["extra.head.weight"] = torch.zeros(1)
    broken["conv_hr.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(IncompatibleWeightsError) as info:
        load_into(net, broken, label="BasicVSR++ c8n1 x4")
    message = str(info.value)
    assert "BasicVSR++ c8n1 x4" in message
    assert "1 missing (reconstruction.main.0.weight)" in message
    assert "1 unexpected (extra.head.weight)" in message
    assert "conv_hr.weight (64, 64, 1, 1) vs (64, 64, 3, 3)" in message


def test_load_into_lists_only_the_first_few_keys():
    net = module_from_layout(layout("basicvsr", mid_channels=8, num_blocks=2))
    with pytest.raises(IncompatibleWeightsError, match=r"missing \(.*, … \(\d+ more\)\)"):
        load_into(net, {"conv_last.weight": torch.zeros(3, 64, 3, 3)})


def test_spynet_constants_are_regenerated_when_absent(pp_state):
    net = module_from_layout(layout("basicvsrpp", **PP_TINY))
    own_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    net.spynet.mean.copy_(own_mean)
    without = {k: v for k, v in pp_state.items() if not k.endswith(("spynet.mean", "spynet.std"))}
    load_into(net, without)
    assert torch.equal(net.spynet.mean, own_mean)


# --- real networks: official layouts at full size (meta tensors) and load_model end to end ---------------

TINY_NETS = {
    "basicvsr": {"mid_channels": 8, "num_blocks": 1},
    "iconvsr": {"mid_channels": 8, "num_blocks": 1, "keyframe_stride": 5, "padding": 2},
    "basicvsrpp": {
        "mid_channels": 8,
        "num_blocks": 1,
        "max_residue_magnitude": 10,
        "is_low_res_input": True,
        "cpu_cache_length": 100,
    },
    "basicvsrpp-restore-noise": {
        "mid_channels": 8,
        "num_blocks": 1,
        "max_residue_magnitude": 10,
        "is_low_res_input": False,
        "cpu_cache_length": 100,
        "extra_in_channels": 1,
    },
    "realbasicvsr": {
        "mid_channels": 8,
        "num_propagation_blocks": 1,
        "num_cleaning_blocks": 1,
        "dynamic_refine_thres": 255,
        "is_sequential_cleaning": True,
    },
}


def tiny_net(key: str) -> tuple[str, dict, torch.nn.Module]:
    arch = key.split("-")[0]
    args = TINY_NETS[key]
    torch.manual_seed(7)
    net = build_network(arch, **args)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # non-zero everywhere, incl. zero-initialised offsets
    return arch, args, net


def _one_entry_per_layout() -> list[str]:
    """The 18 official entries share 8 layouts; building each layout once keeps the test quick."""
    seen: dict[str, str] = {}
    for entry in zoo.list_entries():
        if entry.official:
            seen.setdefault(repr((entry.arch, sorted(entry.arch_args.items()))), entry.name)
    return list(seen.values())


@pytest.mark.parametrize("name", _one_entry_per_layout())
def test_zoo_entry_builds_the_official_layout_at_full_size(name):
    entry = zoo.get_entry(name)
    twins = [e for e in zoo.list_entries() if (e.arch, e.arch_args) == (entry.arch, entry.arch_args)]
    assert all(e.num_params == entry.num_params for e in twins)
    with torch.device("meta"):
        net = build_network(entry.arch, **entry.arch_args)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == layout(entry.arch, **entry.arch_args)
    assert count_parameters(net) == entry.num_params
    # a file with exactly the official keys loads strictly, and without SPyNet's constants too
    state = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    load_into(net, state)
    load_into(
        net,
        {k: v for k, v in state.items() if not k.endswith(("spynet.mean", "spynet.std"))},
    )


@pytest.mark.parametrize(
    "table",
    ["basicvsr_c64n30.json", "iconvsr_c64n30_pad3.json", "realbasicvsr_c64b20.json"],
)
def test_official_key_tables_load_into_detected_networks(official_keys_dir, table):
    shapes = official_table(official_keys_dir / table)
    arch, args = detect_architecture(shapes)
    with torch.device("meta"):
        net = build_network(arch, **args)
    load_into(net, {k: torch.empty(s, device="meta") for k, s in shapes.items()})


@pytest.mark.parametrize("key", sorted(TINY_NETS))
def test_load_model_detects_and_loads_every_layout(tmp_path, key):
    arch, args, net = tiny_net(key)
    state = net.state_dict()
    files = [
        save_mmedit(state, tmp_path / "mmedit.pth"),
        write_checkpoint(state, tmp_path / "w.safetensors"),
    ]
    if arch in ("basicvsr", "iconvsr"):
        files.append(save_basicsr(state, tmp_path / "basicsr.pth"))
    if arch == "realbasicvsr":
        files.append(
            save_realbasicvsr(state, random_state(layout(arch, **args), seed=9), tmp_path / "real.pth")
        )
    for path in files:
        model = api.load_model(path)
        assert not model.training
        assert (model.model_info.arch, dict(model.model_info.arch_args)) == (
            arch,
            args,
        ), path.name
        loaded = model.state_dict()
        for k, v in state.items():
            assert torch.equal(loaded[k], v), (path.name, k)


@pytest.fixture
def one_thread():
    """The forward pass runs on a shared 2-core machine: one thread is faster and kinder to neighbours."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_loaded_model_computes_what_the_original_computes(tmp_path, one_thread):
    _, _, net = tiny_net("basicvsr")
    net.eval()
    model = api.load_model(save_mmedit(net.state_dict(), tmp_path / "tiny.pth", legacy=True))
    # on the CPU load_model lays the weights out channels_last; the original in that layout is bit-identical
    assert (
        model.spynet.basic_module[0]
        .basic_module[0]
        .conv.weight.is_contiguous(memory_format=torch.channels_last)
    )
    net = net.to(memory_format=torch.channels_last)
    frames = torch.rand(1, 2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(frames), net(frames))
    assert model.model_info.scale == 4 and model.model_info.task == "sr-x4"


def test_restoration_checkpoint_has_scale_one_and_no_known_task(tmp_path):
    _, _, net = tiny_net("basicvsrpp-restore-noise")
    info = api.describe_model(write_checkpoint(net.state_dict(), tmp_path / "denoise.safetensors"))
    assert info.scale == 1 and info.task is None
    assert info.label == "BasicVSR++ c8n1 restoration (+1 input channels)"


@pytest.fixture
def tiny_entry(tmp_path, monkeypatch):
    """A zoo entry for a tiny BasicVSR whose 'official' file sits behind a file:// URL."""
    monkeypatch.setenv("VSRCLI_HOME", str(tmp_path / "home"))
    _, args, net = tiny_net("basicvsr")
    source = save_mmedit(net.state_dict(), tmp_path / "tiny_basicvsr.pth")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    entry = dataclasses.replace(
        zoo.get_entry("basicvsr-reds4"),
        name="tiny-basicvsr",
        arch_args=args,
        url=source.as_uri(),
        filename=f"tiny_basicvsr-{digest}.pth",
        sha256_prefix=digest,
    )
    zoo.register(entry)
    yield entry, net
    zoo.unregister(entry.name)


def test_load_model_by_name_downloads_once_then_uses_the_cache(tiny_entry, tmp_path, monkeypatch):
    entry, net = tiny_entry
    monkeypatch.delenv("VSRCLI_OFFLINE")  # served from 127.0.0.1 (conftest keeps other tests offline)
    with pytest.raises(
        WeightsNotFoundError,
        match="vsrcli models download tiny-basicvsr.*--weights FILE",
    ):
        api.load_model("tiny-basicvsr", download=False)
    seen = []
    model = api.load_model("tiny-basicvsr", progress=lambda done, total: seen.append(done))
    assert seen and model.model_info.entry is entry
    assert model.model_info.weights == tmp_path / "home" / "weights" / entry.filename
    assert torch.equal(model.state_dict()["conv_last.weight"], net.state_dict()["conv_last.weight"])
    api.load_model("tiny-basicvsr", download=False)  # now from the cache
    import vsrcli

    assert vsrcli.load_model("tiny-basicvsr").model_info.name == "tiny-basicvsr"


def test_weights_for_a_zoo_name_must_match_its_architecture(tmp_path):
    _, _, net = tiny_net("basicvsrpp")
    path = save_mmedit(net.state_dict(), tmp_path / "other.pth")
    with pytest.raises(
        IncompatibleWeightsError,
        match=r"holds a BasicVSR\+\+ c8n1 x4, but basicvsr-reds4 is a BasicVSR c64n30",
    ):
        api.load_model("basicvsr-reds4", weights=path)


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="did you mean basicvsrpp-reds4"):
        api.load_model("basicvsrpp-red4")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        api.load_model(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        api.load_model("some/dir/missing.pth")
    _, _, net = tiny_net("basicvsr")
    path = write_checkpoint(net.state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(UsageError, match="--weights goes with a zoo model name"):
        api.load_model(path, weights=path)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            api.load_model(path, device="cuda")
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):  # the one rule of restore
        api.load_model(path, device="toaster")


def test_corrupt_cached_file_suggests_a_fresh_download(tiny_entry, tmp_path):
    entry, _ = tiny_entry
    cached = tmp_path / "home" / "weights" / entry.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="models download --force tiny-basicvsr"):
        api.load_model("tiny-basicvsr")
