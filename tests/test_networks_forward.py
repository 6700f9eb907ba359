"""Forward passes equal the official MMagic implementation (golden files) and the network contract holds.

How the golden files ``tests/expect/networks_<case>.npz`` were made (outside this repository, once): the
official network files of ``mmagic==1.2.0`` (``basicvsr_net.py``, ``iconvsr_net.py``, ``edvr_net.py``,
``basicvsr_plusplus_net.py``, ``real_basicvsr_net.py``, ``flow_warp``, residual and pixel-shuffle blocks)
were imported with a few lines of stand-ins for their mmcv/mmengine imports (``ConvModule`` = conv plus
activation stored as ``.conv``; ``ModulatedDeformConv2d`` and ``modulated_deform_conv2d`` through
``torchvision.ops.deform_conv2d``; no-op registry, logging and checkpoint loading). For each case in
:data:`CASES` a script imported this module, built the official network with the same arguments (checking
that its state-dict keys and shapes equal ours), filled it with :func:`deterministic_state_dict` (every
tensor derived from its key name by a splitmix64 hash, so no weights are stored), ran it in float32 on
:func:`deterministic_frames` and saved :func:`summarise` of its outputs (``pixels0``/``means0`` for the
output, ``pixels1``/``means1`` for RealBasicVSR's cleaned frames). For the tiny IconVSR the official EDVR
branch was rebuilt at the same width (the official code hard-wires 64 channels there). The same script
confirmed our full outputs equal the official ones (relative error 0.0 on CPU). The tests rebuild our
network and input the same way and require a relative error below 1e-4 against those summaries.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrcli.models.arch import build_network
from vsrcli.models.basicvsr_pp import BasicVSRPlusPlusNet
from vsrcli.models.layers.deform import DeformConvBase, modulated_deform_conv2d
from vsrcli.models.layers.flow import flow_warp
from vsrcli.models.spynet import SPyNet

EXPECT = Path(__file__).parent / "expect"
TOLERANCE = 1e-4
STRIDE = 8  # spatial stride of the stored pixel subsample

# name: (arch, arch args, (N, T, H, W), mirror-extended input, forward kwargs). Small on purpose: SPyNet alone
# is 1.4 M parameters of 7x7 convs and the x4 heads are 64 channels wide whatever the width.
CASES: dict[str, tuple[str, dict, tuple[int, int, int, int], bool, dict]] = {
    "basicvsr_c8n1_t3": ("basicvsr", {"mid_channels": 8, "num_blocks": 1}, (1, 3, 64, 64), False, {}),
    # 66 rows: reflect-padded to 68 inside, output cropped back to 264
    "iconvsr_c8n1_pad2_t5_66x64": (
        "iconvsr",
        {"mid_channels": 8, "num_blocks": 1, "padding": 2},
        (1, 5, 66, 64),
        False,
        {},
    ),
    "iconvsr_c8n1_pad3_mirror_t8": (
        "iconvsr",
        {"mid_channels": 8, "num_blocks": 1, "padding": 3},
        (1, 8, 64, 64),
        True,
        {},
    ),
    "basicvsrpp_c8n1_x4_t3": ("basicvsrpp", {"mid_channels": 8, "num_blocks": 1}, (1, 3, 64, 64), False, {}),
    "basicvsrpp_c8n1_x4_mirror_t4": (
        "basicvsrpp",
        {"mid_channels": 8, "num_blocks": 1},
        (1, 4, 64, 64),
        True,
        {},
    ),
    # flows on bicubic x0.25 frames of 65x64
    "basicvsrpp_c8n1_restore_t3_260x256": (
        "basicvsrpp",
        {"mid_channels": 8, "num_blocks": 1, "is_low_res_input": False},
        (1, 3, 260, 256),
        False,
        {},
    ),
    # mean |residue| of the 3 passes is 0.31, 0.19, 0.16 here: threshold 60/255 = 0.235 stops after 2 passes
    "realbasicvsr_c16_2passes": (
        "realbasicvsr",
        {
            "mid_channels": 16,
            "num_propagation_blocks": 1,
            "num_cleaning_blocks": 1,
            "dynamic_refine_thres": 60.0,
        },
        (1, 2, 64, 64),
        False,
        {"return_lqs": True},
    ),
    "realbasicvsr_c16_3passes_sequential": (
        "realbasicvsr",
        {
            "mid_channels": 16,
            "num_propagation_blocks": 1,
            "num_cleaning_blocks": 1,
            "dynamic_refine_thres": 0.0,
            "is_sequential_cleaning": True,
        },
        (1, 2, 64, 64),
        False,
        {"return_lqs": True},
    ),
    "realbasicvsr_c16_1pass_default": (
        "realbasicvsr",
        {"mid_channels": 16, "num_propagation_blocks": 1, "num_cleaning_blocks": 1},
        (1, 2, 64, 64),
        False,
        {"return_lqs": True},
    ),
}
# the costlier cases only run with the rest of the slow tests
SLOW = {"iconvsr_c8n1_pad3_mirror_t8", "realbasicvsr_c16_1pass_default"}
# run together in one test (mirror first, then a normal clip on the same module)
MIRROR_THEN_NORMAL = ("basicvsrpp_c8n1_x4_mirror_t4", "basicvsrpp_c8n1_x4_t3")


def _hash_uniform(name: str, n: int) -> np.ndarray:
    """``n`` floats in [0, 1) from a splitmix64 hash of ``name`` and the element index (platform-exact)."""
    seed = np.uint64(zlib.crc32(name.encode()))
    with np.errstate(over="ignore"):
        z = seed + np.uint64(0x9E3779B97F4A7C15) * (np.arange(n, dtype=np.uint64) + np.uint64(1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def deterministic_tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A weight for key ``name``: uniform with unit fan-in variance (weights) or +-0.05 (biases).

    Second convs of residual blocks are scaled by 0.1 so deep stacks stay bounded.
    """
    u = _hash_uniform(name, int(np.prod(shape))) * 2.0 - 1.0
    if len(shape) > 1:
        scale = float(np.sqrt(3.0 / np.prod(shape[1:])))
        if ".conv2." in name:
            scale *= 0.1
    else:
        scale = 0.05
    return torch.from_numpy((u * scale).astype(np.float32)).reshape(shape)


