"""deform_conv2d_fast computes exactly what torchvision.ops.deform_conv2d (= mmcv DCNv2) computes.

Tolerance: float32 results agree with torchvision to atol = rtol = 1e-5 (torch.testing.assert_close with those
values, i.e. |a - b| <= 1e-5 + 1e-5 * |b| element-wise); float64 results to 1e-10.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
tv_ops = pytest.importorskip("torchvision.ops")

from vsrcli.models.layers._deform_fast import deform_conv2d_fast  # noqa: E402


def _inputs(
    n: int,
    c: int,
    o: int,
    h: int,
    w: int,
    g: int,
    k: int = 3,
    stride: int = 1,
    pad: int = 1,
    dil: int = 1,
    offset_scale: float = 3.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, ...]:
    ho = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    wo = (w + 2 * pad - dil * (k - 1) - 1) // stride + 1
    x = torch.randn(n, c, h, w, dtype=dtype)
    offset = torch.randn(n, 2 * g * k * k, ho, wo, dtype=dtype) * offset_scale
    mask = torch.rand(n, g * k * k, ho, wo, dtype=dtype)
    weight = torch.randn(o, c, k, k, dtype=dtype) / (c * k * k) ** 0.5
    bias = torch.randn(o, dtype=dtype)
    return x, offset, mask, weight, bias


def _reference(x, offset, mask, weight, bias, stride=1, pad=1, dil=1):
    return tv_ops.deform_conv2d(x, offset, weight, bias, stride=stride, padding=pad, dilation=dil, mask=mask)


@pytest.mark.parametrize(
    ("n", "c", "o", "h", "w", "g", "offset_scale"),
    [
        (1, 4, 3, 7, 9, 1, 0.0),  # zero offsets: an ordinary 3x3 convolution with a mask
        (2, 8, 5, 9, 11, 2, 1.5),  # sub-pixel offsets, two groups
        (1, 32, 8, 12, 10, 16, 3.0),  # BasicVSR++'s 16 groups
        (2, 8, 4, 6, 7, 4, 20.0),  # large offsets: most samples land outside the image
    ],
)
def test_matches_torchvision_float32(n, c, o, h, w, g, offset_scale):
    x, offset, mask, weight, bias = _inputs(n, c, o, h, w, g, offset_scale=offset_scale)
    expected = _reference(x, offset, mask, weight, bias)
    got = deform_conv2d_fast(x, offset, mask, weight, bias, stride=1, padding=1, dilation=1, deform_groups=g)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("stride", "pad", "dil", "k"), [(2, 1, 1, 3), (1, 2, 2, 3), (2, 0, 1, 1), (1, 2, 1, 5)]
)
def test_matches_torchvision_other_geometry(stride, pad, dil, k):
    x, offset, mask, weight, bias = _inputs(2, 6, 4, 11, 13, 3, k=k, stride=stride, pad=pad, dil=dil)
    expected = _reference(x, offset, mask, weight, bias, stride, pad, dil)
    got = deform_conv2d_fast(x, offset, mask, weight, bias, stride=stride, padding=pad, dilation=dil)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_border_positions_follow_dcn_rules():
    """Samples at -1, just inside -1, on the last row/column and at H, W: corners outside count zero."""
    h, w = 5, 6
    x = torch.rand(1, 2, h, w) + 0.5
    weight = torch.randn(3, 2, 3, 3)
    # Place every kernel point of every output pixel at chosen absolute positions through the offsets.
    targets = [-1.0, -0.999, -0.5, 0.0, 3.25, 4.0, 4.5, 4.999, 5.0, 5.5, 6.0]
    for ty in targets:
        for tx in targets:
            offset = torch.zeros(1, 18, h, w)
            ys = torch.arange(h).view(h, 1).float()
            xs = torch.arange(w).view(1, w).float()
            for i in range(3):
                for j in range(3):
                    kpt = i * 3 + j
                    offset[0, 2 * kpt] = ty - (ys - 1 + i)
                    offset[0, 2 * kpt + 1] = tx - (xs - 1 + j)
            mask = torch.ones(1, 9, h, w)
            expected = _reference(x, offset, mask, weight, None)
            got = deform_conv2d_fast(x, offset, mask, weight, None)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5, msg=f"at ({ty}, {tx})")


def test_point_outside_gives_zero():
    x = torch.ones(1, 1, 4, 4)
    weight = torch.ones(1, 1, 1, 1)
    offset = torch.full((1, 2, 4, 4), -10.0)
    out = deform_conv2d_fast(x, offset, torch.ones(1, 1, 4, 4), weight, None, padding=0)
    assert torch.count_nonzero(out) == 0


def test_no_mask_means_all_ones():
    x, offset, mask, weight, bias = _inputs(1, 4, 2, 6, 6, 2)
    ones = torch.ones_like(mask)
    torch.testing.assert_close(
        deform_conv2d_fast(x, offset, None, weight, bias), deform_conv2d_fast(x, offset, ones, weight, bias)
    )


def test_one_pixel_wide_image():
    x, offset, mask, weight, bias = _inputs(1, 2, 2, 1, 5, 1, offset_scale=0.7)
    torch.testing.assert_close(
        deform_conv2d_fast(x, offset, mask, weight, bias),
        _reference(x, offset, mask, weight, bias),
        atol=1e-5,
        rtol=1e-5,
    )


def test_row_chunking_gives_the_same_result(monkeypatch):
    import vsrcli.models.layers._deform_fast as mod

    x, offset, mask, weight, bias = _inputs(1, 8, 4, 10, 9, 2)
    whole = deform_conv2d_fast(x, offset, mask, weight, bias)
    monkeypatch.setattr(mod, "_MAX_COLUMN_ELEMENTS", 8 * 9 * 9 * 3)  # three output rows per chunk
    torch.testing.assert_close(deform_conv2d_fast(x, offset, mask, weight, bias), whole, atol=1e-6, rtol=1e-6)


def test_float64_matches_tightly():
    x, offset, mask, weight, bias = _inputs(1, 8, 3, 7, 8, 4, dtype=torch.float64)
    torch.testing.assert_close(
        deform_conv2d_fast(x, offset, mask, weight, bias),
        _reference(x, offset, mask, weight, bias),
        atol=1e-10,
        rtol=1e-10,
    )


def test_gradcheck():
    x, offset, mask, weight, bias = _inputs(1, 4, 2, 3, 4, 2, offset_scale=1.3, dtype=torch.float64)
    args = [t.requires_grad_() for t in (x, offset, mask, weight, bias)]
    assert torch.autograd.gradcheck(
        lambda *a: deform_conv2d_fast(*a), args, eps=1e-6, atol=1e-5, fast_mode=True
    )


def test_gradients_match_torchvision():
    x, offset, mask, weight, bias = _inputs(2, 8, 4, 7, 6, 4, offset_scale=2.0)
    ours = [t.clone().requires_grad_() for t in (x, offset, mask, weight, bias)]
    ref = [t.clone().requires_grad_() for t in (x, offset, mask, weight, bias)]
    upstream = torch.randn(2, 4, 7, 6)
    (deform_conv2d_fast(*ours) * upstream).sum().backward()
    (_reference(*ref) * upstream).sum().backward()
    for name, a, b in zip(("input", "offset", "mask", "weight", "bias"), ours, ref, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-4, rtol=1e-4, msg=f"grad of {name}")


def test_bf16_autocast_is_close_and_keeps_float32_positions():
    x, offset, mask, weight, bias = _inputs(1, 16, 8, 8, 8, 4, offset_scale=2.0)
    expected = _reference(x, offset, mask, weight, bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = deform_conv2d_fast(x, offset, mask, weight, bias)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, atol=0.05, rtol=0.02)


def test_grouped_weights_are_not_supported():
    x, offset, mask, _, _ = _inputs(1, 4, 2, 5, 5, 1)
    with pytest.raises(NotImplementedError):
        deform_conv2d_fast(x, offset, mask, torch.randn(2, 2, 3, 3), None)


def test_inconsistent_offset_is_rejected():
    x, offset, mask, weight, bias = _inputs(1, 4, 2, 5, 5, 2)
    with pytest.raises(ValueError):
        deform_conv2d_fast(x, offset[:, :-2], mask, weight, bias)


def test_inference_without_grad_matches_torchvision():
    """Without autograd the mask is applied in place; the result must not change."""
    x, offset, mask, weight, bias = _inputs(2, 16, 4, 9, 8, 4, offset_scale=2.5)
    with torch.inference_mode():
        got = deform_conv2d_fast(x, offset, mask, weight, bias)
    torch.testing.assert_close(got, _reference(x, offset, mask, weight, bias), atol=1e-5, rtol=1e-5)


def test_the_one_dcn_entry_point_dispatches_to_the_fast_path_on_cpu(monkeypatch):
    """modulated_deform_conv2d uses our implementation on CPU and agrees with torchvision's."""
    from vsrcli.models.layers import _deform_fast, deform

    torch.manual_seed(0)
    x = torch.randn(1, 8, 12, 10)
    offset = torch.randn(1, 2 * 2 * 9, 12, 10) * 3
    mask = torch.rand(1, 2 * 9, 12, 10)
    weight = torch.randn(4, 8, 3, 3)
    bias = torch.randn(4)
    calls = []
    real = _deform_fast.deform_conv2d_fast
    monkeypatch.setattr(_deform_fast, "deform_conv2d_fast", lambda *a, **k: calls.append(1) or real(*a, **k))
    fast = deform.modulated_deform_conv2d(x, offset, mask, weight, bias, deform_groups=2)
    assert calls, "auto on CPU must take the fast path"
    with deform.use_deform_backend("torchvision"):
        reference = deform.modulated_deform_conv2d(x, offset, mask, weight, bias, deform_groups=2)
    assert len(calls) == 1
    torch.testing.assert_close(fast, reference, atol=1e-5 * float(reference.abs().max()), rtol=1e-5)


