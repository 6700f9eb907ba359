"""vsrcli's light x4 BasicVSR++: the seed's propagation, a light head, and a layout its weights reveal."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vsrcli.models.arch import build_network
from vsrcli.models.basicvsr_pp import BasicVSRPlusPlusNet
from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet, bicubic_x4_phases, downscaled_flows
from vsrcli.models.detect import arch_label, detect_architecture

TINY = {"mid_channels": 8, "num_blocks": 1, "extract_blocks": 1, "reconstruction_blocks": 1}


def _trained_looking(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter (the fresh output conv is zero, which would hide the network)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return net.eval()


def test_an_untrained_network_is_pytorch_bicubic_x4():
    torch.manual_seed(0)
    net = build_network("basicvsrpp_lite", **TINY).eval()
    lq = torch.rand(1, 3, 3, 64, 72)
    with torch.no_grad():
        out = net(lq)
    expected = F.interpolate(lq[0], scale_factor=4, mode="bicubic", align_corners=False)
    assert out.shape == (1, 3, 3, 256, 288)
    torch.testing.assert_close(out[0], expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 20)])
def test_the_skip_at_input_size_shuffles_into_pytorch_bicubic_x4_edges_included(size):
    frames = torch.rand(2, 3, *size, dtype=torch.float64)
    phases = bicubic_x4_phases(frames)
    assert phases.shape == (2, 48, *size)
    expected = F.interpolate(frames, scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(F.pixel_shuffle(phases, 4), expected, rtol=0, atol=1e-12)


def test_the_skip_keeps_full_precision_under_autocast():
    frames = torch.rand(1, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        phases = bicubic_x4_phases(frames)
    assert phases.dtype == torch.float32
    torch.testing.assert_close(phases, bicubic_x4_phases(frames), rtol=0, atol=0)


def test_each_output_frame_sees_the_other_frames_through_propagation():
    net = _trained_looking(build_network("basicvsrpp_lite", **TINY))
    lq = torch.rand(1, 4, 3, 64, 64)
    changed = lq.clone()
    changed[:, 3] = torch.rand(3, 64, 64)  # only the last frame differs
    with torch.no_grad():
        a, b = net(lq), net(changed)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4  # the backward branches carry frame 3 back to frame 0


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_flows_on_downscaled_frames_come_back_at_full_size_in_full_size_pixels(factor):
    class Shift(torch.nn.Module):
        """A stand-in flow network: one pixel to the right at whatever size it is given."""

        def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
            flow = torch.zeros(ref.shape[0], 2, *ref.shape[-2:])
            flow[:, 0] = 1.0
            return flow

    frames = torch.rand(1, 3, 3, 64, 96)
    forward, backward = downscaled_flows(Shift(), frames, False, factor)  # type: ignore[arg-type]
    assert forward is not None
    assert backward.shape == (1, 2, 2, 64, 96)
    assert torch.allclose(backward[:, :, 0], torch.full_like(backward[:, :, 0], float(factor)))
    assert torch.allclose(backward[:, :, 1], torch.zeros_like(backward[:, :, 1]))


def test_the_weights_alone_give_back_the_architecture_and_its_arguments():
    args = {**TINY, "deform_groups": 2, "offset_hidden": 0, "flow_downscale": 4}
    net = build_network("basicvsrpp_lite", **args)
    arch, found = detect_architecture(net.state_dict())
    assert arch == "basicvsrpp_lite"
    assert {k: found[k] for k in args} == args
    assert "lite" in arch_label(arch, found)
    rebuilt = build_network(arch, **found)
    rebuilt.load_state_dict(net.state_dict())  # strict: same keys, same shapes


def test_it_shares_the_official_propagation_and_alignment_code():
    lite = build_network("basicvsrpp_lite", **TINY)
    official = BasicVSRPlusPlusNet(mid_channels=8, num_blocks=1)
    assert isinstance(lite, BasicVSRPlusPlusLiteNet)
    assert type(lite.deform_align["forward_1"]) is type(official.deform_align["forward_1"])
    # deform groups follow the width; the official network keeps its 16 groups and 3-conv offset stack
    assert lite.deform_align["forward_1"].deform_groups == 2
    assert official.deform_align["forward_1"].deform_groups == 16
    assert len(official.deform_align["forward_1"].conv_offset) == 7


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        build_network("basicvsrpp_lite", mid_channels=12)
    with pytest.raises(ValueError, match="flow_downscale"):
        build_network("basicvsrpp_lite", flow_downscale=3)
    with pytest.raises(ValueError, match="even"):
        build_network("basicvsrpp_lite", deform_groups=3)


def test_a_saved_float16_file_loads_by_path_and_keeps_its_flow_scale(tmp_path):
    from safetensors.torch import load_file

    from vsrcli.models.api import load_model
    from vsrcli.train.config import from_dict
    from vsrcli.train.export import export_state

    net = build_network("basicvsrpp_lite", **TINY, flow_downscale=4)
    cfg = from_dict(
        {"name": "lite-test", "arch": "basicvsrpp_lite", "arch_args": {**TINY, "flow_downscale": 4}}
    )
    cfg.run.export_dtype = "float16"
    weights = export_state(net.state_dict(), cfg, tmp_path).weights
    stored = load_file(str(weights))
    assert stored["flow_downscale"].dtype == torch.int64
    assert stored["to_rgb.weight"].dtype == torch.float16
    loaded = load_model(weights)
    assert isinstance(loaded, BasicVSRPlusPlusLiteNet)
    assert int(loaded.flow_downscale) == 4