def deterministic_state_dict(reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every parameter from :func:`deterministic_tensor`; SPyNet's mean/std buffers kept."""
    return {
        k: v.clone() if k.endswith(("spynet.mean", "spynet.std")) else deterministic_tensor(k, tuple(v.shape))
        for k, v in reference.items()
    }


def deterministic_frames(name: str, n: int, t: int, h: int, w: int, mirror: bool) -> torch.Tensor:
    """Input frames in [0, 1] with some spatial structure (smooth gradient plus hash noise)."""
    frames_t = t // 2 if mirror else t
    u = _hash_uniform("frames:" + name, n * frames_t * 3 * h * w).reshape(n, frames_t, 3, h, w)
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    shift = np.arange(frames_t).reshape(1, frames_t, 1, 1, 1) * 0.05
    smooth = 0.5 + 0.4 * np.sin(6.0 * (xx + shift) + 3.0 * yy)
    x = torch.from_numpy((0.7 * smooth + 0.3 * u).astype(np.float32))
    return torch.cat([x, x.flip(1)], dim=1) if mirror else x


def summarise(out: torch.Tensor) -> dict[str, np.ndarray]:
    """A compact fingerprint of an (N, T, 3, H, W) output: strided pixels and per-frame channel means."""
    out = out.detach().double()
    return {
        "pixels": out[..., ::STRIDE, ::STRIDE].float().numpy(),
        "means": out.mean(dim=(-2, -1)).numpy(),
    }


def build_case(name: str) -> tuple[torch.nn.Module, torch.Tensor, dict]:
    arch, args, (n, t, h, w), mirror, kwargs = CASES[name]
    net = build_network(arch, **args)
    net.load_state_dict(deterministic_state_dict(net.state_dict()))
    return net.eval(), deterministic_frames(name, n, t, h, w, mirror), kwargs


def _rel_err(ours: np.ndarray, gold: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - gold).max() / np.abs(gold).max())


def _check_against_golden(name: str, net: torch.nn.Module, frames: torch.Tensor, kwargs: dict) -> None:
    gold = np.load(EXPECT / f"networks_{name}.npz")
    with torch.no_grad():
        result = net(frames.clone(), **kwargs)
    outputs = result if isinstance(result, tuple) else (result,)
    n, t, _, h, w = frames.shape
    assert tuple(outputs[0].shape) == (n, t, 3, net.scale * h, net.scale * w)
    for i, out in enumerate(outputs):
        for key, value in summarise(out).items():
            assert _rel_err(value, gold[f"{key}{i}"]) < TOLERANCE, f"{name}: output {i}, {key}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [])
        for name in sorted(CASES)
        if name not in MIRROR_THEN_NORMAL
    ],
)
def test_forward_matches_official_golden(name: str) -> None:
    _check_against_golden(name, *build_case(name))


