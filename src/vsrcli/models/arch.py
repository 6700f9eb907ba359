"""Architecture registry: build any network of the family by name and arguments."""

from __future__ import annotations

import torch.nn as nn

from vsrcli.errors import ModelError
from vsrcli.models.basicvsr import BasicVSRNet
from vsrcli.models.basicvsr_pp import BasicVSRPlusPlusNet
from vsrcli.models.basicvsr_pp_lite import BasicVSRPlusPlusLiteNet
from vsrcli.models.basicvsr_pp_lite_restore import BasicVSRPlusPlusLiteRestorer
from vsrcli.models.iconvsr import IconVSRNet
from vsrcli.models.real_basicvsr import RealBasicVSRNet
from vsrcli.models.real_basicvsr_lite import RealBasicVSRLiteNet

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "basicvsr": BasicVSRNet,
    "iconvsr": IconVSRNet,
    "basicvsrpp": BasicVSRPlusPlusNet,
    "basicvsrpp_lite": BasicVSRPlusPlusLiteNet,
    "basicvsrpp_lite_restore": BasicVSRPlusPlusLiteRestorer,
    "realbasicvsr": RealBasicVSRNet,
    "realbasicvsr_lite": RealBasicVSRLiteNet,
}


def build_network(arch: str, **arch_args: object) -> nn.Module:
    """A freshly initialised network; unknown names or arguments raise ``ModelError``."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelError(f"unknown architecture {arch!r}", hint=f"known: {known}") from None
    try:
        return cls(**arch_args)
    except TypeError as exc:
        raise ModelError(f"bad arguments for architecture {arch!r}: {exc}") from None


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters (buffers such as SPyNet's mean/std excluded)."""
    return sum(p.numel() for p in module.parameters())
