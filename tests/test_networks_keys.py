"""Every official architecture has exactly the official state-dict keys, shapes and parameter count.

The tables in ``tests/official_keys/*.json`` (vendored from the shared reference folder) list the keys and
shapes of the official MMagic networks (``{"network", "parameters", "keys": {name: shape}}``). Networks are
built on the meta device, so even the 44 M-parameter c128n25 models cost nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vsrcli.errors import ModelError
from vsrcli.models.arch import ARCHITECTURES, build_network, count_parameters

OFFICIAL = {
    "basicvsr_c64n30": ("basicvsr", {"mid_channels": 64, "num_blocks": 30}),
    "iconvsr_c64n30_pad2": ("iconvsr", {"mid_channels": 64, "num_blocks": 30, "padding": 2}),
    "iconvsr_c64n30_pad3": ("iconvsr", {"mid_channels": 64, "num_blocks": 30, "padding": 3}),
    "basicvsrpp_c64n7_x4": ("basicvsrpp", {"mid_channels": 64, "num_blocks": 7}),
    "basicvsrpp_c128n25_x4": ("basicvsrpp", {"mid_channels": 128, "num_blocks": 25}),
    "basicvsrpp_c64n15_restore": (
        "basicvsrpp",
        {"mid_channels": 64, "num_blocks": 15, "is_low_res_input": False},
    ),
    "basicvsrpp_c128n25_restore": (
        "basicvsrpp",
        {"mid_channels": 128, "num_blocks": 25, "is_low_res_input": False},
    ),
    "realbasicvsr_c64b20": ("realbasicvsr", {}),
}

# Published sizes (papers): BasicVSR 6.3 M, IconVSR 8.7 M, BasicVSR++ 7.3 M.
PAPER_MILLIONS = {"basicvsr_c64n30": 6.3, "iconvsr_c64n30_pad2": 8.7, "basicvsrpp_c64n7_x4": 7.3}


def _build_meta(arch: str, args: dict[str, object]) -> torch.nn.Module:
    with torch.device("meta"):
        return build_network(arch, **args)


def test_every_official_table_is_covered(official_keys_dir: Path) -> None:
    assert {p.stem for p in official_keys_dir.glob("*.json")} == set(OFFICIAL)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_state_dict_matches_official_table(name: str, official_keys_dir: Path) -> None:
    table = json.loads((official_keys_dir / f"{name}.json").read_text())
    arch, args = OFFICIAL[name]
    net = _build_meta(arch, args)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    expected = {k: list(v) for k, v in table["keys"].items()}
    assert sorted(set(expected) - set(ours)) == [], "missing keys"
    assert sorted(set(ours) - set(expected)) == [], "unexpected keys"
    wrong = {k: (ours[k], expected[k]) for k in expected if ours[k] != expected[k]}
    assert wrong == {}
    assert count_parameters(net) == table["parameters"]


@pytest.mark.parametrize("name", sorted(PAPER_MILLIONS))
def test_parameter_counts_match_the_papers(name: str) -> None:
    arch, args = OFFICIAL[name]
    assert round(count_parameters(_build_meta(arch, args)) / 1e6, 1) == PAPER_MILLIONS[name]


def test_registry_names() -> None:
    assert set(ARCHITECTURES) == {
        "basicvsr",
        "iconvsr",
        "basicvsrpp",
        "basicvsrpp_lite",
        "basicvsrpp_lite_restore",
        "realbasicvsr",
        "realbasicvsr_lite",
    }
    from vsrcli.models import zoo

    assert set(zoo.ARCHS) == set(ARCHITECTURES)  # the torch-free list the zoo and training check against


def test_unknown_architecture_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="unknown architecture 'edsr'"):
        build_network("edsr")


def test_bad_arguments_are_a_model_error() -> None:
    with pytest.raises(ModelError, match="bad arguments"):
        build_network("basicvsr", num_feat=3)


def test_network_attributes() -> None:
    with torch.device("meta"):
        x4 = build_network("basicvsrpp", mid_channels=8, num_blocks=1)
        restore = build_network("basicvsrpp", mid_channels=8, num_blocks=1, is_low_res_input=False)
        icon = build_network("iconvsr", mid_channels=8, num_blocks=1, padding=3)
        basic = build_network("basicvsr", mid_channels=8, num_blocks=1)
        real = build_network("realbasicvsr", mid_channels=8, num_propagation_blocks=1, num_cleaning_blocks=1)
    assert (x4.scale, x4.min_size, x4.size_multiple, x4.min_frames) == (4, 64, 1, 1)
    assert (restore.scale, restore.min_size, restore.size_multiple, restore.min_frames) == (1, 256, 4, 1)
    assert (icon.scale, icon.min_size, icon.size_multiple, icon.min_frames) == (4, 64, 1, 7)
    assert (basic.scale, basic.min_size, basic.size_multiple, basic.min_frames) == (4, 64, 1, 1)
    assert (real.scale, real.min_size, real.size_multiple, real.min_frames) == (4, 64, 1, 1)


def test_extra_input_channels_only_widen_the_first_conv() -> None:
    with torch.device("meta"):
        plain = build_network("basicvsrpp", mid_channels=8, num_blocks=1).state_dict()
        extra = build_network("basicvsrpp", mid_channels=8, num_blocks=1, extra_in_channels=1).state_dict()
    assert plain.keys() == extra.keys()
    differing = {k for k in plain if plain[k].shape != extra[k].shape}
    assert differing == {"feat_extract.main.0.weight"}
    assert extra["feat_extract.main.0.weight"].shape[1] == 4