def test_mirror_flag_is_reset_on_every_call() -> None:
    """A mirror-extended clip, then a normal clip on the same module: both equal the official outputs.

    (MMEditing 0.x kept the flag set after a mirrored clip and then used wrong flows for normal clips.)
    """
    mirrored_name, normal_name = MIRROR_THEN_NORMAL
    net, mirrored, kwargs = build_case(mirrored_name)
    _check_against_golden(mirrored_name, net, mirrored, kwargs)
    _, normal, _ = build_case(normal_name)
    _check_against_golden(normal_name, net, normal, kwargs)


def test_input_is_not_modified() -> None:
    net, frames, kwargs = build_case("realbasicvsr_c16_3passes_sequential")
    before = frames.clone()
    with torch.no_grad():
        net(frames, **kwargs)
    assert torch.equal(frames, before)


def test_extra_channels_with_zero_weights_reproduce_the_plain_network() -> None:
    """Conditioning channels enter only the first conv: with zero weights there, nothing changes."""
    plain, frames, _ = build_case("basicvsrpp_c8n1_x4_t3")
    frames = frames[:, :1]  # one frame: no flows needed, the first conv is what matters
    extra = BasicVSRPlusPlusNet(mid_channels=8, num_blocks=1, extra_in_channels=1).eval()
    state = plain.state_dict()
    first = state["feat_extract.main.0.weight"]
    state["feat_extract.main.0.weight"] = torch.cat([first, torch.zeros_like(first[:, :1])], dim=1)
    extra.load_state_dict(state)
    noise_map = torch.full_like(frames[:, :, :1], 0.3)
    with torch.no_grad():
        torch.testing.assert_close(extra(torch.cat([frames, noise_map], 2)), plain(frames), rtol=0, atol=0)
    with pytest.raises(ValueError, match="4 input channels"):
        extra(frames)


@pytest.mark.parametrize(
    ("arch", "args", "shape", "match"),
    [
        ("basicvsr", {}, (1, 2, 3, 63, 64), "at least 64x64"),
        ("basicvsrpp", {"is_low_res_input": False}, (1, 2, 3, 252, 256), "at least 256x256"),
        ("basicvsrpp", {"is_low_res_input": False}, (1, 2, 3, 258, 256), "multiple of 4"),
        ("iconvsr", {"padding": 2}, (1, 4, 3, 64, 64), "at least 5 frames"),
        ("realbasicvsr", {}, (1, 2, 3, 64, 40), "at least 64x64"),
    ],
)
def test_too_small_inputs_raise_clear_errors(
    arch: str, args: dict, shape: tuple[int, ...], match: str
) -> None:
    small = {"realbasicvsr": {"num_propagation_blocks": 1, "num_cleaning_blocks": 1}}.get(
        arch, {"num_blocks": 1}
    )
    net = build_network(arch, mid_channels=8, **small, **args)
    with pytest.raises(ValueError, match=match):
        net(torch.rand(shape))


def test_flow_warp_zero_flow_is_identity_and_integer_flow_shifts() -> None:
    x = torch.rand(1, 2, 8, 9)
    zero = torch.zeros(1, 8, 9, 2)
    torch.testing.assert_close(flow_warp(x, zero), x)
    flow = zero.clone()
    flow[..., 0] = 1.0  # sample one pixel to the right
    shifted = flow_warp(x, flow)
    torch.testing.assert_close(shifted[..., :-1], x[..., 1:])
    assert torch.all(shifted[..., -1] == 0)  # zeros padding outside
    with pytest.raises(ValueError, match="differs from flow size"):
        flow_warp(x, torch.zeros(1, 8, 8, 2))


def test_deform_conv_with_zero_offsets_and_unit_mask_is_a_plain_conv() -> None:
    x, weight, bias = torch.rand(2, 8, 10, 11), torch.rand(4, 8, 3, 3), torch.rand(4)
    offset, mask = torch.zeros(2, 2 * 2 * 9, 10, 11), torch.ones(2, 2 * 9, 10, 11)
    out = modulated_deform_conv2d(x, offset, mask, weight, bias, 1, 1, 1, deform_groups=2)
    torch.testing.assert_close(
        out, torch.nn.functional.conv2d(x, weight, bias, padding=1), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="expected 72/36 for 4 groups"):
        modulated_deform_conv2d(x, offset, mask, weight, bias, deform_groups=4)


