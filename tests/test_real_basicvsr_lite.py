"""vsrcli's light real-world x4 network: RealBasicVSR's cleaning in front of the light BasicVSR++, a layout
its weights reveal, and a warm start from the light x4 network's own weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vsrcli.models.arch import build_network
from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet
from vsrcli.models.detect import arch_label, detect_architecture
from vsrcli.models.real_basicvsr import RealBasicVSRNet
from vsrcli.models.real_basicvsr_lite import RealBasicVSRLiteNet

TINY = {
    "mid_channels": 8,
    "num_blocks": 1,
    "cleaning_channels": 8,
    "num_cleaning_blocks": 1,
    "extract_blocks": 1,
    "reconstruction_blocks": 1,
}


def test_an_untrained_network_is_bicubic_of_the_cleaned_frames_and_returns_them():
    torch.manual_seed(0)
    net = build_network("realbasicvsr_lite", **TINY).eval()
    lq = torch.rand(1, 3, 3, 64, 72)
    with torch.no_grad():
        out, cleaned = net(lq, return_lqs=True)
    assert out.shape == (1, 3, 3, 256, 288) and cleaned.shape == lq.shape
    assert not torch.equal(cleaned, lq)  # the cleaning module is not a no-op at initialisation
    expected = F.interpolate(cleaned[0], scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(out[0], expected, atol=1e-6)


def test_it_cleans_as_realbasicvsr_does():
    torch.manual_seed(0)
    lite = build_network("realbasicvsr_lite", **TINY).eval()
    official = RealBasicVSRNet(mid_channels=8, num_propagation_blocks=1, num_cleaning_blocks=1).eval()
    official.image_cleaning.load_state_dict(lite.image_cleaning.state_dict())
    official.is_sequential_cleaning = True
    lq = torch.rand(1, 2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(lite(lq, return_lqs=True)[1], official.clean(lq))


def test_the_weights_alone_give_back_the_architecture_and_its_arguments():
    args = {**TINY, "cleaning_channels": 16, "deform_groups": 2, "offset_hidden": 0, "flow_downscale": 4}
    net = build_network("realbasicvsr_lite", **args)
    arch, found = detect_architecture(net.state_dict())
    assert arch == "realbasicvsr_lite"
    assert {k: found[k] for k in args} == args
    assert arch_label(arch, found) == "RealBasicVSR lite c8n1 x4 (cleaning c16, 1 blocks; flow at 1/4)"
    build_network(arch, **found).load_state_dict(net.state_dict())  # strict: same keys, same shapes


def test_a_light_x4_checkpoint_warm_starts_the_propagation_and_leaves_the_cleaning(tmp_path):
    from safetensors.torch import save_file

    from vsrcli.train.loop import warm_start

    sr_args = {k: v for k, v in TINY.items() if "cleaning" not in k}
    x4 = build_network("basicvsrpp_lite", **sr_args)
    with torch.no_grad():
        for p in x4.parameters():
            p.add_(0.01)
    path = tmp_path / "x4.safetensors"
    save_file({k: v.contiguous() for k, v in x4.state_dict().items()}, str(path))
    net = build_network("realbasicvsr_lite", **TINY)
    assert isinstance(net, RealBasicVSRLiteNet) and isinstance(net.sr, BasicVSRPlusPlusLiteNet)
    cleaning_before = {k: v.clone() for k, v in net.image_cleaning.state_dict().items()}
    loaded = warm_start(net, path)
    learnt = [k for k, v in x4.state_dict().items() if v.is_floating_point()]  # not flow_downscale
    assert len(loaded) == len(learnt) and all(k.startswith("sr.") for k in loaded)
    for k, v in x4.state_dict().items():
        assert torch.equal(net.sr.state_dict()[k], v)
    for k, v in net.image_cleaning.state_dict().items():
        assert torch.equal(v, cleaning_before[k])


def test_training_supervises_its_cleaned_frames_on_real_world_degradations(tmp_path, monkeypatch):
    """The loop trains it as RealBasicVSR: two losses a step (output and cleaned frames); other degradations
    are refused."""
    import numpy as np
    import pytest

    from vsrcli.errors import UsageError
    from vsrcli.io.frames import write_image
    from vsrcli.train import loop
    from vsrcli.train.config import from_dict

    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (256, 260, 3), dtype=np.uint8)
    (tmp_path / "big").mkdir()
    for i in range(3):
        write_image(tmp_path / "big" / f"{i}.png", np.ascontiguousarray(np.roll(base, i, axis=1)))
    values = {
        "name": "real-lite-test",
        "arch": "realbasicvsr_lite",
        "arch_args": TINY,
        "data": {"paths": ["video:big"], "root": str(tmp_path), "patch": 64, "batch": 1, "clip_len": 2},
        "degradation": {"kind": "realworld", "scale": 4, "crf": [30, 32]},
        "run": {"iters": 2, "threads": 1, "log_every": 1, "val_every": 0},
    }
    with pytest.raises(UsageError, match="realworld"):
        from_dict({**values, "degradation": {"kind": "bi", "scale": 4}})
    calls: list[tuple[int, ...]] = []
    real_loss = loop.pixel_loss

    def counting(pred: torch.Tensor, target: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
        calls.append(tuple(target.shape))
        return real_loss(pred, target, kind, eps)

    monkeypatch.setattr(loop, "pixel_loss", counting)
    loop.train(from_dict(values), tmp_path / "run")
    assert calls == [(1, 2, 3, 256, 256), (1, 2, 3, 64, 64)] * 2  # the x4 output, then the cleaned frames
