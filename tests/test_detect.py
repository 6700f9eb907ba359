"""Architecture detection from keys and shapes: every official layout, tiny variants, and clear refusals."""

from __future__ import annotations

import pytest

from helpers_checkpoints import layout, official_table, random_state
from vsrcli.errors import CheckpointError
from vsrcli.models import zoo
from vsrcli.models.detect import RUNTIME_ARGS, arch_label, detect_architecture

OFFICIAL_TABLES = {
    "basicvsr_c64n30.json": ("basicvsr", {"mid_channels": 64, "num_blocks": 30}),
    "iconvsr_c64n30_pad2.json": ("iconvsr", {"mid_channels": 64, "num_blocks": 30, "padding": 2}),
    "iconvsr_c64n30_pad3.json": ("iconvsr", {"mid_channels": 64, "num_blocks": 30, "padding": 3}),
    "basicvsrpp_c64n7_x4.json": (
        "basicvsrpp",
        {"mid_channels": 64, "num_blocks": 7, "is_low_res_input": True},
    ),
    "basicvsrpp_c128n25_x4.json": (
        "basicvsrpp",
        {"mid_channels": 128, "num_blocks": 25, "is_low_res_input": True},
    ),
    "basicvsrpp_c128n25_restore.json": (
        "basicvsrpp",
        {"mid_channels": 128, "num_blocks": 25, "is_low_res_input": False},
    ),
    "basicvsrpp_c64n15_restore.json": (
        "basicvsrpp",
        {"mid_channels": 64, "num_blocks": 15, "is_low_res_input": False},
    ),
    "realbasicvsr_c64b20.json": (
        "realbasicvsr",
        {"mid_channels": 64, "num_propagation_blocks": 20, "num_cleaning_blocks": 20},
    ),
}


@pytest.mark.parametrize("table", sorted(OFFICIAL_TABLES))
def test_detects_every_official_key_table(official_keys_dir, table):
    arch, expected = OFFICIAL_TABLES[table]
    got_arch, args = detect_architecture(official_table(official_keys_dir / table))
    assert got_arch == arch
    assert {k: args[k] for k in expected} == expected
    assert "extra_in_channels" not in args  # official files take plain RGB


@pytest.mark.parametrize("table", sorted(OFFICIAL_TABLES))
def test_test_layouts_equal_the_official_tables(official_keys_dir, table):
    """The synthetic layouts used for tiny variants are the official ones at the official sizes."""
    arch, args = OFFICIAL_TABLES[table]
    assert layout(arch, **args) == official_table(official_keys_dir / table)


def test_every_zoo_entry_is_detected_with_its_own_arguments():
    """All but the runtime arguments, which no tensor shows (vsrcli-denoise's second pass, vsrcli-realx4's
    repeated cleaning), and the light networks' ``flow_downscale``, a value in the weights, not a shape
    (checked on the files below)."""
    for entry in zoo.list_entries():
        arch, args = detect_architecture(layout(entry.arch, **entry.arch_args))
        args = {k: v for k, v in args.items() if k not in RUNTIME_ARGS}
        expected = {k: v for k, v in entry.arch_args.items() if k not in RUNTIME_ARGS}
        if "flow_downscale" in expected:
            args = {**args, "flow_downscale": expected["flow_downscale"]}
        assert (arch, args) == (entry.arch, expected), entry.name


def test_every_shipped_light_file_holds_the_flow_downscale_its_entry_names():
    from safetensors.torch import load_file

    checked = 0
    for entry in zoo.list_entries():
        path = zoo.resolve_local_path(entry)
        if path is None or "flow_downscale" not in entry.arch_args:
            continue
        _, args = detect_architecture(load_file(str(path)))
        assert args["flow_downscale"] == entry.arch_args["flow_downscale"], entry.name
        checked += 1
    assert checked >= 4  # vsrcli-x4, vsrcli-realx4 and the light restorers