@pytest.mark.parametrize("grad", [False, True])
def test_row_chunks_in_inference_and_training_match_torchvision(monkeypatch, grad):
    """Several bands of rows, written into one output without autograd and concatenated with it, give
    torchvision's result and (with autograd) its gradients."""
    import vsrcli.models.layers._deform_fast as mod

    monkeypatch.setattr(mod, "_MAX_COLUMN_ELEMENTS", 2 * 8 * 9 * 9 * 4)  # four output rows per band: 3 bands
    x, offset, mask, weight, bias = _inputs(2, 8, 4, 10, 9, 2)
    ref = _reference(x, offset, mask, weight, bias)
    with torch.set_grad_enabled(grad):
        xg = x.clone().requires_grad_(grad)
        got = deform_conv2d_fast(xg, offset, mask, weight, bias)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    if grad:
        got.sum().backward()
        xr = x.clone().requires_grad_()
        _reference(xr, offset, mask, weight, bias).sum().backward()
        torch.testing.assert_close(xg.grad, xr.grad, atol=1e-5, rtol=1e-5)


def test_output_layout_follows_the_input_and_weight():
    """A channels_last network gets a channels_last result (the product comes out pixel-major, so no copy);
    an NCHW one the contiguous tensor torchvision returns. Values are the same either way."""
    x, offset, mask, weight, bias = _inputs(1, 16, 8, 9, 11, 4)
    cl = torch.channels_last
    with torch.inference_mode():
        nchw = deform_conv2d_fast(x, offset, mask, weight, bias)
        by_input = deform_conv2d_fast(x.contiguous(memory_format=cl), offset, mask, weight, bias)
        by_weight = deform_conv2d_fast(x, offset, mask, weight.contiguous(memory_format=cl), bias)
    assert nchw.is_contiguous()
    for out in (by_input, by_weight):
        assert out.is_contiguous(memory_format=cl) and not out.is_contiguous()
        torch.testing.assert_close(out, nchw, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("n", [2])
def test_alignment_from_a_channels_last_offset_conv_is_computed_in_bands_with_equal_result(monkeypatch, n):
    """At inference a channels_last conv_offset output is turned into offsets one band of rows at a time
    (tanh bound, both flow priors, sigmoid mask); the result equals the whole-frame NCHW path. (One float32
    image takes the gathering DCN instead: tested below.)"""
    import vsrcli.models.layers._deform_fast as mod
    from vsrcli.models.basicvsr_pp import SecondOrderDeformableAlignment

    torch.manual_seed(0)
    align = SecondOrderDeformableAlignment(16, 8, deform_groups=2).eval()
    with torch.no_grad():
        align.conv_offset[-1].weight.normal_(0, 0.05)
    x = torch.randn(n, 16, 13, 10)
    feat = torch.randn(n, 24, 13, 10)
    flows = (torch.randn(n, 2, 13, 10) * 2, torch.randn(n, 2, 13, 10) * 2)
    calls = []
    real = align.offsets_and_mask
    monkeypatch.setattr(align, "offsets_and_mask", lambda o, *a: calls.append(o.shape[2]) or real(o, *a))
    with torch.inference_mode():
        whole = align(x, feat, *flows)
        assert calls == [13]
        calls.clear()
        monkeypatch.setattr(mod, "_MAX_COLUMN_ELEMENTS", n * 16 * 9 * 10 * 5)  # five rows per band
        cl = torch.channels_last
        align_cl = align.to(memory_format=cl)
        banded = align_cl(x.contiguous(memory_format=cl), feat.contiguous(memory_format=cl), *flows)
    assert calls == [5, 5, 3]
    assert banded.is_contiguous(memory_format=cl)
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)


