"""Infer the architecture and its constructor arguments from a state dict's keys and shapes alone.

This is what lets ``--weights any.pth`` work without naming the network. It reads canonical state dicts
(official MMEditing key names, no prefix; see :func:`vsrcli.models.checkpoint.read_checkpoint`) and needs
only shapes, so it imports no torch: values may be tensors, anything with ``.shape``, or plain shape lists
(as in the reference key tables).

Arguments that leave no trace in the weights take the values of the official inference configs:
IconVSR ``keyframe_stride`` 5; BasicVSR++ ``max_residue_magnitude`` 10 and ``cpu_cache_length`` 100;
RealBasicVSR ``dynamic_refine_thres`` 255 and ``is_sequential_cleaning`` True (same output, less memory).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from vsrcli.errors import CheckpointError

#: BasicVSR++ deformable alignment: 16 groups x 27 (2 offsets + 1 mask per 3x3 tap) output channels.
_PP_DEFORM_GROUPS = 16
#: Arguments that change how a network runs but not its tensors, so no checkpoint reveals them: a bare file
#: runs without them (RealBasicVSR: one cleaning pass); the zoo entry (or the model card) is where they live.
RUNTIME_ARGS = ("prefilter_radius", "prefilter_strictness", "dynamic_refine_thres")

ARCH_LABELS = {
    "basicvsr": "BasicVSR",
    "iconvsr": "IconVSR",
    "basicvsrpp": "BasicVSR++",
    "basicvsrpp_lite": "BasicVSR++ lite",
    "basicvsrpp_lite_restore": "BasicVSR++ lite",
    "realbasicvsr": "RealBasicVSR",
    "realbasicvsr_lite": "RealBasicVSR lite",
}


def _shape(value: Any) -> tuple[int, ...]:
    if hasattr(value, "shape"):
        return tuple(int(d) for d in value.shape)
    return tuple(int(d) for d in value)


def _need(state: Mapping[str, Any], key: str, what: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"looks like a {what} checkpoint but has no {key!r}; the file is incomplete")
    return _shape(state[key])


def _count_blocks(keys: Iterable[str], prefix: str, what: str) -> int:
    """Number of residual blocks ``{prefix}.N.conv1.weight`` (N must run 0..n-1 without gaps)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.conv1\.weight$")
    found = sorted(int(m.group(1)) for key in keys if (m := pattern.match(key)))
    if not found:
        raise CheckpointError(f"{what}: no residual blocks under {prefix!r}")
    if found != list(range(len(found))):
        raise CheckpointError(
            f"{what}: residual blocks under {prefix!r} are not numbered 0..{len(found) - 1}"
        )
    return len(found)