TINY = [
    ("basicvsr", {"mid_channels": 16, "num_blocks": 2}),
    ("iconvsr", {"mid_channels": 64, "num_blocks": 1, "keyframe_stride": 5, "padding": 2}),
    ("iconvsr", {"mid_channels": 64, "num_blocks": 1, "keyframe_stride": 5, "padding": 3}),
    (
        "basicvsrpp",
        {
            "mid_channels": 16,
            "num_blocks": 2,
            "max_residue_magnitude": 10,
            "is_low_res_input": True,
            "cpu_cache_length": 100,
        },
    ),
    (
        "basicvsrpp",
        {
            "mid_channels": 8,
            "num_blocks": 1,
            "max_residue_magnitude": 10,
            "is_low_res_input": False,
            "cpu_cache_length": 100,
        },
    ),
    (
        "basicvsrpp",
        {
            "mid_channels": 16,
            "num_blocks": 3,
            "max_residue_magnitude": 10,
            "is_low_res_input": False,
            "cpu_cache_length": 100,
            "extra_in_channels": 1,
        },
    ),
    (
        "realbasicvsr",
        {
            "mid_channels": 16,
            "num_propagation_blocks": 2,
            "num_cleaning_blocks": 3,
            "dynamic_refine_thres": 255,
            "is_sequential_cleaning": True,
        },
    ),
]


@pytest.mark.parametrize(("arch", "args"), TINY, ids=[f"{a}-{i}" for i, (a, _) in enumerate(TINY)])
def test_detects_tiny_variants_from_real_tensors(arch, args):
    state = random_state(layout(arch, **args))
    assert detect_architecture(state) == (arch, args)


def test_noise_map_channel_is_detected_as_extra_input():
    shapes = layout("basicvsrpp", mid_channels=8, num_blocks=1, is_low_res_input=False, extra_in_channels=1)
    assert shapes["feat_extract.0.weight"] == (8, 4, 3, 3)
    assert detect_architecture(shapes)[1]["extra_in_channels"] == 1


def test_standalone_spynet_is_refused_saying_what_it_is():
    shapes = {
        k.removeprefix("spynet."): v for k, v in layout("basicvsr", mid_channels=8, num_blocks=1).items()
    }
    spynet_only = {k: v for k, v in shapes.items() if k.startswith("basic_module.")}
    with pytest.raises(CheckpointError, match="SPyNet flow estimator"):
        detect_architecture(spynet_only)


def test_unrelated_weights_are_refused():
    with pytest.raises(CheckpointError, match="none of its keys belong to this family"):
        detect_architecture({"conv1.weight": (64, 3, 7, 7), "fc.weight": (1000, 2048)})
    with pytest.raises(CheckpointError, match="no weights"):
        detect_architecture({})


def test_basicvsr_2x_checkpoints_are_refused_by_name():
    shapes = layout("basicvsrpp", mid_channels=8, num_blocks=1, is_low_res_input=False)
    shapes = {k.replace("feat_extract.4.", "feat_extract.2."): v for k, v in shapes.items()}
    shapes = {k: v for k, v in shapes.items() if not k.startswith("feat_extract.0.")}
    with pytest.raises(CheckpointError, match="BasicVSR_2x"):
        detect_architecture(shapes)


def test_incomplete_file_names_the_missing_key():
    shapes = layout("iconvsr", mid_channels=64, num_blocks=1, padding=2)
    del shapes["edvr.fusion.feat_fusion.conv.weight"]
    with pytest.raises(CheckpointError, match="feat_fusion"):
        detect_architecture(shapes)


def test_gap_in_block_numbering_is_an_error():
    shapes = layout("basicvsr", mid_channels=8, num_blocks=3)
    shapes = {k: v for k, v in shapes.items() if ".main.2.1." not in k}
    with pytest.raises(CheckpointError, match="not numbered"):
        detect_architecture(shapes)


def test_labels_are_short_and_specific():
    assert arch_label("basicvsrpp", zoo.get_entry("basicvsrpp-reds4").arch_args) == "BasicVSR++ c64n7 x4"
    assert (
        arch_label("basicvsrpp", zoo.get_entry("basicvsrpp-denoise").arch_args)
        == "BasicVSR++ c64n15 restoration"
    )
    assert (
        arch_label("iconvsr", zoo.get_entry("iconvsr-vimeo90k-bi").arch_args)
        == "IconVSR c64n30 (7-frame EDVR)"
    )