def test_precision_hooks_stay_float32_under_autocast() -> None:
    spynet = SPyNet()
    net, frames, _ = build_case("basicvsrpp_c8n1_x4_t3")
    spynet.load_state_dict(net.spynet.state_dict())
    a, b = frames[:, 0], frames[:, 1]
    with torch.no_grad():
        plain = spynet(a, b)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = spynet(a, b)
            dcn = DeformConvBase(16, 8, 3, 1, 2)
            offsets, mask = dcn.offsets_and_mask(
                torch.rand(1, 54, 4, 4, dtype=torch.bfloat16), 10.0, (torch.rand(1, 2, 4, 4),) * 2
            )
            aligned = dcn.deform(torch.rand(1, 16, 4, 4, dtype=torch.bfloat16), offsets, mask)
            warped = flow_warp(torch.rand(1, 2, 8, 8, dtype=torch.bfloat16), torch.zeros(1, 8, 8, 2))
    assert auto.dtype == torch.float32 and torch.equal(auto, plain)
    assert offsets.dtype == torch.float32 and mask.dtype == torch.float32
    assert warped.dtype == torch.bfloat16
    assert aligned.shape == (1, 8, 4, 4) and aligned.dtype == torch.bfloat16


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("magnitude", [10.0, None])
def test_offsets_computed_in_place_at_inference_equal_the_autograd_path(
    n: int, magnitude: float | None
) -> None:
    """Inference overwrites the conv output in place (bound, scale, flow priors, sigmoid); the values must be
    those of the out-of-place path training differentiates through: the mask bitwise, the offsets within
    float rounding (a strided in-place sigmoid may round its last vector differently, 1 ulp)."""
    dcn = DeformConvBase(16, 8, 3, 1, 2)
    raw = torch.randn(n, 54, 5, 6)
    priors = (torch.randn(n, 2, 5, 6), torch.randn(n, 2, 5, 6))
    with torch.enable_grad():
        ref_offset, ref_mask = dcn.offsets_and_mask(raw.clone().requires_grad_(), magnitude, priors)
    with torch.no_grad():
        offset, mask = dcn.offsets_and_mask(raw.clone(), magnitude, priors)
    assert (offset - ref_offset.detach()).abs().max() <= 1e-5 and torch.equal(mask, ref_mask.detach())