def test_an_even_kernel_is_refused_alike_in_both_layouts():
    """A 2x2 DCN with padding 1 outputs one row and column more than its offsets cover: both paths raise,
    the banded one does not silently return a frame of the input's size."""
    from vsrcli.models.layers.deform import DeformConvBase

    dcn = DeformConvBase(4, 3, kernel_size=2, padding=1).eval()
    conv = torch.nn.Conv2d(6, 12, 3, 1, 1)
    x, feat = torch.randn(1, 4, 5, 6), torch.randn(1, 6, 5, 6)
    cl = torch.channels_last
    with torch.inference_mode():
        for layout in (torch.contiguous_format, cl):
            with pytest.raises(ValueError, match="offset"):
                dcn.deform_from(
                    x.contiguous(memory_format=layout), feat.contiguous(memory_format=layout), conv
                )


def _alignment(groups: int, kernel: int, in_ch: int = 0, out_ch: int = 8):
    """A second-order alignment whose offsets reach well outside the frame (flows up to ~6 px, residues up
    to 10), with a kernel of any odd size."""
    from vsrcli.models.basicvsr_pp import SecondOrderDeformableAlignment

    in_ch = in_ch or 16 * groups  # 16 channels a group: the gathering DCN's minimum
    align = SecondOrderDeformableAlignment(in_ch, out_ch, deform_groups=groups).eval()
    if kernel != 3:
        align.kernel_size, align.padding = kernel, kernel // 2
        align.weight = torch.nn.Parameter(
            torch.randn(out_ch, in_ch, kernel, kernel) / (in_ch * kernel**2) ** 0.5
        )
        hidden = align.conv_offset[-1].in_channels
        align.conv_offset[-1] = torch.nn.Conv2d(hidden, 3 * groups * kernel**2, 3, 1, 1)
    with torch.no_grad():
        align.conv_offset[-1].weight.normal_(0, 0.3)
    return align


