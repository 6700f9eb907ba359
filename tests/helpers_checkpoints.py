"""Synthetic checkpoints in every official layout, built from the layer rules of the reference (§2-§5, §7).

``layout(arch, **args)`` gives the official key -> shape table of any member of the family (tests check it
against the reference key tables for the official sizes), so tiny variants can be made without building a
network. The ``save_*`` helpers write those tensors the way each upstream project writes its files.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

Shape = tuple[int, ...]

SPYNET_CONVS = ((32, 8), (64, 32), (32, 64), (16, 32), (2, 16))
EDVR = 64  # IconVSR's EDVR-M is always 64 channels wide


def _conv(out: dict[str, Shape], name: str, cout: int, cin: int, k: int = 3) -> None:
    out[f"{name}.weight"] = (cout, cin, k, k)
    out[f"{name}.bias"] = (cout,)


def _resblocks(out: dict[str, Shape], name: str, cin: int, mid: int, n: int) -> None:
    _conv(out, f"{name}.main.0", mid, cin)
    for i in range(n):
        _conv(out, f"{name}.main.2.{i}.conv1", mid, mid)
        _conv(out, f"{name}.main.2.{i}.conv2", mid, mid)


def _spynet(out: dict[str, Shape], prefix: str) -> None:
    out[f"{prefix}spynet.mean"] = (1, 3, 1, 1)
    out[f"{prefix}spynet.std"] = (1, 3, 1, 1)
    for level in range(6):
        for i, (cout, cin) in enumerate(SPYNET_CONVS):
            _conv(out, f"{prefix}spynet.basic_module.{level}.basic_module.{i}.conv", cout, cin, 7)


def _upsampling(out: dict[str, Shape], prefix: str, mid: int, guide: int = 0) -> None:
    _conv(out, f"{prefix}upsample1.upsample_conv", mid * 4, mid)
    _conv(out, f"{prefix}upsample2.upsample_conv", 64 * 4, mid)
    _conv(out, f"{prefix}conv_hr", 64, 64 + guide)  # guide: vsrcli's guided head only
    _conv(out, f"{prefix}conv_last", 3, 64)


def _basicvsr(out: dict[str, Shape], prefix: str, mid: int, n: int) -> None:
    _spynet(out, prefix)
    _resblocks(out, f"{prefix}backward_resblocks", mid + 3, mid, n)
    _resblocks(out, f"{prefix}forward_resblocks", mid + 3, mid, n)
    _conv(out, f"{prefix}fusion", mid, 2 * mid, 1)
    _upsampling(out, prefix, mid)


def _edvr(out: dict[str, Shape], frames: int) -> None:
    c = EDVR
    _conv(out, "edvr.conv_first", c, 3)
    for i in range(5):
        _conv(out, f"edvr.feature_extraction.{i}.conv1", c, c)
        _conv(out, f"edvr.feature_extraction.{i}.conv2", c, c)
    for name in ("feat_l2_conv1", "feat_l2_conv2", "feat_l3_conv1", "feat_l3_conv2"):
        _conv(out, f"edvr.{name}.conv", c, c)
    p = "edvr.pcd_alignment"
    for level in ("l3", "l2", "l1"):
        _conv(out, f"{p}.offset_conv1.{level}.conv", c, 2 * c)
        _conv(out, f"{p}.offset_conv2.{level}.conv", c, c if level == "l3" else 2 * c)
        if level != "l3":
            _conv(out, f"{p}.offset_conv3.{level}.conv", c, c)
        _conv(out, f"{p}.dcn_pack.{level}", c, c)
        _conv(out, f"{p}.dcn_pack.{level}.conv_offset", 27 * 8, c)
        if level != "l3":
            _conv(out, f"{p}.feat_conv.{level}.conv", c, 2 * c)
    _conv(out, f"{p}.cas_offset_conv1.conv", c, 2 * c)
    _conv(out, f"{p}.cas_offset_conv2.conv", c, c)
    _conv(out, f"{p}.cas_dcnpack", c, c)
    _conv(out, f"{p}.cas_dcnpack.conv_offset", 27 * 8, c)
    f = "edvr.fusion"
    _conv(out, f"{f}.temporal_attn1", c, c)
    _conv(out, f"{f}.temporal_attn2", c, c)
    _conv(out, f"{f}.feat_fusion.conv", c, frames * c, 1)
    _conv(out, f"{f}.spatial_attn1.conv", c, frames * c, 1)
    _conv(out, f"{f}.spatial_attn2.conv", c, 2 * c, 1)
    _conv(out, f"{f}.spatial_attn3.conv", c, c)
    _conv(out, f"{f}.spatial_attn4.conv", c, c, 1)
    _conv(out, f"{f}.spatial_attn5", c, c)
    _conv(out, f"{f}.spatial_attn_l1.conv", c, c, 1)
    _conv(out, f"{f}.spatial_attn_l2.conv", c, 2 * c)
    _conv(out, f"{f}.spatial_attn_l3.conv", c, c)
    _conv(out, f"{f}.spatial_attn_add1.conv", c, c, 1)
    _conv(out, f"{f}.spatial_attn_add2", c, c, 1)


def layout(arch: str, **args: Any) -> dict[str, Shape]:
    """Official key -> shape table of ``arch`` with constructor arguments ``args``."""
    out: dict[str, Shape] = {}
    if arch == "basicvsr":
        _basicvsr(out, "", args["mid_channels"], args["num_blocks"])
    elif arch == "iconvsr":
        mid, n = args["mid_channels"], args["num_blocks"]
        _spynet(out, "")
        _edvr(out, 2 * args.get("padding", 2) + 1)
        _conv(out, "backward_fusion", mid, 2 * mid)
        _conv(out, "forward_fusion", mid, 2 * mid)
        _resblocks(out, "backward_resblocks", mid + 3, mid, n)
        _resblocks(out, "forward_resblocks", 2 * mid + 3, mid, n)
        _upsampling(out, "", mid)
    elif arch == "basicvsrpp":
        mid, n = args["mid_channels"], args["num_blocks"]
        cin = 3 + args.get("extra_in_channels", 0)
        _spynet(out, "")
        if args.get("is_low_res_input", True):
            _resblocks(out, "feat_extract", cin, mid, 5)
        else:
            _conv(out, "feat_extract.0", mid, cin)
            _conv(out, "feat_extract.2", mid, mid)
            _resblocks(out, "feat_extract.4", mid, mid, 5)
        branches = ("backward_1", "forward_1", "backward_2", "forward_2")
        for b in branches:
            _conv(out, f"deform_align.{b}", mid, 2 * mid)
            _conv(out, f"deform_align.{b}.conv_offset.0", mid, 3 * mid + 4)
            _conv(out, f"deform_align.{b}.conv_offset.2", mid, mid)
            _conv(out, f"deform_align.{b}.conv_offset.4", mid, mid)
            _conv(out, f"deform_align.{b}.conv_offset.6", 27 * 16, mid)
        for i, b in enumerate(branches):
            _resblocks(out, f"backbone.{b}", (2 + i) * mid, mid, n)
        _resblocks(out, "reconstruction", 5 * mid, mid, 5)
        guide = (3 if args.get("is_low_res_input", True) else cin) if args.get("guided_head") else 0
        guide += 6 if args.get("guide_neighbours") else 0
        _upsampling(out, "", mid, guide)
        for i in range(args.get("head_blocks", 0)):
            _conv(out, f"head_body.{i}.conv1", 64, 64)
            _conv(out, f"head_body.{i}.conv2", 64, 64)
    elif arch in ("basicvsrpp_lite", "basicvsrpp_lite_restore"):  # vsrcli's own light designs, written out
        # the restorer is the x4 network at scale 1 over a lossless 2x2 fold: 4x the channels in, 4x out
        restore = arch == "basicvsrpp_lite_restore"
        mid, n = args["mid_channels"], args["num_blocks"]
        groups = args.get("deform_groups") or max(2, 2 * (mid // 16))
        hidden = args.get("offset_hidden", 1)
        _spynet(out, "")
        cin = 4 * (3 + args.get("extra_in_channels", 0)) if restore else 3
        _resblocks(out, "feat_extract", cin, mid, args.get("extract_blocks", 2))
        for i, b in enumerate(("backward_1", "forward_1", "backward_2", "forward_2")):
            _conv(out, f"deform_align.{b}", mid, 2 * mid)
            _conv(out, f"deform_align.{b}.conv_offset.0", mid, 3 * mid + 4)
            for j in range(hidden):
                _conv(out, f"deform_align.{b}.conv_offset.{2 * j + 2}", mid, mid)
            _conv(out, f"deform_align.{b}.conv_offset.{2 * hidden + 2}", 27 * groups, mid)
            _resblocks(out, f"backbone.{b}", (2 + i) * mid, mid, n)
        _resblocks(out, "reconstruction", 5 * mid, mid, args.get("reconstruction_blocks", 2))
        _conv(out, "to_rgb", 3 * (4 if restore else 16), mid)
    elif arch == "realbasicvsr_lite":  # the cleaning, then the light x4 network under sr.
        mid = args["cleaning_channels"]
        _resblocks(out, "image_cleaning.0", 3, mid, args["num_cleaning_blocks"])
        _conv(out, "image_cleaning.1", 3, mid)
        lite = {k: v for k, v in args.items() if "cleaning" not in k and k != "dynamic_refine_thres"}
        out.update({f"sr.{k}": v for k, v in layout("basicvsrpp_lite", **lite).items()})
    elif arch == "realbasicvsr":
        mid = args["mid_channels"]
        _resblocks(out, "image_cleaning.0", 3, mid, args["num_cleaning_blocks"])
        _conv(out, "image_cleaning.1", 3, mid)
        _basicvsr(out, "basicvsr.", mid, args["num_propagation_blocks"])
    else:
        raise ValueError(arch)
    return out


def official_table(path: Path) -> dict[str, Shape]:
    """Key -> shape from one of the reference JSON key tables."""
    return {k: tuple(v) for k, v in json.loads(path.read_text())["keys"].items()}


def random_state(shapes: dict[str, Shape], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random tensors of the given shapes (SPyNet mean/std get their real constants)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("spynet.mean"):
            state[key] = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        elif key.endswith("spynet.std"):
            state[key] = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.01
    return state


MMEDIT_META = {
    "mmedit_version": "0.8.0",
    "mmcv_version": "1.3.1",
    "time": "Wed Feb 17 12:00:00 2021",
    "iter": 600000,
    "epoch": 1,
    "config": "model = dict(type='BasicVSR', generator=dict(type='BasicVSRPlusPlus'))\n",
    "hook_msgs": {"last_ckpt": "work_dirs/iter_600000.pth"},
}


def save_mmedit(state: dict[str, torch.Tensor], path: Path, *, legacy: bool = True, meta: Any = None) -> Path:
    """An MMEditing release file: ``{'meta', 'state_dict': {'generator.…', 'step_counter'}}``.

    ``tools/publish_model.py`` writes the legacy (non-zip) format, hence ``legacy=True`` by default.
    """
    sd = {f"generator.{k}": v for k, v in state.items()}
    sd["step_counter"] = torch.tensor([600000.0])
    payload = {"meta": dict(MMEDIT_META) if meta is None else meta, "state_dict": sd}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


def save_realbasicvsr(ema: dict[str, torch.Tensor], plain: dict[str, torch.Tensor], path: Path) -> Path:
    """A RealBasicVSR restorer file: generator_ema (inference weights), generator, discriminator, losses."""
    sd: dict[str, torch.Tensor] = {f"generator.{k}": v for k, v in plain.items()}
    sd.update({f"generator_ema.{k}": v for k, v in ema.items()})
    sd["discriminator.conv0.weight"] = torch.zeros(64, 3, 3, 3)
    sd["discriminator.conv0.bias"] = torch.zeros(64)
    sd["perceptual_loss.vgg.vgg_layers.0.weight"] = torch.zeros(64, 3, 3, 3)
    sd["step_counter"] = torch.tensor([150000.0])
    torch.save({"meta": dict(MMEDIT_META), "state_dict": sd}, path, _use_new_zipfile_serialization=False)
    return path


def to_basicsr_key(key: str) -> str:
    """Our (MMEditing) key under BasicSR's naming (reference §7.3), the inverse of the loader's mapping."""
    parts = key.split(".")
    if "spynet" in parts and parts[-2] == "conv" and "basic_module" in parts:
        idx = int(parts[-3])
        return ".".join([*parts[:-3], str(2 * idx), parts[-1]])
    key = key.replace("backward_resblocks.", "backward_trunk.").replace(
        "forward_resblocks.", "forward_trunk."
    )
    key = key.replace("upsample1.upsample_conv.", "upconv1.").replace("upsample2.upsample_conv.", "upconv2.")
    for ours, theirs in (("feat_l2_conv1", "conv_l2_1"), ("feat_l2_conv2", "conv_l2_2")):
        key = key.replace(f"edvr.{ours}.conv.", f"edvr.{theirs}.")
    for ours, theirs in (("feat_l3_conv1", "conv_l3_1"), ("feat_l3_conv2", "conv_l3_2")):
        key = key.replace(f"edvr.{ours}.conv.", f"edvr.{theirs}.")
    if key.startswith("edvr.pcd_alignment."):
        key = key.replace("edvr.pcd_alignment.", "edvr.pcd_align.").replace(".conv.", ".")
    if key.startswith("edvr.fusion."):
        key = key.replace(".conv.", ".")
    return key


def save_basicsr(
    state: dict[str, torch.Tensor], path: Path, *, ema: dict[str, torch.Tensor] | None = None
) -> Path:
    """A BasicSR file: ``{'params': …}`` and optionally ``{'params_ema': …}`` under BasicSR key names."""
    payload = {"params": {to_basicsr_key(k): v for k, v in state.items()}}
    if ema is not None:
        payload["params_ema"] = {to_basicsr_key(k): v for k, v in ema.items()}
    torch.save(payload, path)
    return path


def module_from_layout(shapes: dict[str, Shape]) -> torch.nn.Module:
    """A stand-in network whose state_dict has exactly these keys (mean/std buffers, the rest parameters)."""
    root = torch.nn.Module()
    for key, shape in shapes.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            child = getattr(node, part, None) if part in node._modules else None
            if child is None:
                child = torch.nn.Module()
                node.add_module(part, child)
            node = child
        if key.endswith(("spynet.mean", "spynet.std")):
            node.register_buffer(leaf, torch.zeros(shape))
        else:
            node.register_parameter(leaf, torch.nn.Parameter(torch.zeros(shape)))
    return root


# --- a local HTTP server for download tests (nothing ever touches the real network) -------------------------

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one download chunk


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good.pth: PAYLOAD; /corrupt.pth: same length, other bytes; /error.pth: HTTP 500;
    /short.pth: announces PAYLOAD's length, sends a tenth of it and closes; anything else: 404."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/good.pth"):
            self._send(PAYLOAD)
        elif self.path.endswith("/corrupt.pth"):
            self._send(PAYLOAD[:-4] + b"TAIL")
        elif self.path.endswith("/error.pth"):
            self.send_error(500, "Internal Server Error")
        elif self.path.endswith("/short.pth"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 10])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def local_http_server() -> Iterator[str]:
    """Serve the routes of ``_Handler`` on 127.0.0.1 in a thread; yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