@pytest.mark.slow
def test_cpu_cache_path_handles_mirrored_input_and_matches_official(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cpu_cache code path (forced on here; officially CUDA and T > cpu_cache_length only) gives the
    official result, also for a mirror-extended clip, where the official code crashes."""
    monkeypatch.setattr(BasicVSRPlusPlusNet, "_cpu_cache_active", lambda self, lqs: True)
    _check_against_golden("basicvsrpp_c8n1_x4_mirror_t4", *build_case("basicvsrpp_c8n1_x4_mirror_t4"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cpu_cache is only active on CUDA")
def test_cpu_cache_on_cuda_is_numerically_identical() -> None:
    net, frames, _ = build_case("basicvsrpp_c8n1_x4_mirror_t4")
    net, frames = net.cuda(), frames.cuda()
    with torch.no_grad():
        plain = net(frames)
        net.cpu_cache_length = 2
        cached = net(frames)
    assert cached.device.type == "cpu"
    torch.testing.assert_close(cached, plain.cpu(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["basicvsrpp", "basicvsr"])
def test_banded_inference_head_equals_the_one_pass_head(arch: str) -> None:
    """Without autograd the x4 head runs in row bands; every output row must equal the one-pass result."""
    from vsrcli.models import basicvsr

    torch.manual_seed(0)
    net = build_network(arch, mid_channels=8, num_blocks=1).eval()
    x = torch.rand(1, 2, 3, 4 * basicvsr.HEAD_BAND_ROWS + 7, 64)  # a partial last band too
    with torch.no_grad():
        banded = net(x)
    one_pass = net(x).detach()  # autograd on: the head runs in one pass
    assert banded.shape == one_pass.shape == (1, 2, 3, 4 * x.shape[-2], 256)
    torch.testing.assert_close(banded, one_pass, rtol=0, atol=1e-5)


def test_the_head_runs_in_bands_only_on_the_cpu() -> None:
    """Bands are a CPU cache trick: on any other device (here the meta device, shapes only) the head is one
    pass, so a GPU neither launches 12x more kernels nor computes the halo rows twice."""
    from vsrcli.models import basicvsr

    net = build_network("basicvsrpp", mid_channels=8, num_blocks=1).eval()
    calls: list[int] = []
    net.upsample1.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[-2]))
    h = 4 * basicvsr.HEAD_BAND_ROWS
    with torch.no_grad():
        basicvsr.upsample_head(net, torch.rand(1, 8, h, 16))
        assert len(calls) == 4
        calls.clear()
        meta = net.to("meta")
        out = basicvsr.upsample_head(meta, torch.empty(1, 8, h, 16, device="meta"))
    assert calls == [h] and out.shape == (1, 3, 4 * h, 64)


@pytest.mark.parametrize("low_res", [True, False])
def test_guided_head_sees_the_input_frame_and_bands_exactly(low_res: bool) -> None:
    """vsrcli's guided head: conv_hr takes the input frame (bilinear x4 for SR, the frame plus its noise map
    for restoration) next to the features; the banded inference head still equals the one-pass head."""
    from vsrcli.models import basicvsr
    from vsrcli.models.detect import detect_architecture

    torch.manual_seed(0)
    extra = 0 if low_res else 1
    net = build_network(
        "basicvsrpp",
        mid_channels=8,
        num_blocks=1,
        is_low_res_input=low_res,
        extra_in_channels=extra,
        guided_head=True,
    ).eval()
    assert net.conv_hr.weight.shape[1] == 64 + (3 if low_res else 4)
    side = 4 * basicvsr.HEAD_BAND_ROWS + 7 if low_res else 4 * (4 * basicvsr.HEAD_BAND_ROWS + 8)
    x = torch.rand(1, 2, 3 + extra, side, 64 if low_res else 256)
    with torch.no_grad():
        banded = net(x)
    one_pass = net(x).detach()
    torch.testing.assert_close(banded, one_pass, rtol=0, atol=1e-5)
    # the guide is used: without its weights in conv_hr the output changes
    with torch.no_grad():
        net.conv_hr.weight[:, 64:] = 0
        assert (net(x) - banded).abs().max() > 1e-4
    arch, args = detect_architecture(net.state_dict())
    assert arch == "basicvsrpp" and args["guided_head"] is True
    assert build_network(arch, **args).conv_hr.weight.shape == net.conv_hr.weight.shape


def test_neighbour_guide_and_full_resolution_blocks_band_exactly_and_are_detected() -> None:
    """vsrcli-denoise v2: the guide also holds frames i-1 and i+1 warped onto frame i, and residual blocks run
    at full resolution before conv_last. Their larger receptive field still bands exactly, and a checkpoint
    of such a network is recognised from its keys alone."""
    from vsrcli.models import basicvsr
    from vsrcli.models.detect import detect_architecture

    torch.manual_seed(0)
    net = build_network(
        "basicvsrpp",
        mid_channels=8,
        num_blocks=1,
        is_low_res_input=False,
        extra_in_channels=1,
        guided_head=True,
        guide_neighbours=True,
        head_blocks=2,
    ).eval()
    assert net.conv_hr.weight.shape[1] == 64 + 4 + 6
    assert basicvsr.head_halo(net) == basicvsr.HEAD_HALO + 1
    with torch.no_grad():  # the blocks start as the identity; give them weight so the halo matters
        for block in net.head_body:
            block.conv2.weight.normal_(0, 0.05)
    x = torch.rand(1, 3, 4, 4 * (4 * basicvsr.HEAD_BAND_ROWS + 8), 256)
    with torch.no_grad():
        banded = net(x)
    one_pass = net(x).detach()
    torch.testing.assert_close(banded, one_pass, rtol=0, atol=1e-5)
    with torch.no_grad():  # the neighbours are read: without their weights in conv_hr the output changes
        net.conv_hr.weight[:, 64 + 4 :] = 0
        assert (net(x) - banded).abs().max() > 1e-4
    arch, args = detect_architecture(net.state_dict())
    assert arch == "basicvsrpp"
    assert args["guide_neighbours"] is True and args["head_blocks"] == 2 and args["extra_in_channels"] == 1
    assert build_network(arch, **args).state_dict().keys() == net.state_dict().keys()


def test_neighbour_guide_needs_the_restoration_variant_with_a_guide() -> None:
    with pytest.raises(ValueError, match="guide_neighbours"):
        build_network("basicvsrpp", mid_channels=8, num_blocks=1, guided_head=True, guide_neighbours=True)
