"""The model zoo: the exact official names, complete and consistent metadata, lookups, shipped models."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import re
import subprocess
import sys

import pytest

from helpers_checkpoints import layout, official_table
from vsrcli.errors import ModelNotFoundError, UsageError
from vsrcli.models import zoo

ISSUE_NAMES = """
basicvsrpp-reds4 basicvsrpp-vimeo90k-bi basicvsrpp-vimeo90k-bd basicvsrpp-ntire-vsr
basicvsrpp-ntire-decompress-track1 basicvsrpp-ntire-decompress-track2 basicvsrpp-ntire-decompress-track3
basicvsrpp-deblur-dvd basicvsrpp-deblur-gopro basicvsrpp-denoise basicvsr-reds4 basicvsr-vimeo90k-bi
basicvsr-vimeo90k-bd iconvsr-reds4 iconvsr-vimeo90k-bi iconvsr-vimeo90k-bd realbasicvsr realbasicvsr-wogan
""".split()


def test_official_names_are_exactly_the_issue_list():
    assert sorted(zoo.OFFICIAL_NAMES) == sorted(ISSUE_NAMES)
    assert len(set(zoo.OFFICIAL_NAMES)) == 18


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_entry_metadata_is_complete_and_consistent(name):
    entry = zoo.get_entry(name)
    assert entry.official and entry.local_path is None and entry.default_for == ()
    assert entry.url and entry.url.startswith("https://") and entry.url.endswith("/" + entry.filename)
    assert re.fullmatch(r"[0-9a-f]{8}", entry.sha256_prefix)
    assert entry.filename.endswith(f"-{entry.sha256_prefix}.pth")  # the publish script's hash suffix
    assert entry.task in zoo.TASKS
    assert entry.scale == (4 if entry.task.startswith("sr-x4") else 1)
    assert entry.degradation and entry.training_data and entry.source
    for dataset, values in entry.metrics.items():
        assert re.search(r"\((.*, )?(RGB|Y)\)$", dataset), dataset  # the channel is always stated
        assert values


def test_urls_follow_the_reference():
    mmedit = "https://download.openmmlab.com/mmediting/restorers/"
    holywu = "https://github.com/HolyWu/vs-basicvsrpp/releases/download/model/"
    official = [entry for entry in zoo.list_entries() if entry.official]
    for entry in official:
        expected = holywu if entry.task in ("deblur", "denoise") else mmedit
        assert entry.url.startswith(expected), entry.name
    for entry in official:
        if entry.arch == "basicvsrpp" and entry.url.startswith(mmedit):
            assert entry.mirrors == (holywu + entry.filename,)  # HolyWu mirrors all ten BasicVSR++ files
        else:
            assert entry.mirrors == ()
    assert zoo.get_entry("basicvsr-reds4").filename == "basicvsr_reds4_20120409-0e599677.pth"
    assert zoo.get_entry("basicvsrpp-denoise").filename == "basicvsr_plusplus_denoise-28f6920c.pth"


def test_parameter_counts_match_the_layouts_and_papers(official_keys_dir):
    for entry in zoo.list_entries():
        shapes = layout(entry.arch, **entry.arch_args)
        counted = sum(
            math.prod(s) for k, s in shapes.items() if not k.endswith(("spynet.mean", "spynet.std"))
        )
        assert entry.num_params == counted, entry.name
    papers = {
        "basicvsr-reds4": 6.3,
        "iconvsr-reds4": 8.7,
        "iconvsr-vimeo90k-bi": 8.7,
        "basicvsrpp-reds4": 7.3,
    }
    for name, millions in papers.items():
        assert round(zoo.get_entry(name).num_params / 1e6, 1) == millions
    import json

    tables = {p.name: json.loads(p.read_text())["parameters"] for p in official_keys_dir.glob("*.json")}
    assert zoo.get_entry("basicvsrpp-reds4").num_params == tables["basicvsrpp_c64n7_x4.json"] == 7_322_927
    assert zoo.get_entry("basicvsrpp-ntire-vsr").num_params == tables["basicvsrpp_c128n25_x4.json"]
    assert (
        zoo.get_entry("basicvsrpp-ntire-decompress-track1").num_params
        == tables["basicvsrpp_c128n25_restore.json"]
    )
    assert zoo.get_entry("basicvsrpp-denoise").num_params == tables["basicvsrpp_c64n15_restore.json"]
    assert zoo.get_entry("iconvsr-reds4").num_params == tables["iconvsr_c64n30_pad2.json"]
    assert zoo.get_entry("iconvsr-vimeo90k-bd").num_params == tables["iconvsr_c64n30_pad3.json"]
    assert zoo.get_entry("realbasicvsr").num_params == tables["realbasicvsr_c64b20.json"]
    assert len(official_table(official_keys_dir / "basicvsr_c64n30.json")) == 316


def test_architecture_arguments_of_the_families():
    pp = zoo.get_entry("basicvsrpp-ntire-decompress-track2").arch_args
    assert pp["mid_channels"] == 128 and pp["num_blocks"] == 25 and pp["is_low_res_input"] is False
    assert zoo.get_entry("basicvsrpp-deblur-gopro").arch_args["num_blocks"] == 15
    assert zoo.get_entry("iconvsr-reds4").arch_args["padding"] == 2
    assert zoo.get_entry("iconvsr-vimeo90k-bi").arch_args["padding"] == 3
    assert zoo.get_entry("realbasicvsr").arch_args["num_cleaning_blocks"] == 20


def test_published_metrics_are_the_official_ones():
    assert zoo.get_entry("basicvsrpp-reds4").metrics["REDS4 (BIx4, RGB)"] == {"psnr": 32.3855, "ssim": 0.9069}
    assert zoo.get_entry("basicvsrpp-vimeo90k-bd").metrics["Vid4 (BDx4, Y)"] == {
        "psnr": 29.0400,
        "ssim": 0.8753,
    }
    # 0.x original values, not the swapped SSIMs of the 1.x metafile
    bi = zoo.get_entry("basicvsr-vimeo90k-bi").metrics
    assert bi["Vimeo-90K-T (BIx4, Y)"]["ssim"] == 0.9451 and bi["UDM10 (BDx4, Y)"]["ssim"] == 0.9434
    assert zoo.get_entry("iconvsr-vimeo90k-bd").metrics["UDM10 (BDx4, Y)"]["psnr"] == 40.0640
    assert zoo.get_entry("realbasicvsr").metrics["VideoLQ (no-reference, Y)"]["niqe"] == 3.7662
    assert zoo.get_entry("basicvsrpp-ntire-vsr").metrics == {}


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ModelNotFoundError, match=r"did you mean basicvsrpp-reds4") as info:
        zoo.get_entry("basicvsrpp-red4")
    assert info.value.exit_code == 5
    with pytest.raises(ModelNotFoundError, match="see `vsrcli models`"):
        zoo.get_entry("zzzzzz")
    assert zoo.get_entry("BasicVSRPP-REDS4").name == "basicvsrpp-reds4"


def test_list_by_task():
    official = [e.name for e in zoo.list_entries("denoise") if e.official]
    assert official == ["basicvsrpp-denoise"]
    shipped = [e for e in zoo.list_entries("denoise") if not e.official]
    assert [e.name for e in shipped] == ["vsrcli-denoise", "vsrcli-denoise-lite", "vsrcli-denoise-1pass"]
    # the light restorer is the default; the two-pass network stays, and its 1-pass twin lacks the second pass
    two_pass, lite, single = shipped
    assert zoo.default_for("denoise") is lite and lite.arch == "basicvsrpp_lite_restore"
    assert two_pass.arch_args["prefilter_radius"] == 3
    assert "prefilter_radius" not in single.arch_args
    deblur = zoo.list_entries("deblur")
    assert {e.name for e in deblur if e.official} == {"basicvsrpp-deblur-dvd", "basicvsrpp-deblur-gopro"}
    assert [e.name for e in deblur if not e.official] == ["vsrcli-deblur-lite", "vsrcli-deblur"]
    assert zoo.default_for("deblur") is deblur[[e.name for e in deblur].index("vsrcli-deblur-lite")]
    decompress = zoo.list_entries("decompress")
    assert len([e for e in decompress if e.official]) == 3
    assert [e.name for e in decompress if not e.official] == ["vsrcli-decompress", "vsrcli-decompress-lite"]
    lite_decompress = decompress[[e.name for e in decompress].index("vsrcli-decompress-lite")]
    assert zoo.default_for("decompress") is lite_decompress
    real = zoo.list_entries("sr-x4-real")
    assert [e.name for e in real if e.official] == ["realbasicvsr", "realbasicvsr-wogan"]
    assert [e.name for e in real if not e.official] == ["vsrcli-realx4", "vsrcli-realx4-c32"]
    real_default = zoo.default_for("upscale --real")
    assert (real_default.name, real_default.arch) == ("vsrcli-realx4", "realbasicvsr_lite")
    assert len(zoo.list_entries()) >= 18
    with pytest.raises(UsageError, match="unknown task"):
        zoo.list_entries("colorize")


def test_entries_are_frozen_copyable_and_round_trip():
    entry = zoo.get_entry("iconvsr-reds4")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.name = "x"  # type: ignore[misc]
    assert copy.deepcopy(entry) == entry
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert zoo.ModelEntry.from_dict(entry.to_dict()) == entry
    with pytest.raises(ValueError, match="unknown model entry fields: colour"):
        zoo.ModelEntry.from_dict({**entry.to_dict(), "colour": "red"})


def test_invalid_entries_are_rejected():
    base = zoo.get_entry("basicvsr-reds4")
    with pytest.raises(ValueError, match="unknown task"):
        dataclasses.replace(base, task="sr-x2")
    with pytest.raises(ValueError, match="unknown architecture"):
        dataclasses.replace(base, arch="edvr")
    with pytest.raises(ValueError, match="url or a local_path"):
        dataclasses.replace(base, url=None)


def test_shipped_model_registration(tmp_path, monkeypatch):
    (tmp_path / "tiny-x4.safetensors").write_bytes(b"weights")
    monkeypatch.setenv("VSRCLI_WEIGHTS_DIR", str(tmp_path))
    shipped = dataclasses.replace(
        zoo.get_entry("basicvsrpp-reds4"),
        name="vsrcli-tiny-x4",
        url=None,
        sha256_prefix=None,
        local_path="weights/tiny-x4.safetensors",
        default_for=("tiny-command",),
        metrics={},
    )
    zoo.register(shipped)
    try:
        assert zoo.get_entry("vsrcli-tiny-x4") is shipped and not shipped.official
        assert zoo.default_for("tiny-command") is shipped
        assert zoo.resolve_local_path(shipped) == tmp_path / "tiny-x4.safetensors"
        with pytest.raises(ValueError, match="already registered"):
            zoo.register(shipped)
        with pytest.raises(ValueError, match="official"):
            zoo.unregister("basicvsrpp-reds4")
    finally:
        zoo.unregister("vsrcli-tiny-x4")
    assert "vsrcli-tiny-x4" not in zoo.names()
    assert zoo.default_for("tiny-command") is None


def test_shipped_paths_resolve_against_the_repository(monkeypatch):
    monkeypatch.delenv("VSRCLI_WEIGHTS_DIR", raising=False)
    readme = dataclasses.replace(zoo.get_entry("basicvsr-reds4"), url=None, local_path="pyproject.toml")
    if not (zoo.REPO_ROOT / "pyproject.toml").is_file():
        pytest.skip("not running from a source checkout")
    assert zoo.resolve_local_path(readme) == zoo.REPO_ROOT / "pyproject.toml"
    assert zoo.resolve_local_path(dataclasses.replace(readme, local_path="weights/absent.pth")) is None


def test_zoo_imports_neither_torch_nor_numpy():
    code = (
        "import sys, vsrcli.models.zoo, vsrcli.models.hub\n"
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