def _detect_basicvsr(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    what = "BasicVSR"
    first = _need(state, f"{prefix}backward_resblocks.main.0.weight", what)
    mid = first[0]
    if first[1] != mid + 3:
        raise CheckpointError(f"{what}: backward branch takes {first[1]} channels, expected {mid}+3")
    _need(state, f"{prefix}fusion.weight", what)
    blocks = _count_blocks(state, f"{prefix}backward_resblocks.main.2", what)
    return {"mid_channels": mid, "num_blocks": blocks}


def _detect_iconvsr(state: Mapping[str, Any]) -> dict[str, Any]:
    what = "IconVSR"
    mid = _need(state, "backward_resblocks.main.0.weight", what)[0]
    blocks = _count_blocks(state, "backward_resblocks.main.2", what)
    edvr_channels = _need(state, "edvr.conv_first.weight", what)[0]
    fusion_in = _need(state, "edvr.fusion.feat_fusion.conv.weight", what)[1]
    frames, rest = divmod(fusion_in, edvr_channels)
    if rest or frames < 3 or frames % 2 == 0:
        raise CheckpointError(
            f"{what}: EDVR fusion takes {fusion_in} channels, "
            f"not an odd number (>= 3) of {edvr_channels}-channel frames"
        )
    return {"mid_channels": mid, "num_blocks": blocks, "keyframe_stride": 5, "padding": (frames - 1) // 2}


def _detect_basicvsrpp(state: Mapping[str, Any]) -> dict[str, Any]:
    what = "BasicVSR++"
    mid = _need(state, "backbone.backward_1.main.0.weight", what)[0]
    blocks = _count_blocks(state, "backbone.backward_1.main.2", what)
    if "feat_extract.main.0.weight" in state:
        low_res, first = True, _shape(state["feat_extract.main.0.weight"])
    elif "feat_extract.0.weight" in state and "feat_extract.4.main.0.weight" in state:
        low_res, first = False, _shape(state["feat_extract.0.weight"])
    elif "feat_extract.2.main.0.weight" in state:
        raise CheckpointError(
            f"{what} with one strided convolution (the unreleased 'BasicVSR_2x' checkpoints) is not supported"
        )
    else:
        raise CheckpointError(
            f"{what}: unrecognised feature extractor (no feat_extract.main.0 or feat_extract.0)"
        )
    extra_in = first[1] - 3
    if extra_in < 0:
        raise CheckpointError(f"{what}: feature extractor takes {first[1]} input channels, fewer than RGB")
    offsets = _need(state, "deform_align.backward_1.conv_offset.6.weight", what)[0]
    if offsets != 27 * _PP_DEFORM_GROUPS:
        raise CheckpointError(
            f"{what}: deformable alignment predicts {offsets} offset channels; only "
            f"{_PP_DEFORM_GROUPS} deformable groups ({27 * _PP_DEFORM_GROUPS}) are supported"
        )
    args: dict[str, Any] = {
        "mid_channels": mid,
        "num_blocks": blocks,
        "max_residue_magnitude": 10,
        "is_low_res_input": low_res,
        "cpu_cache_length": 100,
    }
    if extra_in:
        args["extra_in_channels"] = extra_in
    head_in = _need(state, "conv_hr.weight", what)[1]
    if head_in != 64:  # vsrcli's guided head: the input frame joins conv_hr's 64 channels
        guide = head_in - 64
        frame = 3 if low_res else 3 + extra_in
        if guide not in (frame, frame + 6) or (low_res and guide != frame):
            raise CheckpointError(f"{what}: conv_hr takes {head_in} channels, not 64 or a guided head's")
        args["guided_head"] = True
        if guide == frame + 6:  # and the warped previous and next frames
            args["guide_neighbours"] = True
    if any(k.startswith("head_body.") for k in state):
        args["head_blocks"] = _count_blocks(state, "head_body", what)
    return args


def _detect_basicvsrpp_lite(state: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    what = "BasicVSR++ lite"
    mid = _need(state, f"{prefix}backbone.backward_1.main.0.weight", what)[0]
    offset_keys = sorted(
        int(m.group(1))
        for k in state
        if (m := re.match(re.escape(prefix) + r"deform_align\.backward_1\.conv_offset\.(\d+)\.weight$", k))
    )
    if not offset_keys:
        raise CheckpointError(f"{what}: no deformable alignment offset convs")
    offsets = _shape(state[f"{prefix}deform_align.backward_1.conv_offset.{offset_keys[-1]}.weight"])[0]
    if offsets % 27:
        raise CheckpointError(f"{what}: {offsets} offset channels is not a multiple of 27")
    stored = state.get(f"{prefix}flow_downscale")  # a tensor in real weights; key tables hold shapes only
    flow_downscale = int(stored.item()) if stored is not None and hasattr(stored, "item") else 2
    return {
        "mid_channels": mid,
        "num_blocks": _count_blocks(state, f"{prefix}backbone.backward_1.main.2", what),
        "extract_blocks": _count_blocks(state, f"{prefix}feat_extract.main.2", what),
        "reconstruction_blocks": _count_blocks(state, f"{prefix}reconstruction.main.2", what),
        "deform_groups": offsets // 27,
        "offset_hidden": len(offset_keys) - 2,
        "flow_downscale": flow_downscale,
        "max_residue_magnitude": 10,
    }


def _detect_basicvsrpp_lite_restore(state: Mapping[str, Any]) -> dict[str, Any]:
    folded = _need(state, "feat_extract.main.0.weight", "BasicVSR++ lite restorer")[1]
    if folded % 4 or folded < 12:
        raise CheckpointError(f"BasicVSR++ lite restorer: {folded} input channels is not a 2x2 fold of RGB")
    return {**_detect_basicvsrpp_lite(state), "extra_in_channels": folded // 4 - 3}


def _detect_realbasicvsr(state: Mapping[str, Any]) -> dict[str, Any]:
    what = "RealBasicVSR"
    mid = _need(state, "image_cleaning.0.main.0.weight", what)[0]
    cleaning = _count_blocks(state, "image_cleaning.0.main.2", what)
    inner = _detect_basicvsr(state, prefix="basicvsr.")
    if inner["mid_channels"] != mid:
        raise CheckpointError(
            f"{what}: cleaning module is {mid} channels wide but the BasicVSR is {inner['mid_channels']}"
        )
    return {
        "mid_channels": mid,
        "num_propagation_blocks": inner["num_blocks"],
        "num_cleaning_blocks": cleaning,
        "dynamic_refine_thres": 255,
        "is_sequential_cleaning": True,
    }


def _detect_realbasicvsr_lite(state: Mapping[str, Any]) -> dict[str, Any]:
    what = "RealBasicVSR lite"
    return {
        **_detect_basicvsrpp_lite(state, prefix="sr."),
        "cleaning_channels": _need(state, "image_cleaning.0.main.0.weight", what)[0],
        "num_cleaning_blocks": _count_blocks(state, "image_cleaning.0.main.2", what),
        "dynamic_refine_thres": 255,
        "is_sequential_cleaning": True,
    }


def _recognised(keys: set[str]) -> list[str]:
    """Names of the known parts present, for a useful error on layouts we cannot load."""
    parts = []
    if any(k.startswith("spynet.") or k.startswith("basic_module.") for k in keys):
        parts.append("a SPyNet flow estimator")
    if any("pcd_alignment." in k or "pcd_align." in k for k in keys):
        parts.append("an EDVR alignment module")
    if any(k.startswith(("backward_resblocks.", "forward_resblocks.")) for k in keys):
        parts.append("BasicVSR propagation branches")
    if any(k.startswith(("deform_align.", "backbone.", "feat_extract.")) for k in keys):
        parts.append("BasicVSR++ layers")
    if any(k.startswith("image_cleaning.") for k in keys):
        parts.append("a RealBasicVSR cleaning module")
    return parts


def detect_architecture(state_dict: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(arch, arch_args)`` such that ``build_network(arch, **arch_args)`` has this state dict's layout.

    Raises CheckpointError naming what was recognised when the layout is not one of the family.
    """
    keys = set(state_dict)
    if not keys:
        raise CheckpointError("the checkpoint holds no weights")
    if any(k.startswith("image_cleaning.") for k in keys) and "sr.to_rgb.weight" in keys:
        return "realbasicvsr_lite", _detect_realbasicvsr_lite(state_dict)
    if any(k.startswith("image_cleaning.") for k in keys):
        return "realbasicvsr", _detect_realbasicvsr(state_dict)
    if any(k.startswith("edvr.") for k in keys) and "backward_resblocks.main.0.weight" in keys:
        return "iconvsr", _detect_iconvsr(state_dict)
    if "to_rgb.weight" in keys and any(k.startswith("backbone.backward_1.") for k in keys):
        if _need(state_dict, "to_rgb.weight", "BasicVSR++ lite")[0] == 3 * 4:  # x1 over a 2x2 fold
            return "basicvsrpp_lite_restore", _detect_basicvsrpp_lite_restore(state_dict)
        return "basicvsrpp_lite", _detect_basicvsrpp_lite(state_dict)
    if any(k.startswith("backbone.backward_1.") for k in keys):
        return "basicvsrpp", _detect_basicvsrpp(state_dict)
    if "fusion.weight" in keys and "backward_resblocks.main.0.weight" in keys:
        return "basicvsr", _detect_basicvsr(state_dict)
    parts = _recognised(keys)
    found = f"found {', '.join(parts)}" if parts else "none of its keys belong to this family"
    example = ", ".join(sorted(keys)[:3])
    raise CheckpointError(
        f"cannot tell which network these weights are for ({found}; first keys: {example})",
        hint="expected a full BasicVSR, IconVSR, BasicVSR++ or RealBasicVSR checkpoint",
    )


def arch_label(arch: str, arch_args: Mapping[str, Any]) -> str:
    """Short human description, e.g. ``BasicVSR++ c64n7 x4`` or ``IconVSR c64n30 (7-frame EDVR)``."""
    name = ARCH_LABELS.get(arch, arch)
    mid = arch_args.get("mid_channels")
    if arch == "realbasicvsr":
        text = f"{name} c{mid}b{arch_args.get('num_propagation_blocks')}"
        return text + f" (cleaning {arch_args.get('num_cleaning_blocks')} blocks)"
    if arch == "realbasicvsr_lite":
        text = f"{name} c{mid}n{arch_args.get('num_blocks')} x4"
        cleaning = f"c{arch_args.get('cleaning_channels')}, {arch_args.get('num_cleaning_blocks')} blocks"
        return text + f" (cleaning {cleaning}; flow at 1/{arch_args.get('flow_downscale', 2)})"
    text = f"{name} c{mid}n{arch_args.get('num_blocks')}"
    if arch == "iconvsr":
        return text + f" ({2 * int(arch_args.get('padding', 2)) + 1}-frame EDVR)"
    if arch == "basicvsrpp_lite":
        return text + f" x4 (flow at 1/{arch_args.get('flow_downscale', 2)})"
    if arch == "basicvsrpp_lite_restore":
        extra = arch_args.get("extra_in_channels")
        text += " restoration at 1/2" + (f" (+{extra} input channels)" if extra else "")
        return text + f" (flow at 1/{2 * int(arch_args.get('flow_downscale', 2))})"
    if arch == "basicvsrpp":
        text += " x4" if arch_args.get("is_low_res_input", True) else " restoration"
        if arch_args.get("extra_in_channels"):
            text += f" (+{arch_args['extra_in_channels']} input channels)"
        if arch_args.get("guided_head"):
            text += ", guided head"
        if arch_args.get("guide_neighbours"):
            text += " with neighbours"
        if arch_args.get("head_blocks"):
            text += f" (+{arch_args['head_blocks']} full-res blocks)"
        if arch_args.get("prefilter_radius"):
            text += ", two passes (motion-compensated)"
    return text
