"""vsrcli's light restoration BasicVSR++: the light design at scale 1 over a lossless 2x2 fold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from test_basicvsr_pp_lite import TINY, _trained_looking
from vsrcli.models.arch import build_network
from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet
from vsrcli.models.basicvsr_pp_lite_restore import BasicVSRPlusPlusLiteRestorer
from vsrcli.models.detect import arch_label, detect_architecture
from vsrcli.pipeline.noise import is_noise_conditioned
from vsrcli.pipeline.tiling import SizeRules


def test_an_untrained_restorer_returns_its_input_and_ignores_the_noise_map():
    net = build_network("basicvsrpp_lite_restore", **TINY, extra_in_channels=1).eval()
    lq = torch.rand(1, 3, 4, 128, 136)
    with torch.no_grad():
        out = net(lq)
    assert out.shape == (1, 3, 3, 128, 136)
    assert torch.equal(out, lq[:, :, :3])


def test_every_input_pixel_reaches_the_output_at_its_own_place():
    """The fold is lossless: a change in one pixel changes the output there (not only in its 2x2 block's
    average, as a strided downsample could)."""
    net = _trained_looking(build_network("basicvsrpp_lite_restore", **TINY))
    lq = torch.rand(1, 2, 3, 128, 128)
    changed = lq.clone()
    changed[0, 0, :, 65, 65] += 0.5
    with torch.no_grad():
        diff = (net(changed) - net(lq))[0, 0].abs().sum(0)
    assert diff[65, 65] > 0.4  # the identity skip carries the change itself
    assert diff.argmax() == 65 * 128 + 65


def test_each_output_frame_sees_the_other_frames_through_propagation():
    net = _trained_looking(build_network("basicvsrpp_lite_restore", **TINY))
    lq = torch.rand(1, 4, 3, 128, 128)
    changed = lq.clone()
    changed[:, 3] = torch.rand(3, 128, 128)
    with torch.no_grad():
        a, b = net(lq), net(changed)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-4


def test_the_pipeline_sees_its_size_rules_and_noise_map():
    net = build_network("basicvsrpp_lite_restore", **TINY, extra_in_channels=1)
    rules = SizeRules.of(net)
    assert (rules.scale, rules.min_size, rules.size_multiple) == (1, 128, 2)
    assert is_noise_conditioned(net)
    assert not is_noise_conditioned(build_network("basicvsrpp_lite_restore", **TINY))
    assert callable(getattr(net, "memory_per_pixel", None))
    with pytest.raises(ValueError, match="even"):
        net(torch.rand(1, 2, 4, 128, 129))
    with pytest.raises(ValueError, match="4 channels"):
        net(torch.rand(1, 2, 3, 128, 128))


@pytest.mark.parametrize("extra", [0, 1])
def test_the_weights_alone_give_back_the_restorer_and_its_arguments(extra):
    args = {**TINY, "deform_groups": 2, "offset_hidden": 1, "flow_downscale": 2, "extra_in_channels": extra}
    net = build_network("basicvsrpp_lite_restore", **args)
    assert isinstance(net, BasicVSRPlusPlusLiteRestorer) and isinstance(net, BasicVSRPlusPlusLiteNet)
    arch, found = detect_architecture(net.state_dict())
    assert arch == "basicvsrpp_lite_restore"
    assert {k: found[k] for k in args} == args
    assert "restoration at 1/2" in arch_label(arch, found)
    build_network(arch, **found).load_state_dict(net.state_dict())  # strict
    x4 = build_network("basicvsrpp_lite", **TINY)
    assert detect_architecture(x4.state_dict())[0] == "basicvsrpp_lite"


def test_a_denoiser_warm_starts_a_deblurrer_as_itself_told_sigma_0(tmp_path):
    from safetensors.torch import save_file

    from vsrcli.degrade import noise_level_map
    from vsrcli.train.loop import warm_start

    denoiser = _trained_looking(build_network("basicvsrpp_lite_restore", **TINY, extra_in_channels=1))
    path = tmp_path / "denoiser.safetensors"
    save_file({k: v.contiguous() for k, v in denoiser.state_dict().items()}, str(path))
    deblurrer = build_network("basicvsrpp_lite_restore", **TINY).eval()
    loaded = warm_start(deblurrer, path)
    learnt = [k for k, v in deblurrer.state_dict().items() if v.is_floating_point()]  # not flow_downscale
    assert "feat_extract.main.0.weight" in loaded and sorted(loaded) == sorted(learnt)
    lq = torch.rand(1, 3, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(deblurrer(lq), denoiser(noise_level_map(lq, 0.0)))


def test_a_denoiser_told_sigma_s_gives_its_first_conv_that_constant_map_when_the_map_is_dropped(tmp_path):
    from safetensors.torch import save_file

    from vsrcli.train.loop import warm_start

    denoiser = _trained_looking(build_network("basicvsrpp_lite_restore", **TINY, extra_in_channels=1))
    state = denoiser.state_dict()
    restorer = build_network("basicvsrpp_lite_restore", **TINY).eval()
    adapted = restorer.adapt_state_dict(state, sigma=12.0)
    key = "feat_extract.main.0"
    folded_rgb = torch.rand(1, 12, 32, 32)
    folded_map = torch.full((1, 4, 32, 32), 12.0 / 255)
    told = F.conv2d(
        torch.cat([folded_rgb, folded_map], 1), state[f"{key}.weight"], state[f"{key}.bias"], padding=1
    )
    baked = F.conv2d(folded_rgb, adapted[f"{key}.weight"], adapted[f"{key}.bias"], padding=1)
    torch.testing.assert_close(baked[..., 1:-1, 1:-1], told[..., 1:-1, 1:-1])
    assert not torch.equal(adapted[f"{key}.bias"], state[f"{key}.bias"])

    path = tmp_path / "denoiser.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    warm_start(restorer, path, sigma=12.0)
    torch.testing.assert_close(getattr(restorer.feat_extract.main, "0").bias.detach(), adapted[f"{key}.bias"])