@pytest.mark.parametrize(("groups", "kernel"), [(2, 3), (4, 3), (2, 1), (2, 5)])
def test_one_image_at_inference_gathers_channel_rows_with_the_dcn_result(monkeypatch, groups, kernel):
    """The gathering DCN (channels-last table, embedding_bag) gives what the grid_sample DCN gives, band by
    band, offsets far outside the frame included."""
    import vsrcli.models.layers._deform_fast as fast_mod
    import vsrcli.models.layers.deform as deform_mod

    torch.manual_seed(groups * 10 + kernel)
    align = _alignment(groups, kernel)
    x, feat = torch.randn(1, 16 * groups, 13, 10), torch.randn(1, 24, 13, 10)
    flows = (torch.randn(1, 2, 13, 10) * 3, torch.randn(1, 2, 13, 10) * 3)
    gathered = []
    real = fast_mod.deform_conv2d_gather
    monkeypatch.setattr(fast_mod, "deform_conv2d_gather", lambda *a: gathered.append(a[-1]) or real(*a))
    monkeypatch.setattr(deform_mod, "_GATHER_ELEMENTS", 16 * groups * kernel**2 * 10 * 4)  # four rows a band
    cl = torch.channels_last
    with torch.inference_mode():
        whole = align(x, feat, *flows)  # NCHW: the grid_sample DCN over the whole frame
        align_cl = align.to(memory_format=cl)
        out = align_cl(x.contiguous(memory_format=cl), feat.contiguous(memory_format=cl), *flows)
    assert gathered == [4]
    assert out.is_contiguous(memory_format=cl)
    torch.testing.assert_close(out, whole, atol=2e-5, rtol=1e-5)


