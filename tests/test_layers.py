from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import bsnas
from bsnas import BSConvS, BSConvU, DSConv, RegularConv, create_conv, reg_loss, replace_convs
from bsnas.nn.profiling import fvcore_flops


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_reference_parameter_figures():
    assert n_params(BSConvU(64, 128, 3, bias=True)) == 9472
    s = BSConvS(64, 128, 3, p=0.25)
    assert s.pw1.out_channels == 16
    assert n_params(s) == 4352
    assert n_params(nn.Conv2d(64, 128, 3)) == 73856
    assert n_params(RegularConv(64, 128, 3)) == 73856


@pytest.mark.parametrize("name", bsnas.CONV_TYPES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [3, 5])
def test_conv_contract(name, stride, kernel):
    """Every conv type: same constructor, same output shape, closed-form params and FLOPs."""
    cin, cout, hw = 8, 12, 10
    conv = create_conv(name, cin, cout, kernel, stride, bias=False)
    out = conv(torch.randn(2, cin, hw, hw))
    ho = (hw - 1) // stride + 1
    assert out.shape == (2, cout, ho, ho)
    k2 = kernel * kernel
    mid = max(4, math.ceil(0.25 * cin))
    expected_params = {
        "regular": cout * cin * k2,
        "dsc": cin * k2 + cin * cout,
        "bsconv_u": cin * cout + cout * k2,
        "bsconv_s": cin * mid + mid * cout + cout * k2,
    }[name]
    assert n_params(conv) == expected_params
    expected_flops = {
        "regular": cout * cin * k2 * ho * ho,
        "dsc": cin * k2 * ho * ho + cin * cout * ho * ho,
        "bsconv_u": cin * cout * hw * hw + cout * k2 * ho * ho,
        "bsconv_s": (cin * mid + mid * cout) * hw * hw + cout * k2 * ho * ho,
    }[name]
    assert fvcore_flops(conv, (cin, hw, hw)) == expected_flops


def test_bias_and_stride_placement_follow_the_reference():
    u = BSConvU(4, 6, 3, stride=2, padding=1, dilation=1, bias=True, with_bn=True)
    assert [n for n, _ in u.named_children()] == ["pw", "bn", "dw"]
    assert u.pw.bias is None and u.dw.bias is not None
    assert u.pw.stride == (1, 1) and u.dw.stride == (2, 2) and u.dw.groups == 6
    s = BSConvS(16, 8, 5, stride=2, dilation=2, with_bn=True, p=0.5)
    assert [n for n, _ in s.named_children()] == ["pw1", "bn1", "pw2", "bn2", "dw"]
    assert s.dw.dilation == (2, 2) and s.dw.padding == (4, 4) and s.pw1.out_channels == 8
    d = DSConv(4, 6, 3, stride=2, with_bn=True, act="relu")
    assert [n for n, _ in d.named_children()] == ["dw", "bn", "act", "pw"]
    assert d.dw.stride == (2, 2) and d.pw.bias is not None and d.dw.bias is None


@pytest.mark.parametrize("cin,p,mid", [(64, 0.25, 16), (3, 0.25, 3), (10, 0.0, 4), (10, 1.0, 10), (33, 0.125, 5)])
def test_bsconv_s_mid_width(cin, p, mid):
    assert BSConvS(cin, 8, 3, p=p).pw1.out_channels == mid


def test_bsconv_s_rejects_p_outside_unit_interval():
    with pytest.raises(bsnas.BsnasError, match=r"0 <= p <= 1.*p=1.5"):
        BSConvS(8, 8, 3, p=1.5)


def test_unknown_conv_type_lists_the_valid_ones():
    with pytest.raises(bsnas.UnknownNameError, match="regular, dsc, bsconv_u, bsconv_s"):
        create_conv("depthwise", 4, 4, 3)
    with pytest.raises(bsnas.BsnasError, match="does not take"):
        create_conv("regular", 4, 4, 3, p=0.5)


def test_orthonormality_regulariser_is_frobenius_norm_not_squared():
    s = BSConvS(6, 4, 3, p=0.5)
    w = s.pw1.weight[:, :, 0, 0].detach()
    expected = torch.sqrt(((w @ w.T - torch.eye(w.shape[0])) ** 2).sum())
    assert torch.allclose(s.regularization_loss(), expected)
    with torch.no_grad():  # orthonormal rows give zero loss
        s.pw1.weight.copy_(torch.eye(6)[:4, :, None, None])
    assert s.regularization_loss().item() == pytest.approx(0.0, abs=1e-7)


def test_reg_loss_sums_over_modules_and_scales_by_alpha():
    model = nn.Sequential(BSConvS(8, 8, 3), nn.ReLU(), BSConvS(8, 8, 3), BSConvU(8, 8, 3))
    total = model[0].regularization_loss() + model[2].regularization_loss()
    assert torch.allclose(reg_loss(model, alpha=0.5), 0.5 * total)
    assert reg_loss(nn.Sequential(BSConvU(4, 4, 3))).item() == 0.0
    reg_loss(model).backward()
    assert model[0].pw1.weight.grad is not None


def test_replace_convs_keeps_geometry_and_reports_counts():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
        nn.Conv2d(16, 16, 5, padding=4, dilation=2),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise: kept
        nn.Conv2d(16, 32, 1),  # 1x1: not listed, kept
        nn.Conv2d(32, 32, 7, padding=3),  # 7x7: not listed, kept
    )
    x = torch.randn(1, 3, 16, 16)
    shape = model(x).shape
    before = n_params(model)
    result = replace_convs(model, kind="bsconv_u")
    assert result.model is model and result.replaced == 2
    assert result.params_before == before and result.params_after == n_params(model) < before
    assert isinstance(model[0], BSConvU) and isinstance(model[1], BSConvU)
    assert model[0].dw.stride == (2, 2) and model[0].dw.bias is None
    assert model[1].dw.dilation == (2, 2) and model[1].dw.padding == (4, 4) and model[1].dw.bias is not None
    assert type(model[2]) is nn.Conv2d and type(model[3]) is nn.Conv2d and type(model[4]) is nn.Conv2d
    assert model(x).shape == shape


def test_replace_convs_bsconv_s_nested_and_kernel_filter():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1)), nn.Conv2d(8, 8, 5, padding=2))
    result = replace_convs(model, kind="bsconv_s", kernel_sizes=(3,), p=0.5, with_bn=True)
    assert result.replaced == 1
    assert isinstance(model[0][0], BSConvS) and model[0][0].pw1.out_channels == 4 and hasattr(model[0][0], "bn1")
    assert reg_loss(model).item() > 0
    with pytest.raises(bsnas.BsnasError, match="kind must be"):
        replace_convs(model, kind="dsc")