def test_the_gathering_dcn_counts_corners_outside_the_frame_as_zero():
    """Every sample far outside (offsets of +-1000 px) leaves only the bias, as torchvision gives."""
    align = _alignment(2, 3)
    with torch.no_grad():
        align.conv_offset[-1].weight.zero_()
        align.conv_offset[-1].bias.zero_()
    x, feat = torch.randn(1, 32, 6, 7), torch.randn(1, 24, 6, 7)
    cl = torch.channels_last
    align = align.to(memory_format=cl)
    for far in (1000.0, -1000.0):
        flows = (torch.full((1, 2, 6, 7), far), torch.full((1, 2, 6, 7), far))
        with torch.inference_mode():
            out = align(x.contiguous(memory_format=cl), feat.contiguous(memory_format=cl), *flows)
        torch.testing.assert_close(out, align.bias.detach().view(1, -1, 1, 1).expand_as(out))


@pytest.mark.parametrize("groups", [1, 2])
def test_a_dcn_pack_without_bound_or_flow_prior_gathers_alike(groups):
    """EDVR's pack (raw offsets, no tanh, no prior) through the gathering DCN equals the grid_sample DCN."""
    from vsrcli.models.layers.deform import ModulatedDCNPack

    torch.manual_seed(groups)
    pack = ModulatedDCNPack(32, 8, deform_groups=groups).eval()
    with torch.no_grad():
        pack.conv_offset.weight.normal_(0, 0.3)
    x, feat = torch.randn(1, 32, 9, 11), torch.randn(1, 32, 9, 11)
    cl = torch.channels_last
    with torch.inference_mode():
        whole = pack(x, feat)
        out = pack.to(memory_format=cl)(x.contiguous(memory_format=cl), feat.contiguous(memory_format=cl))
    torch.testing.assert_close(out, whole, atol=2e-5, rtol=1e-5)


def test_groups_of_fewer_than_16_channels_keep_grid_sample(monkeypatch):
    """Measured slower gathered (8 and 3 channels a group: the official and turn-1 networks)."""
    import vsrcli.models.layers._deform_fast as fast_mod

    monkeypatch.setattr(fast_mod, "deform_conv2d_gather", lambda *a: pytest.fail("gathered 8-channel groups"))
    align = _alignment(4, 3, in_ch=32).to(memory_format=torch.channels_last)
    x, feat = torch.randn(1, 32, 6, 7), torch.randn(1, 24, 6, 7)
    flows = (torch.randn(1, 2, 6, 7), torch.randn(1, 2, 6, 7))
    cl = torch.channels_last
    with torch.inference_mode():
        out = align(x.contiguous(memory_format=cl), feat.contiguous(memory_format=cl), *flows)
    assert out.shape == (1, 8, 6, 7)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_an_alignment_given_channel_parts_equals_one_given_their_concatenations(layout):
    """propagate hands the alignment [n-1, n-2] and [warped n-1, current, warped n-2] as parts, which the
    gathering DCN reads without concatenating (channels_last) and every other path concatenates first."""
    torch.manual_seed(3)
    align = _alignment(2, 3).to(memory_format=layout)
    x1, x2 = (torch.randn(1, 16, 9, 12).contiguous(memory_format=layout) for _ in range(2))
    f1, f2, f3 = (torch.randn(1, 8, 9, 12).contiguous(memory_format=layout) for _ in range(3))
    flows = (torch.randn(1, 2, 9, 12) * 3, torch.randn(1, 2, 9, 12) * 3)
    with torch.inference_mode():
        joined = align(torch.cat([x1, x2], 1), torch.cat([f1, f2, f3], 1), *flows)
        parted = align((x1, x2), (f1, f2, f3), *flows)
    torch.testing.assert_close(parted, joined, atol=1e-6, rtol=1e-6)
